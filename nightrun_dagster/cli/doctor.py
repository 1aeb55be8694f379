"""`nightrun doctor`: templates, the queue, reachability, devices, a smoke render, job models and
nodes, OCR, disk."""

import argparse
import os
from pathlib import Path

from nightrun_dagster.cli.jobs import WORKFLOWS_DIR_HELP, intake_from
from nightrun_dagster.cli.user_input import existing_folder, folder_path, http_url
from nightrun_dagster.comfy.doctor import (
    SMOKE_TEMPLATE,
    SmokeGraph,
    run_doctor,
    smoke_unavailable,
)
from nightrun_dagster.intake.planned import first_variant_graph
from nightrun_dagster.intake.queue import review_queue
from nightrun_dagster.intake.validate import Intake
from nightrun_dagster.night.window import night_ahead
from nightrun_dagster.plan.probe import smoke_graph
from nightrun_dagster.store.paths import Tree, default_root
from nightrun_dagster.workflows.compat import check_graph
from nightrun_dagster.workflows.templates import TemplateRegistry

DEFAULT_URL = "http://127.0.0.1:8188"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--comfy-url",
        action="append",
        help=f"ComfyUI base URL (repeat for several GPUs; default $COMFYUI_URL or {DEFAULT_URL})",
    )
    p.add_argument("--root", type=folder_path, help="artifact root (queue and disk check)")
    p.add_argument("--assets-root", type=Path, help="where asset paths point")
    # A folder named by hand must be there; the default one missing is a check that fails.
    p.add_argument("--workflows-dir", type=existing_folder, help=WORKFLOWS_DIR_HELP)
    p.add_argument("--min-free-gb", type=float, default=50.0, help="disk free needed (GiB)")


def command(args: argparse.Namespace) -> int:
    if args.comfy_url:
        urls = [http_url("--comfy-url", u) for u in args.comfy_url]
    else:
        env = os.environ.get("COMFYUI_URL", DEFAULT_URL)
        urls = [http_url("$COMFYUI_URL", u.strip()) for u in env.split(",") if u.strip()]
    root = args.root or default_root()
    intake = intake_from(args)
    registry = intake.registry()
    queue = review_queue(Tree(root), intake)
    night = night_ahead()
    report = run_doctor(
        urls,
        root,
        args.min_free_gb,
        _smoke(intake, registry),
        registry,
        queue,
        lambda found: first_variant_graph(found, night),
        check_graph,
    )
    width = max(len(c.name) for c in report.checks)
    for c in report.checks:
        print(f"{'PASS' if c.ok else 'FAIL'}  {c.name.ljust(width)}  {c.detail}")
        for line in c.lines:
            print(f"      {' ' * width}  - {line}")
    failed = [c.name for c in report.checks if not c.ok]
    print("doctor: all checks passed" if not failed else f"doctor: failed: {', '.join(failed)}")
    return 0 if not failed else 1


def _smoke(intake: Intake, registry: TemplateRegistry) -> SmokeGraph:
    if SMOKE_TEMPLATE not in registry.templates:
        return smoke_unavailable(registry)
    try:
        return smoke_graph(intake)
    except KeyError as exc:  # a smoke_v1 whose metadata names no output node
        return f"{SMOKE_TEMPLATE} has no {exc.args[0]!r} role; it cannot be the smoke test"
