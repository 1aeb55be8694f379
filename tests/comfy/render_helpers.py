"""Helpers for render-loop tests: plan an example job small, render it on an emulator."""

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from nightrun_dagster.comfy.client import Timeouts
from nightrun_dagster.comfy.render_loop import RenderRun, RenderSettings
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import expand_job
from nightrun_dagster.intake.validate import Intake, ValidJob, validate_file
from nightrun_dagster.plan.inputs import graph_inputs, load_snapshot, snapshot_inputs
from nightrun_dagster.plan.variants import write_variants
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.workflows.apply import DEGRADE_LADDER, build_graph

REPO = Path(__file__).resolve().parents[2]
NIGHT = "2026-02-09"
FAST = Timeouts(connect=2, request=5, stall=3, poll=0.2, unavailable=3)
RUNGS = tuple(r.name for r in DEGRADE_LADDER)


def plan(
    tree: Tree,
    example: str,
    count: int,
    size: tuple[int, int] = (256, 320),
    frames: int | None = None,
) -> tuple[ValidJob, JobDir, list[str]]:
    """Queue an example job and plan `count` variants at a small size (fast emulator renders)."""
    src = shutil.copy(REPO / "job_specs" / example, tree.queue / example)
    intake = Intake(assets_root=tree.assets)
    found = validate_file(Path(src), intake)
    job_dir = tree.job(NIGHT, found.key)
    snapshot_inputs(found, tree.assets, job_dir)
    found = load_snapshot(job_dir, intake)
    expansion = expand_job(found.job, RunMode.exploration, NIGHT, count, found.template.defaults)
    write_variants(found, expansion, job_dir)
    for v in expansion.variants:
        path = job_dir.params(v.variant_id)
        doc = json.loads(path.read_bytes())
        doc["width"], doc["height"] = size
        if frames is not None:
            doc["frames"] = frames
        path.write_text(json.dumps(doc))
    return found, job_dir, [v.variant_id for v in expansion.variants]


def make_run(
    found: ValidJob, job_dir: JobDir, ids: list[str], url: str, **settings: Any
) -> RenderRun:
    timeouts = settings.pop("timeouts", FAST)
    hooks = {
        k: settings.pop(k)
        for k in ("guard", "gpu_probe", "on_notice", "on_progress", "turn", "on_turn")
        if k in settings
    }

    def build(params: dict[str, Any], rung: int, uploads: Any) -> dict[str, Any]:
        return build_graph(
            found.template, params, job=found.job, uploads=uploads, degrade=DEGRADE_LADDER[rung]
        )

    return RenderRun(
        job_dir,
        ids,
        [url],
        build,
        inputs=graph_inputs(found, job_dir),
        settings=RenderSettings(**{"degrade_rungs": RUNGS, **settings}),
        timeouts=timeouts,
        **hooks,
    )


def render(found: ValidJob, job_dir: JobDir, ids: list[str], url: str, **settings: Any) -> Any:
    return asyncio.run(make_run(found, job_dir, ids, url, **settings).run())
