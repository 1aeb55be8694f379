"""`nightrun doctor`: reachability, devices, a smoke render, job models and nodes, OCR, disk."""

import argparse
import os
from pathlib import Path

from nightrun_dagster.cli.jobs import intake_from
from nightrun_dagster.comfy.doctor import run_doctor
from nightrun_dagster.intake.queue import read_queue
from nightrun_dagster.ops.night import tonight
from nightrun_dagster.plan.probe import first_variant_graph, smoke_graph
from nightrun_dagster.store.paths import Tree, default_root
from nightrun_dagster.workflows.compat import check_graph

DEFAULT_URL = "http://127.0.0.1:8188"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--comfy-url",
        action="append",
        help=f"ComfyUI base URL (repeat for several GPUs; default $COMFYUI_URL or {DEFAULT_URL})",
    )
    p.add_argument("--root", type=Path, help="artifact root (queue and disk check)")
    p.add_argument("--assets-root", type=Path, help="where asset paths point")
    p.add_argument("--workflows-dir", type=Path, help="workflow templates folder")
    p.add_argument("--min-free-gb", type=float, default=50.0, help="disk free needed (GiB)")


def command(args: argparse.Namespace) -> int:
    urls = args.comfy_url or [
        u.strip() for u in os.environ.get("COMFYUI_URL", DEFAULT_URL).split(",") if u.strip()
    ]
    root = args.root or default_root()
    intake = intake_from(args)
    jobs = list(read_queue(Tree(root), intake).values())
    night = tonight()
    report = run_doctor(
        urls,
        root,
        args.min_free_gb,
        smoke_graph(intake),
        jobs,
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
