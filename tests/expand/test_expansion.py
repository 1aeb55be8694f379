"""Variant expansion: counts, the cap, coverage under the cap, reproducibility, run modes."""

import itertools
import json
from collections import Counter

import pytest

from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.expand.axes import build_axes, sweep_size
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.seeds import strategy_seeds
from nightrun_dagster.expand.variants import expand_job

NIGHT = "2026-02-09"
DEFAULTS = {"sampler": "dpmpp_2m_karras", "steps": 28, "cfg": 6.0, "denoise": 1.0}


def job(**variants) -> CreativeJob:
    seed_strategy = variants.pop("seed_strategy", {"mode": "sequence", "seed_start": 7, "count": 3})
    return CreativeJob.model_validate(
        {
            "job_id": "Expansion Test",
            "created_at": "2026-02-09T10:00:00",
            "product": {"sku": "S", "name": "Yerba", "brand": "Verde"},
            "goal": {"objective": "sales"},
            "platforms": [{"platform": "instagram", "format": "feed_4x5"}],
            "assets": {"product_images": ["p.png"]},
            "copy": {"headline": "H", "subheadline": "S"},
            "generation": {
                "workflow": {"template_id": "static_ad_v1", "workflow_path": "static_ad_v1.json"},
                "seed_strategy": seed_strategy,
                "variants": variants,
            },
        }
    )


def big_job() -> CreativeJob:
    return job(
        prompt_variants=[f"prompt {i}" for i in range(9)],
        negative_variants=["blurry", "text"],
        loras=[
            {"name": "style", "path": "style.safetensors", "weights": [0.4, 0.7, 1.0]},
            {"name": "light", "path": "light.safetensors", "weights": [0.5], "on_off": True},
            {
                "name": "always",
                "path": "always.safetensors",
                "weights": [0.8, 1.2],
                "on_off": False,
            },
        ],
        samplers=["dpmpp_2m_karras", "euler"],
        steps=[20, 28],
        cfg=[4.5, 6.0],
        denoise=[0.25, 0.35, 0.45],
        seed_strategy={"mode": "random", "count": 30},
    )


def test_full_product_when_under_cap_in_product_order() -> None:
    j = job(prompt_variants=["a", "b"], steps=[20, 28], cfg=[4.5, 6.0])
    e = expand_job(j, RunMode.exploration, NIGHT, 800, DEFAULTS)
    assert e.sweep_size == 2 * 2 * 2 * 3
    assert len(e.variants) == 24
    assert [v.variant_id for v in e.variants[:3]] == ["v0001", "v0002", "v0003"]
    combos = {(v.prompt, v.steps, v.cfg, v.seed) for v in e.variants}
    assert combos == set(itertools.product(["a", "b"], [20, 28], [4.5, 6.0], [7, 8, 9]))
    # seeds are the innermost axis: consecutive ids differ only in the seed
    assert [v.seed for v in e.variants[:3]] == [7, 8, 9]
    assert [v.index for v in e.variants] == sorted(v.index for v in e.variants)


def test_absent_axes_use_template_defaults() -> None:
    e = expand_job(job(), RunMode.exploration, NIGHT, 800, DEFAULTS)
    v = e.variants[0]
    assert (v.sampler, v.steps, v.cfg, v.denoise) == ("dpmpp_2m_karras", 28, 6.0, 1.0)
    assert "Yerba" in v.prompt and v.negative is None


def test_cap_keeps_every_prompt_and_lora_arm() -> None:
    j = big_job()
    e = expand_job(j, RunMode.exploration, NIGHT, 200, DEFAULTS)
    assert e.sweep_size == 9 * 2 * 4 * 2 * 2 * 2 * 2 * 2 * 3 * 30
    assert len(e.variants) == 200 and e.capped
    assert {v.prompt for v in e.variants} == {f"prompt {i}" for i in range(9)}
    for n, expected in enumerate([{None, 0.4, 0.7, 1.0}, {None, 0.5}, {0.8, 1.2}]):
        assert {v.loras[n].weight for v in e.variants} == expected
    assert {v.negative for v in e.variants} == {"blurry", "text"}
    assert len({v.index for v in e.variants}) == 200  # no duplicates


def test_down_selection_is_not_the_first_n_and_is_balanced() -> None:
    e = expand_job(big_job(), RunMode.exploration, NIGHT, 400, DEFAULTS)
    assert [v.index for v in e.variants] != list(range(400))
    per_prompt = Counter(v.prompt for v in e.variants)
    assert max(per_prompt.values()) - min(per_prompt.values()) <= 400 * 0.1
    # every value of the continuous axes is sampled, roughly evenly
    for attr, values in (("denoise", [0.25, 0.35, 0.45]), ("cfg", [4.5, 6.0])):
        counts = Counter(getattr(v, attr) for v in e.variants)
        assert set(counts) == set(values)
        assert min(counts.values()) >= 400 / len(values) * 0.7
    assert len({v.seed for v in e.variants}) >= 25


def test_identical_output_on_rerun() -> None:
    first = expand_job(big_job(), RunMode.exploration, NIGHT, 300, DEFAULTS)
    again = expand_job(big_job(), RunMode.exploration, NIGHT, 300, DEFAULTS)
    assert first.variants == again.variants
    dump = [json.dumps(v.as_dict(), sort_keys=True) for v in first.variants]
    assert dump == [json.dumps(v.as_dict(), sort_keys=True) for v in again.variants]


def test_random_seeds_differ_between_nights_but_not_reruns() -> None:
    strategy = big_job().generation.seed_strategy
    monday = strategy_seeds(strategy, "job", "2026-02-09")
    tuesday = strategy_seeds(strategy, "job", "2026-02-10")
    assert monday == strategy_seeds(strategy, "job", "2026-02-09")
    assert len(set(monday)) == 30 and not set(monday) & set(tuesday)
    assert all(0 <= s < 2**53 for s in monday + tuesday)
    e1 = expand_job(big_job(), RunMode.exploration, "2026-02-09", 100, DEFAULTS)
    e2 = expand_job(big_job(), RunMode.exploration, "2026-02-10", 100, DEFAULTS)
    assert {v.seed for v in e1.variants}.isdisjoint({v.seed for v in e2.variants})


def test_sequence_and_fixed_seeds_ignore_the_night() -> None:
    seq = job(seed_strategy={"mode": "sequence", "seed_start": 100, "count": 4})
    assert strategy_seeds(seq.generation.seed_strategy, "j", "a") == [100, 101, 102, 103]
    fixed = job(seed_strategy={"mode": "fixed", "seed": 42, "count": 5})
    assert strategy_seeds(fixed.generation.seed_strategy, "j", "a") == [42]


def test_exploitation_uses_hero_seeds_and_narrowest_ranges() -> None:
    e = expand_job(big_job(), RunMode.exploitation, NIGHT, 800, DEFAULTS)
    heroes = {v.seed for v in e.variants}
    assert len(heroes) == 3
    # hero seeds are the same every night
    other = expand_job(big_job(), RunMode.exploitation, "2026-02-13", 800, DEFAULTS)
    assert heroes == {v.seed for v in other.variants}
    assert {v.denoise for v in e.variants} == {0.35}
    assert {v.steps for v in e.variants} == {20}
    assert {v.sampler for v in e.variants} == {"dpmpp_2m_karras"}
    assert {v.loras[0].weight for v in e.variants} == {None, 0.7}
    assert {v.prompt for v in e.variants} == {f"prompt {i}" for i in range(9)}
    wide = expand_job(big_job(), RunMode.exploration, NIGHT, 10**6, DEFAULTS)
    assert len(e.variants) < len(wide.variants) / 50


def test_maintenance_has_no_variants() -> None:
    e = expand_job(big_job(), RunMode.maintenance, NIGHT, 800, DEFAULTS)
    assert e.variants == () and e.sweep_size == 0


@pytest.mark.parametrize("cap", [1, 9, 10, 37, 128])
def test_cap_is_exact_and_prompts_kept_when_possible(cap: int) -> None:
    e = expand_job(big_job(), RunMode.exploration, NIGHT, cap, DEFAULTS)
    assert len(e.variants) == cap
    if cap >= 9:
        assert len({v.prompt for v in e.variants}) == 9


def test_sweep_size_matches_axes() -> None:
    axes = build_axes(big_job(), RunMode.exploration, NIGHT, DEFAULTS)
    assert (
        sweep_size(axes)
        == expand_job(big_job(), RunMode.exploration, NIGHT, 1, DEFAULTS).sweep_size
    )
    assert [a.name for a in axes][:2] == ["prompt", "negative"]


def test_controlnet_arms_are_type_weight_pairs() -> None:
    j = job(
        controlnet=[{"type": "canny", "weights": [0.5, 0.9]}, {"type": "depth", "weights": [0.7]}]
    )
    e = expand_job(j, RunMode.exploration, NIGHT, 800, DEFAULTS)
    assert {(v.controlnet.type, v.controlnet.weight) for v in e.variants} == {
        ("canny", 0.5),
        ("canny", 0.9),
        ("depth", 0.7),
    }
    assert len(e.variants) == 3 * 3
