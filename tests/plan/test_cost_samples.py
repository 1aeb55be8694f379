"""The scanner and `learn_costs` on trees written through store/: which renders count, the
lookback, warm-up priors, and the checked-in old night."""

from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.plan.cost_model import CostSource, render_units
from nightrun_dagster.plan.cost_samples import cost_samples, learn_costs, past_nights
from nightrun_dagster.store.cost_docs import read_cost_model, write_cost_model
from nightrun_dagster.store.night_records import WarmupReport, write_warmup
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.store.variant_docs import VariantParams, write_params
from nightrun_dagster.workflows.templates import Template

OLD_NIGHT = Path(__file__).resolve().parents[1] / "data" / "old_night"
EP = "http://gpu:8188"


def template(tid: str, estimated: str | None, **defaults: Any) -> Template:
    meta = {"version": "1.0.0", "defaults": defaults, "estimated_time": estimated}
    return Template(tid, Path(f"{tid}.json"), "0" * 64, meta)


TEMPLATES = {
    "img": template("img", "20-35 s", width=1024, height=1024, steps=20),
    "vid": template("vid", None, width=832, height=480, steps=30, frames=49),
}


def put(
    tree: Tree,
    night: str,
    job: str,
    vid: str,
    render: dict[str, Any] | None,
    tid: str = "img",
    **shape: Any,
) -> None:
    data: dict[str, Any] = {
        "night": night,
        "job_key": job,
        "variant_id": vid,
        "template": {"id": tid, "version": "1.0.0"},
        "width": 1024,
        "height": 1024,
        "steps": 20,
        "frames": None,
        "loras": [],
        "controlnet": None,
        **shape,
    }
    if render is not None:
        data["render"] = render
    write_params(tree.job(night, job).variant_dir(vid), VariantParams.model_validate(data))


def ok(seconds: float | None, **extra: Any) -> dict[str, Any]:
    return {"status": "ok", "server_s": seconds, "endpoint": EP, "degrade_level": 0, **extra}


def test_only_good_full_quality_renders_count(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    night = "2026-02-01"
    put(tree, night, "j", "v0001", ok(10.0), steps=40)
    put(tree, night, "j", "v0002", ok(4.0, degrade_level=2))  # degraded: cheaper on purpose
    put(tree, night, "j", "v0003", {"status": "failed", "endpoint": EP, "server_s": 3.0})
    put(tree, night, "j", "v0004", ok(None))  # no server time recorded
    put(tree, night, "j", "v0005", ok(0.0))
    put(tree, night, "j", "v0006", None)  # planned, not rendered
    put(tree, night, "j", "v0007", {"status": "ok", "server_s": 6.0, "endpoint": EP})
    damaged = tree.job(night, "j").variant_dir("v0008").params
    damaged.parent.mkdir(parents=True)
    damaged.write_text("{not json")
    samples = cost_samples(tree, before_night="2026-02-02")
    assert [(s.seconds, s.units, s.endpoint, s.night) for s in samples] == [
        (10.0, 2.0, EP, night),
        (6.0, 1.0, EP, night),
    ]


def test_cold_render_known_only_from_an_empty_cached_list(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    night = "2026-02-01"
    put(tree, night, "j", "v0001", ok(30.0, cached_nodes=[]))  # loaded every model
    put(tree, night, "j", "v0002", ok(10.0, cached_nodes=["1", "4"]))
    put(tree, night, "j", "v0003", ok(11.0))  # the server said nothing of its cache
    samples = cost_samples(tree, before_night="2026-02-02")
    assert [(s.seconds, s.cold) for s in samples] == [(30.0, True), (10.0, False), (11.0, False)]
    [entry] = learn_costs(tree, TEMPLATES, before_night="2026-02-02").entries
    assert entry.cold == 1 and entry.per_unit_s == pytest.approx(10.5)


def test_lookback_counts_nights_before_the_night(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    for day in ("2026-02-01", "2026-02-03", "2026-02-05", "2026-02-07"):
        put(tree, day, "j", "v0001", ok(5.0))
    (tmp_path / "runs" / "notes").mkdir()
    assert past_nights(tree, "2026-02-07", 2) == ["2026-02-03", "2026-02-05"]
    assert past_nights(tree, None, 7) == ["2026-02-01", "2026-02-03", "2026-02-05", "2026-02-07"]
    assert [s.night for s in cost_samples(tree, "2026-02-06", 2)] == ["2026-02-03", "2026-02-05"]
    assert cost_samples(tree, "2026-02-01") == []


def test_learn_costs_fits_and_adds_priors(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    for i, steps in enumerate((20, 40, 60)):
        put(tree, "2026-02-01", "j", f"v000{i + 1}", ok(1.0 + 5.0 * steps / 20), steps=steps)
    # The warm-up preloaded the video job: its prior comes from that render.
    put(tree, "2026-02-01", "reel", "v0001", None, tid="vid", width=832, height=480, steps=30)
    servers = [{"endpoint": EP, "preload": {"ok": True, "job": "reel", "seconds": 120.0}}]
    write_warmup(tree.night_dir("2026-02-01"), WarmupReport(night="2026-02-01", servers=servers))
    doc = learn_costs(tree, TEMPLATES, before_night="2026-02-02")
    [entry] = doc.entries
    assert (entry.template_id, entry.endpoint) == ("img", EP)
    assert entry.intercept_s == pytest.approx(1.0) and entry.per_unit_s == pytest.approx(5.0)
    assert doc.nights == ["2026-02-01"]
    priors = {p.template_id: p for p in doc.priors}
    assert priors["img"].source == CostSource.METADATA
    assert priors["vid"].source == CostSource.WARMUP
    assert priors["vid"].seconds_at_default == 120.0
    units = render_units({"width": 832, "height": 480, "steps": 30, "frames": 49})
    assert priors["vid"].per_unit_s == pytest.approx(120.0 / units)
    # Written through store/, read back equal.
    write_cost_model(tree, doc)
    assert read_cost_model(tree) == doc


def test_empty_tree_every_template_on_its_prior(tmp_path: Path) -> None:
    doc = learn_costs(Tree(tmp_path), TEMPLATES, before_night="2026-02-02")
    assert doc.entries == [] and doc.nights == []
    assert {p.template_id: p.source for p in doc.priors} == {
        "img": CostSource.METADATA,
        "vid": CostSource.DEFAULT,
    }


def test_old_night_renders_are_samples() -> None:
    samples = cost_samples(Tree(OLD_NIGHT), before_night="2026-11-29")
    assert sorted((s.template_id, s.seconds) for s in samples) == [
        ("static_ad_v1", 0.189),
        ("ui_anchored_v1", 0.316),
        ("wan21_teaser_v1", 0.449),
    ]
    static = next(s for s in samples if s.template_id == "static_ad_v1")
    assert static.units == pytest.approx(1024 * 1280 * 20 / (1024 * 1024 * 20))
    assert {s.endpoint for s in samples} == {"http://127.0.0.1:41045"}
    assert cost_samples(Tree(OLD_NIGHT), before_night="2026-11-28") == []
