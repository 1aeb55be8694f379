"""A job's share of its slice when its run takes the GPU: in proportion to the work each job
still has, at tonight's measured costs, so a slow job never starves the ones after it."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nightrun_dagster.night.shares import time_share
from nightrun_dagster.store.night_plan import NightPlan, PlannedJob, write_night_plan
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.variant_docs import (
    ComfyHistory,
    VariantParams,
    write_comfy_history,
    write_params,
)
from nightrun_dagster.store.variants_index import VariantsIndex, write_variants_index

NIGHT = "2026-02-09"
NOW = datetime(2026, 2, 10, 2, 0, tzinfo=UTC)


def planned(tree: Tree, basis: str = "time", reserve: int = 0) -> NightPlan:
    """Three image jobs of 10 renders at 10 s each (300 s of work), A first."""
    jobs = [
        PlannedJob(key=k, priority=p, kind="image", budget=10, demand=50, seconds_per_render=10.0)
        for k, p in (("a", 90), ("b", 50), ("c", 10))
    ]
    plan = NightPlan(night=NIGHT, mode="exploration", basis=basis, jobs=jobs)
    write_night_plan(tree.night_dir(NIGHT), plan)
    for j in jobs:
        ids = [f"v{n:04d}" for n in range(1, 11 + reserve)]
        write_variants_index(
            tree.job(NIGHT, j.key),
            VariantsIndex(variants=ids, count=len(ids), reserve=ids[10:]),
        )
    return plan


def rendered(job_dir: JobDir, variant_id: str, server_s: float) -> None:
    variant = job_dir.variant_dir(variant_id)
    out = variant.path / "out" / "img.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"png")
    render = {
        "status": "ok",
        "server_s": server_s,
        "outputs": [{"file": "out/img.png", "bytes": 3, "kind": "image"}],
    }
    write_params(
        variant, VariantParams.model_validate({"variant_id": variant_id, "render": render})
    )
    write_comfy_history(variant, ComfyHistory.of("p", {}))


def test_on_time_each_job_gets_what_it_planned(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    plan = planned(tree)
    share = time_share(tree, NIGHT, plan, "a", NOW, NOW + timedelta(seconds=300))
    assert share.until == NOW + timedelta(seconds=100)
    assert (share.own_s, share.later_s) == (100.0, 200.0)


def test_a_slower_night_shrinks_every_share_alike(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    plan = planned(tree)
    # Half the planned time is left: A gets half its time, so B and C keep half of theirs.
    share = time_share(tree, NIGHT, plan, "a", NOW, NOW + timedelta(seconds=150))
    assert share.until == NOW + timedelta(seconds=50)


def test_a_slow_first_job_does_not_starve_the_last(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    plan = planned(tree)
    # A renders at 20 s (twice the plan) and its share ran out after 3 renders …
    for n in range(1, 4):
        rendered(tree.job(NIGHT, "a"), f"v{n:04d}", 20.0)
    end = NOW + timedelta(seconds=240)
    b = time_share(tree, NIGHT, plan, "b", NOW, end)
    # … B and C are not measured yet: they are counted as slow as the night so far (20 s).
    assert b.cost == pytest.approx(20.0) and not b.measured
    assert b.until == NOW + timedelta(seconds=120)  # half of what is left: C keeps the rest
    c = time_share(tree, NIGHT, plan, "c", NOW + timedelta(seconds=120), end)
    assert c.until is None  # the last job runs to the slice's end


def test_measured_costs_weigh_the_shares(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    plan = planned(tree)
    for n in range(1, 4):
        rendered(tree.job(NIGHT, "a"), f"v{n:04d}", 20.0)
    share = time_share(tree, NIGHT, plan, "a", NOW, NOW + timedelta(seconds=540))
    # A: 7 left at its measured 20 s = 140 s; B and C: 10 each at 20 s (the night's pace).
    assert share.measured and share.own_s == pytest.approx(140.0)
    assert share.later_s == pytest.approx(400.0)
    assert share.until == NOW + timedelta(seconds=140)


def test_a_faster_night_gives_each_job_more_than_it_needs(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    plan = planned(tree, reserve=5)
    share = time_share(tree, NIGHT, plan, "a", NOW, NOW + timedelta(seconds=600))
    # Reserve variants are not promised work: A's share is counted on its 10 planned ones.
    assert share.own_s == 100.0
    assert share.until == NOW + timedelta(seconds=200)  # twice its work: time for its reserve


def test_a_count_plan_has_no_time_shares(tmp_path: Path) -> None:
    tree = Tree(tmp_path)
    plan = planned(tree, basis="count")
    assert time_share(tree, NIGHT, plan, "a", NOW, NOW + timedelta(seconds=300)) is None
