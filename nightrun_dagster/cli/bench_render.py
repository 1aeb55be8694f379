"""`nightrun bench render`: GPU duty cycle of the render loop against the emulator."""

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from nightrun_dagster.cli.bench import bench_workspace, machine
from nightrun_dagster.comfy.render_loop import RenderRun, RenderSettings
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import expand_job
from nightrun_dagster.plan.variants import write_variants
from nightrun_dagster.workflows.apply import DEGRADE_LADDER, build_graph


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompts", type=int, default=200, help="prompts per configuration")
    p.add_argument(
        "--render-ms",
        type=int,
        nargs="+",
        default=[2000, 250],
        help="emulated render times to measure (default 2000 250)",
    )
    p.add_argument("--queue-ahead", type=int, default=2, help="the default configuration")
    p.add_argument("--width", type=int, default=768, help="image width sent to the emulator")
    p.add_argument("--height", type=int, default=960, help="image height sent to the emulator")
    p.add_argument("--json", action="store_true")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_emulator(port: int, out_dir: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "nightrun_dagster.cli.main",
        "comfy-sim",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--output-dir",
        str(out_dir),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/system_stats", timeout=1).raise_for_status()
            return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise RuntimeError("the emulator exited at start-up") from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the emulator did not answer within 60 s")


def plan_bench_variants(work: Path, prompts: int, width: int, height: int) -> tuple[Any, Any]:
    tree, found = bench_workspace(work, prompts)
    defaults = {**found.template.defaults, "width": width, "height": height}
    expansion = expand_job(found.job, RunMode.exploration, "2026-02-09", prompts, defaults)
    job_dir = tree.job("2026-02-09", found.key)
    write_variants(found, expansion, job_dir)
    # The bench renders at its own size: patch params before rendering, as a planner would.
    for v in expansion.variants:
        p = job_dir.params(v.variant_id)
        doc = json.loads(p.read_bytes())
        doc["width"], doc["height"] = width, height
        p.write_text(json.dumps(doc))
    return found, (job_dir, [v.variant_id for v in expansion.variants])


def measure(url: str, prompts: int, queue_ahead: int, width: int, height: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="nightrun-bench-render-"))
    try:
        found, (job_dir, ids) = plan_bench_variants(work, prompts, width, height)

        def build(params: dict[str, Any], rung: int, uploads: Any) -> dict[str, Any]:
            return build_graph(
                found.template, params, job=found.job, uploads=uploads, degrade=DEGRADE_LADDER[rung]
            )

        run = RenderRun(
            job_dir, ids, [url], build, settings=RenderSettings(queue_ahead=queue_ahead)
        )
        report = asyncio.run(run.run())
        if report.rendered != prompts:
            raise RuntimeError(f"only {report.rendered}/{prompts} rendered: {report.failed}")
        return {
            "queue_ahead": queue_ahead,
            "prompts": report.rendered,
            "server_render_s": round(report.server_seconds, 3),
            "wall_s": round(report.wall_seconds, 3),
            "duty_cycle": round(report.duty_cycle or 0.0, 4),
            "mean_latency_s": round(report.mean_latency or 0.0, 3),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def command(args: argparse.Namespace) -> int:
    port = _free_port()
    out_dir = Path(tempfile.mkdtemp(prefix="nightrun-bench-sim-"))
    proc = start_emulator(port, out_dir)
    url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        for render_ms in args.render_ms:
            httpx.post(f"{url}/emulator/faults", json={"render_ms": render_ms}, timeout=5)
            for qa in dict.fromkeys([args.queue_ahead, 0]):
                row = {
                    "render_ms": render_ms,
                    **measure(url, args.prompts, qa, args.width, args.height),
                }
                rows.append(row)
                if not args.json:
                    print(
                        f"render {render_ms:>5} ms  queue-ahead {qa}  duty {row['duty_cycle']:.3f}"
                        f"  ({row['server_render_s']:.1f} s GPU / {row['wall_s']:.1f} s wall)",
                        flush=True,
                    )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(out_dir, ignore_errors=True)
    result = {
        "bench": "render",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "image": f"{args.width}x{args.height}",
        "results": rows,
    }
    if args.json:
        print(json.dumps(result))
    return 0
