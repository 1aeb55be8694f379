"""Arms (template × prompt family × LoRA set) and expansion that follows per-arm budgets."""

import math
from collections import Counter

import pytest

from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.expand.arms import (
    apportion,
    arm_capacity,
    arm_key,
    covering_order,
    params_arm_key,
    prompt_family,
    sweep_arms,
)
from nightrun_dagster.expand.axes import build_axes
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import ArmMismatch, expand_job

NIGHT = "2026-02-09"
DEFAULTS = {"sampler": "dpmpp_2m_karras", "steps": 28, "cfg": 6.0, "denoise": 1.0}
TEMPLATE = "static_ad_v1"


def job(prompts: list[str] | None = None) -> CreativeJob:
    return CreativeJob.model_validate(
        {
            "job_id": "Arms Test",
            "created_at": "2026-02-09T10:00:00",
            "product": {"sku": "S", "name": "Yerba", "brand": "Verde"},
            "goal": {"objective": "sales"},
            "platforms": [{"platform": "instagram", "format": "feed_4x5"}],
            "assets": {"product_images": ["p.png"]},
            "copy": {"headline": "H", "subheadline": "S"},
            "generation": {
                "workflow": {"template_id": TEMPLATE, "workflow_path": "static_ad_v1.json"},
                "seed_strategy": {"mode": "sequence", "seed_start": 1, "count": 10},
                "variants": {
                    "prompt_variants": prompts or ["studio", "lifestyle", "flat-lay"],
                    "negative_variants": ["blurry", "text"],
                    "loras": [{"name": "style", "path": "style.safetensors", "weights": [0.5, 1]}],
                    "samplers": ["euler", "dpmpp_2m_karras"],
                    "cfg": [4.5, 6.0],
                },
            },
        }
    )


def arm_of(v) -> str:
    return arm_key(TEMPLATE, v.prompt, v.loras)


def test_arms_are_prompt_times_lora_set_and_partition_the_sweep() -> None:
    axes = build_axes(job(), RunMode.exploration, NIGHT, DEFAULTS)
    arms = sweep_arms(axes, TEMPLATE)
    assert len(arms) == 3 * 3  # 3 prompts × (off, 0.5, 1.0)
    assert len({a.key for a in arms}) == 9
    assert arms[0].label == "p1 style-off" and arms[1].label == "p1 style@0.5"
    assert arms[0].key == f"{TEMPLATE}/{prompt_family('studio')}/style-off"
    full = expand_job(job(), RunMode.exploration, NIGHT, 10**6, DEFAULTS)
    assert len(arms) * arm_capacity(axes) == full.sweep_size == len(full.variants)
    assert set(Counter(arm_of(v) for v in full.variants).values()) == {arm_capacity(axes)}


def test_prompt_family_follows_the_text_not_the_position() -> None:
    a = sweep_arms(build_axes(job(["x", "y"]), RunMode.exploration, NIGHT, DEFAULTS), TEMPLATE)
    b = sweep_arms(build_axes(job(["y", "x"]), RunMode.exploration, NIGHT, DEFAULTS), TEMPLATE)
    assert {arm.key for arm in a} == {arm.key for arm in b}
    edited = job(["x", "y edited"])
    c = sweep_arms(build_axes(edited, RunMode.exploration, NIGHT, DEFAULTS), TEMPLATE)
    assert len({arm.key for arm in a} & {arm.key for arm in c}) == 3  # only "x" arms carry over


def test_variants_follow_the_per_arm_budgets() -> None:
    axes = build_axes(job(), RunMode.exploration, NIGHT, DEFAULTS)
    arms = sweep_arms(axes, TEMPLATE)
    budgets = {a.key: 3 for a in arms}
    budgets[arms[4].key] = 40  # the arm the bandit favours
    cap = sum(budgets.values())
    e = expand_job(job(), RunMode.exploration, NIGHT, cap, DEFAULTS, arm_budgets=budgets)
    assert e.capped and len(e.variants) == cap
    assert Counter(arm_of(v) for v in e.variants) == budgets
    assert len({v.index for v in e.variants}) == cap
    assert [v.index for v in e.variants] == sorted(v.index for v in e.variants)
    assert [v.variant_id for v in e.variants[:2]] == ["v0001", "v0002"]
    assert "per-arm" in e.selection and dict(e.arm_budgets) == budgets
    # Inside the favoured arm the covering rows still give every negative and sampler.
    favoured = [v for v in e.variants if arm_of(v) == arms[4].key]
    assert {v.negative for v in favoured} == {"blurry", "text"}
    assert {v.sampler for v in favoured} == {"euler", "dpmpp_2m_karras"}
    again = expand_job(job(), RunMode.exploration, NIGHT, cap, DEFAULTS, arm_budgets=budgets)
    assert again.variants == e.variants


def test_budgets_for_another_cap_keep_their_proportions() -> None:
    arms = sweep_arms(build_axes(job(), RunMode.exploration, NIGHT, DEFAULTS), TEMPLATE)
    budgets = {a.key: (90 if i == 0 else 10) for i, a in enumerate(arms)}  # sums to 170
    e = expand_job(job(), RunMode.exploration, NIGHT, 85, DEFAULTS, arm_budgets=budgets)
    counts = Counter(arm_of(v) for v in e.variants)
    assert len(e.variants) == 85
    assert counts[arms[0].key] == 45 and all(counts[a.key] == 5 for a in arms[1:])


def test_budgets_are_ignored_when_the_sweep_fits_and_must_name_the_sweeps_arms() -> None:
    arms = sweep_arms(build_axes(job(), RunMode.exploration, NIGHT, DEFAULTS), TEMPLATE)
    budgets = {a.key: 1 for a in arms}
    fits = expand_job(job(), RunMode.exploration, NIGHT, 10**6, DEFAULTS, arm_budgets=budgets)
    assert len(fits.variants) == fits.sweep_size and fits.selection == "full product"
    with pytest.raises(ArmMismatch, match="unknown"):
        expand_job(
            job(), RunMode.exploration, NIGHT, 9, DEFAULTS, arm_budgets={**budgets, "other": 1}
        )


def test_params_arm_key_matches_the_variant() -> None:
    e = expand_job(job(), RunMode.exploration, NIGHT, 50, DEFAULTS)
    for v in e.variants:
        params = {**v.as_dict(), "template": {"id": TEMPLATE}}
        assert params_arm_key(params) == arm_of(v)
    assert params_arm_key({"prompt": "x"}) is None


@pytest.mark.parametrize(
    ("total", "weights", "caps"),
    [
        (100, [0.5, 0.3, 0.2], [100, 100, 100]),
        (100, [0.9, 0.05, 0.05], [30, 100, 100]),
        (7, [1, 1, 1], [5, 5, 5]),
        (50, [0, 0, 1], [10, 10, 10]),
        (10, [1, 2, 3, 4], [1, 1, 1, 1]),
    ],
)
def test_apportion_sums_respects_caps_and_floors(total, weights, caps) -> None:
    parts = apportion(total, weights, caps)
    assert sum(parts) == min(total, sum(caps))
    assert all(0 <= p <= c for p, c in zip(parts, caps, strict=True))
    mass = sum(weights)
    for p, w, c in zip(parts, weights, caps, strict=True):
        assert p >= min(c, math.floor(total * w / mass))


def test_covering_order_spreads_prompts_and_loras() -> None:
    axes = build_axes(job(), RunMode.exploration, NIGHT, DEFAULTS)
    arms = sweep_arms(axes, TEMPLATE)
    order = covering_order(arms)
    assert sorted(a.key for a in order) == sorted(a.key for a in arms)
    # 3 prompts × 3 LoRA states: every run of three covers all of both (a Latin square).
    for start in range(0, 9, 3):
        run = order[start : start + 3]
        assert {a.digits[0] for a in run} == {0, 1, 2}
        assert {a.digits[1] for a in run} == {0, 1, 2}
    assert covering_order([]) == []
