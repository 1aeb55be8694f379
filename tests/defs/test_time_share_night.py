"""A night on the schedules' own requests, compressed: the jobs render fifty times slower than the
plan thought, and on a time plan the last job still gets its share (on a count plan the first
job takes the night)."""

import json
import time
from datetime import time as clock
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from nightrun_dagster.definitions import build_defs
from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.breakers import BreakersResource
from nightrun_dagster.defs.partitions import night_job_key
from nightrun_dagster.defs.resources import ComfyUIResource, NightrunResource, TelegramResource
from nightrun_dagster.defs.schedules import window_schedule
from nightrun_dagster.night import time_scale
from nightrun_dagster.night.window import at, window
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.store.variant_state import is_complete
from nightrun_dagster.store.variants_index import read_variants_index

REPO = Path(__file__).resolve().parents[2]
NIGHT = "2026-02-09"  # a Monday: exploration
WALL_S = 30.0  # the 9-hour window on the wall
RENDER_MS = 100  # a smoke render on the wall: 108 s of the night, where its template says < 2 s
SMOKE = REPO / "tests" / "data" / "jobs" / "valid" / "smoke_minimal.json"
FIRST, MIDDLE, LAST = "first", "middle", "last"


def queue_jobs(tree: Tree) -> None:
    """Three jobs of 800 variants each (800 seeds), priority 90, 50 and 10."""
    for key, priority in ((FIRST, 90), (MIDDLE, 50), (LAST, 10)):
        job = json.loads(SMOKE.read_text())
        job.update(job_id=key, priority=priority)
        job["generation"]["seed_strategy"] = {"mode": "random", "count": 800}
        (tree.queue / f"{key}.json").write_text(json.dumps(job))


def compress(monkeypatch: pytest.MonkeyPatch) -> time_scale.TimeScale:
    """Start the night's clock at 22:45, running the window in WALL_S seconds."""
    start, end = window(NIGHT)
    factor = (end - start).total_seconds() / WALL_S
    scale = time_scale.TimeScale(factor, at(NIGHT, clock(22, 45)), time.time())
    monkeypatch.setenv(time_scale.ENV, scale.to_env())
    return scale


def play_window(
    tree: Tree, basis: str, monkeypatch: pytest.MonkeyPatch, emulator_factory
) -> dict[str, tuple[int, int]]:
    """Plan the night, tick the window schedule at 22:50, write every job's variants, then start
    the night's clock and run each request's renders in the schedule's order, one after the
    other as the GPU turn has them; job key -> (renders done, budget)."""
    nightrun = NightrunResource(root=str(tree.root), plan_basis=basis, queue_settle_seconds=0)
    repo = build_defs(tree.root).get_repository_def()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("job", [FIRST, MIDDLE, LAST])
        planned = dg.materialize(
            [night_plan], instance=instance, partition_key=NIGHT, resources={"nightrun": nightrun}
        )
        assert planned.success
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=at(NIGHT, clock(22, 50)),
            resources={"nightrun": nightrun},
            repository_def=repo,
        ) as context:
            requests = window_schedule.evaluate_tick(context).run_requests or []
        assert [r.partition_key for r in requests] == [
            night_job_key(NIGHT, k) for k in (FIRST, MIDDLE, LAST)
        ]
        for request in requests:
            prepared = dg.materialize(
                [job_spec, variants],
                instance=instance,
                partition_key=request.partition_key,
                resources={"nightrun": nightrun},
            )
            assert prepared.success
        server = emulator_factory(render_ms=RENDER_MS, time_scale=compress(monkeypatch))
        resources = {
            "nightrun": nightrun,
            "comfyui": ComfyUIResource(urls=server.url, poll_s=0.05),
            "breakers": BreakersResource(),
            "telegram": TelegramResource(),
        }
        for request in requests:
            ours = {k: v for k, v in request.tags.items() if k.startswith("nightrun/")}
            rendered = dg.materialize(
                [renders],
                instance=instance,
                partition_key=request.partition_key,
                resources=resources,
                tags=ours,
            )
            assert rendered.success
    plan = json.loads(tree.night_plan(NIGHT).read_bytes())
    done = {}
    for entry in plan["jobs"]:
        job_dir = tree.job(NIGHT, entry["key"])
        ids = read_variants_index(job_dir).variants
        done[entry["key"]] = (sum(is_complete(job_dir, v) for v in ids), entry["budget"])
    return done


def test_a_slow_first_job_does_not_starve_the_last(
    tmp_path: Path, emulator_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = {}
    for basis in ("count", "time"):
        tree = Tree(tmp_path / basis)
        tree.assets.mkdir(parents=True)
        Image.new("RGB", (8, 8), "white").save(tree.assets / "product.png")
        tree.queue.mkdir(parents=True)
        queue_jobs(tree)
        results[basis] = play_window(tree, basis, monkeypatch, emulator_factory)
    # Blind to time, the count plan lets the first job take the night: the others get nothing.
    assert results["count"][FIRST][0] > 0
    assert results["count"][MIDDLE][0] == results["count"][LAST][0] == 0
    time_plan = results["time"]
    assert all(done > 0 for done, _ in time_plan.values()), time_plan
    ratios = {k: done / budget for k, (done, budget) in time_plan.items()}
    # Every job's share shrank alike (each run's start, a second of the wall, costs the jobs
    # after it some twenty minutes of this compressed night: hence the margin).
    assert ratios[LAST] >= 0.4 * ratios[FIRST], ratios
    assert ratios[MIDDLE] >= 0.6 * ratios[FIRST], ratios
