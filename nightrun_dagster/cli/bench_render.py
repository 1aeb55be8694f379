"""`nightrun bench render`: the render loop's GPU duty cycle, queue-ahead default vs 0, on a
ComfyUI given by `--comfy-url` or on the emulator it starts itself, with a model-free graph."""

import argparse
import asyncio
import itertools
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from nightrun_dagster.cli.bench import bench_workspace, machine
from nightrun_dagster.comfy.client import ComfyClient, Timeouts
from nightrun_dagster.comfy.duty import (
    COLORS,
    BenchInputError,
    Load,
    ServerLacksNodes,
    blur_graph,
    check_server,
    describe_graph,
    duty_of,
    execution_of,
    parse_load,
)
from nightrun_dagster.comfy.errors import ComfyError
from nightrun_dagster.comfy.render_loop import (
    JobBlocked,
    RenderRun,
    RenderSettings,
    RenderUnavailable,
)
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import expand_job
from nightrun_dagster.plan.variants import write_variants
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.variant_docs import read_comfy_history

EXIT_FAILED = 1  # the server could not be reached, lacks a node, or a render failed
EXIT_BAD_ARGUMENT = 2  # argparse's code for a bad argument
EMULATOR_RENDER_MS = [2000, 250]
# The server is checked first, so a bench that loses it mid-run gives up soon.
BENCH_SETTINGS = RenderSettings(unavailable_timeout=15.0, outage_patience=30.0)
CHECK_TIMEOUTS = Timeouts(connect=5.0, request=30.0)


class BenchFailed(Exception):
    """The server went away or a render failed: the figures would be wrong."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--comfy-url",
        help="your ComfyUI (http://HOST:8188); without it the bench starts the emulator",
    )
    p.add_argument(
        "--load",
        nargs="+",
        default=["1024"],
        metavar="SIZE",
        help="blurred image size(s), e.g. 1024 or 2048x1024: sets the render time (default 1024)",
    )
    p.add_argument("--prompts", type=int, default=200, help="prompts per configuration")
    p.add_argument(
        "--render-ms",
        type=int,
        nargs="+",
        help="emulator only: its render times to measure (default 2000 250)",
    )
    p.add_argument("--queue-ahead", type=int, default=2, help="the default configuration")
    p.add_argument("--width", type=int, default=768, help="output image width")
    p.add_argument("--height", type=int, default=960, help="output image height")
    p.add_argument("--json", action="store_true")


@dataclass(frozen=True)
class Plan:
    loads: list[Load]
    prompts: int
    queue_aheads: list[int]
    width: int
    height: int


def plan_of(args: argparse.Namespace) -> Plan:
    """The options checked; BenchInputError names the first bad one."""
    loads = [parse_load(text) for text in args.load]
    if args.prompts < 2:
        raise BenchInputError(f"--prompts {args.prompts}: at least 2 (a gap needs two prompts)")
    if args.queue_ahead < 0:
        raise BenchInputError(f"--queue-ahead {args.queue_ahead}: must be 0 or more")
    for name in ("width", "height"):
        if getattr(args, name) < 1:
            raise BenchInputError(f"--{name} {getattr(args, name)}: must be at least 1")
    if args.comfy_url:
        if not args.comfy_url.startswith(("http://", "https://")):
            raise BenchInputError(
                f"--comfy-url {args.comfy_url}: give the whole URL, like http://{args.comfy_url}"
            )
        if args.render_ms:
            raise BenchInputError(
                "--render-ms sets the emulator's render time; with --comfy-url use --load"
            )
    elif any(ms < 0 for ms in args.render_ms or []):
        raise BenchInputError("--render-ms: times must be 0 or more")
    queue_aheads = list(dict.fromkeys([args.queue_ahead, 0]))
    return Plan(loads, args.prompts, queue_aheads, args.width, args.height)


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
                raise BenchFailed("the emulator exited at start-up") from None
            time.sleep(0.2)
    proc.kill()
    raise BenchFailed("the emulator did not answer within 60 s")


def plan_bench_variants(work: Path, prompts: int) -> tuple[JobDir, list[str]]:
    """A planned job of `prompts` variants for the render loop to work through."""
    tree, found = bench_workspace(work, prompts)
    expansion = expand_job(
        found.job, RunMode.exploration, "2026-02-09", prompts, found.template.defaults
    )
    job_dir = tree.job("2026-02-09", found.key)
    write_variants(found, expansion, job_dir)
    return job_dir, [v.variant_id for v in expansion.variants]


async def _check(url: str, plan: Plan) -> dict[str, Any]:
    async with ComfyClient(url, timeouts=CHECK_TIMEOUTS) as client:
        try:
            return await check_server(client, plan.loads, plan.width, plan.height)
        except ComfyError as exc:
            raise BenchFailed(f"--comfy-url {url}: cannot use this ComfyUI: {exc}") from exc


def measure(url: str, plan: Plan, load: Load, queue_ahead: int) -> dict[str, Any]:
    """One configuration through the real render loop; the figures come from each prompt's
    `/history` status messages as harvested into the variant's folder."""
    work = Path(tempfile.mkdtemp(prefix="nightrun-bench-render-"))
    try:
        job_dir, ids = plan_bench_variants(work, plan.prompts)
        # A fresh colour per prompt (and per run) so no prompt is served from the cache.
        colors = itertools.count(random.randrange(COLORS))

        def build(params: dict[str, Any], rung: int, uploads: Any) -> dict[str, Any]:
            return blur_graph(load, plan.width, plan.height, next(colors))

        settings = replace(BENCH_SETTINGS, queue_ahead=queue_ahead)
        try:
            report = asyncio.run(RenderRun(job_dir, ids, [url], build, settings=settings).run())
        except (RenderUnavailable, JobBlocked, ComfyError) as exc:
            raise BenchFailed(f"{url}: {exc}") from exc
        if report.failed:
            vid, reason = next(iter(report.failed.items()))
            raise BenchFailed(f"{len(report.failed)}/{len(ids)} renders failed ({vid}: {reason})")
        executions = []
        for vid in ids:
            history = read_comfy_history(job_dir.variant_dir(vid)).prompts()
            for prompt_id, entry in history.items():
                if (found := execution_of(prompt_id, entry)) is not None:
                    executions.append(found)
        duty = duty_of(executions)
        return {
            "load": str(load),
            "queue_ahead": queue_ahead,
            "prompts": report.rendered,
            "renders": duty.renders,
            "cached": duty.cached,
            "busy_s": round(duty.busy_s, 3),
            "span_s": round(duty.span_s, 3),
            "duty_cycle": round(duty.duty_cycle or 0.0, 4),
            "median_render_ms": duty.median_render_ms,
            "median_gap_ms": duty.median_gap_ms,
            "wall_s": round(report.wall_seconds, 3),
            "mean_latency_s": round(report.mean_latency or 0.0, 3),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


COLUMNS = ("render", "load", "queue-ahead", "renders", "median render", "median gap", "duty")
WIDTHS = (9, 11, 13, 8, 14, 11, 0)


def _table_row(row: dict[str, Any], default_qa: int) -> str:
    qa = row["queue_ahead"]
    gap = row["median_gap_ms"]
    cells = (
        f"{row['render_ms']} ms" if row.get("render_ms") is not None else "-",
        row["load"],
        f"{qa} (default)" if qa == default_qa else str(qa),
        str(row["renders"]),
        f"{row['median_render_ms']:.0f} ms",
        f"{gap:.0f} ms" if gap is not None else "-",
        f"{row['duty_cycle']:.4f}  ({row['busy_s']:.1f} s busy / {row['span_s']:.1f} s)",
    )
    return "  ".join(c.ljust(w) for c, w in zip(cells, WIDTHS, strict=True)).rstrip()


def run_bench(args: argparse.Namespace, plan: Plan, url: str, emulator: bool) -> dict[str, Any]:
    server = asyncio.run(_check(url, plan))
    if not args.json:
        where = "the emulator" if emulator else url
        print(f"server  {where}  (ComfyUI {server['comfyui_version']}, {server['device']})")
        for load in plan.loads:
            print(f"graph   {describe_graph(load, plan.width, plan.height)}")
        print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, WIDTHS, strict=True)).rstrip())
    rows = []
    for render_ms in (args.render_ms or EMULATOR_RENDER_MS) if emulator else [None]:
        if render_ms is not None:
            httpx.post(f"{url}/emulator/faults", json={"render_ms": render_ms}, timeout=5)
        for load in plan.loads:
            for qa in plan.queue_aheads:
                row = {"render_ms": render_ms, **measure(url, plan, load, qa)}
                rows.append(row)
                if not args.json:
                    print(_table_row(row, args.queue_ahead), flush=True)
    return {
        "bench": "render",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "server": {**server, "started_by_bench": emulator},
        "graph": [describe_graph(load, plan.width, plan.height) for load in plan.loads],
        "image": f"{plan.width}x{plan.height}",
        "results": rows,
    }


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    """A refusal: one line on stderr, and with --json also one object on stdout."""
    line = " ".join(message.split())
    print(f"error: {line}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": line}, ensure_ascii=False))
    return code


def command(args: argparse.Namespace) -> int:
    try:
        plan = plan_of(args)
    except BenchInputError as exc:
        return _fail(args, str(exc), EXIT_BAD_ARGUMENT)
    try:
        if args.comfy_url:
            result = run_bench(args, plan, args.comfy_url.rstrip("/"), emulator=False)
        else:
            out_dir = Path(tempfile.mkdtemp(prefix="nightrun-bench-sim-"))
            port = _free_port()
            proc = start_emulator(port, out_dir)
            try:
                result = run_bench(args, plan, f"http://127.0.0.1:{port}", emulator=True)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
                shutil.rmtree(out_dir, ignore_errors=True)
    except BenchInputError as exc:
        return _fail(args, str(exc), EXIT_BAD_ARGUMENT)
    except (BenchFailed, ServerLacksNodes) as exc:
        return _fail(args, str(exc), EXIT_FAILED)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    return 0
