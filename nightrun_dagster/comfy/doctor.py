"""`nightrun doctor`: is this machine and its ComfyUI ready for a night?"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytesseract
from PIL import Image

from nightrun_dagster.comfy.client import ComfyClient, Timeouts
from nightrun_dagster.comfy.errors import ComfyError
from nightrun_dagster.comfy.warmup import server_catalogue
from nightrun_dagster.intake.queue import QueueReview
from nightrun_dagster.intake.validate import ValidJob
from nightrun_dagster.store.paths import volume_of
from nightrun_dagster.workflows.apply import ApplyError
from nightrun_dagster.workflows.samplers import UnknownSampler
from nightrun_dagster.workflows.templates import (
    DEFAULT_WORKFLOWS_DIR,
    TEMPLATE_SUFFIX,
    TemplateRegistry,
    display_path,
)

REQUIRED_LANGUAGES = ("spa", "eng")
SMOKE_TEMPLATE = "smoke_v1"  # model-free: any ComfyUI can render it
# The project's copy, for a workflows folder of a team's own that lacks it.
SMOKE_SOURCE = DEFAULT_WORKFLOWS_DIR / f"{SMOKE_TEMPLATE}{TEMPLATE_SUFFIX}"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    lines: list[str] = field(default_factory=list)


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str, lines: Sequence[str] = ()) -> None:
        self.checks.append(Check(name, ok, detail, list(lines)))


GraphForJob = Callable[[ValidJob], dict[str, Any]]
CheckGraph = Callable[[dict[str, Any], dict[str, Any], dict[str, list[str]]], list[Any]]
# The smoke test's graph, or why there is none (its template is missing or broken).
SmokeGraph = dict[str, Any] | str


async def check_server(
    url: str,
    report: DoctorReport,
    smoke_graph: SmokeGraph,
    jobs: Sequence[ValidJob],
    graph_for: GraphForJob,
    check_graph: CheckGraph,
    timeouts: Timeouts,
) -> None:
    async with ComfyClient(url, timeouts=timeouts) as client:
        try:
            stats = await client.system_stats()
        except ComfyError as exc:
            report.add("reachable", False, f"{url}: {exc}")
            return
        system = stats.get("system", {})
        report.add("reachable", True, f"{url}: ComfyUI {system.get('comfyui_version', '?')}")
        devices = stats.get("devices") or []
        lines = [
            f"{d.get('name')}: {d.get('vram_free', 0) / 2**30:.1f} of "
            f"{d.get('vram_total', 0) / 2**30:.1f} GiB free"
            for d in devices
        ]
        has_gpu = any(d.get("type") not in (None, "cpu") for d in devices)
        report.add("devices", bool(devices), "GPU found" if has_gpu else "CPU only", lines)

        if isinstance(smoke_graph, str):
            report.add(SMOKE_TEMPLATE, False, smoke_graph)
        else:
            await _smoke_render(client, report, smoke_graph)

        try:
            object_info, models = await server_catalogue(client)
        except ComfyError as exc:
            report.add("jobs", False, f"cannot read /object_info or /models: {exc}")
            return
        problems: list[str] = []
        for found in jobs:
            try:
                graph = graph_for(found)
            except (ApplyError, UnknownSampler) as exc:
                problems.append(f"{found.source.name} ({found.key}): cannot build a graph: {exc}")
                continue
            for p in check_graph(graph, object_info, models):
                problems.append(f"{found.source.name} ({found.key}): {p.detail}")
        detail = f"{len(jobs)} queued job(s) checked"
        report.add(
            "jobs", not problems, detail if not problems else f"{detail}: problems", problems
        )


async def _smoke_render(
    client: ComfyClient, report: DoctorReport, smoke_graph: dict[str, Any]
) -> None:
    try:
        submitted = await client.submit(smoke_graph)
        outcome = await client.wait(submitted.prompt_id)
        with tempfile.TemporaryDirectory() as tmp:
            files = [o for o in outcome.outputs if o.type == "output"]
            if not files:
                raise ComfyError(f"{SMOKE_TEMPLATE} produced no output file")
            dest = Path(tmp) / "smoke.png"
            size = await client.download(files[0], dest)
            with Image.open(dest) as im:
                shape = f"{im.width}x{im.height}"
        await client.delete_history([submitted.prompt_id])
        report.add(SMOKE_TEMPLATE, True, f"rendered end to end ({shape}, {size} bytes)")
    except ComfyError as exc:
        report.add(SMOKE_TEMPLATE, False, str(exc))


def check_tesseract(report: DoctorReport) -> None:
    try:
        languages = set(pytesseract.get_languages(config=""))
        version = str(pytesseract.get_tesseract_version())
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        report.add("tesseract", False, f"not usable: {exc}")
        return
    missing = [lang for lang in REQUIRED_LANGUAGES if lang not in languages]
    detail = f"tesseract {version}; languages: {', '.join(sorted(languages))}"
    if missing:
        detail += f"; missing {', '.join(missing)} (apt install tesseract-ocr-{missing[0]})"
    report.add("tesseract", not missing, detail)


def check_disk(report: DoctorReport, root: Path, min_free_gb: float) -> None:
    probe = volume_of(root)
    free = shutil.disk_usage(probe).free / 2**30
    report.add(
        "disk", free >= min_free_gb, f"{free:.1f} GiB free at {probe} (need {min_free_gb:g})"
    )


def check_templates(report: DoctorReport, registry: TemplateRegistry) -> None:
    """Every file in the workflows folder is a usable template; a line per broken one."""
    good = len(registry.templates)
    if not registry.workflows_dir.is_dir():
        report.add("templates", False, f"no workflows folder at {registry.workflows_dir}")
        return
    broken = [b.line() for b in registry.broken.values()]
    folder = display_path(registry.workflows_dir)
    # Good and broken are two counts of files, never "n of m": say both before the folder.
    if broken:
        detail = (
            f"{good} template(s) and {len(broken)} broken file(s) in {folder} "
            "(jobs naming a broken one are rejected)"
        )
    else:
        detail = f"{good} template(s) in {folder}"
    report.add("templates", not broken, detail, broken)


def check_queue(report: DoctorReport, review: QueueReview) -> None:
    """Queue files the sensor will reject, each with its reasons."""
    lines = [e.line() for _, errors in review.invalid for e in errors]
    detail = f"{len(review.valid)} valid queued job(s)"
    if review.invalid:
        detail += f", {len(review.invalid)} file(s) will be rejected"
    report.add("queue", not review.invalid, detail, lines)


def smoke_unavailable(registry: TemplateRegistry) -> str:
    """Why the smoke test cannot run: its template is broken or absent."""
    broken = registry.broken.get(SMOKE_TEMPLATE)
    if broken is not None:
        return broken.line()
    folder = display_path(registry.workflows_dir)
    return (
        f"no {SMOKE_TEMPLATE} template in {folder}: copy {display_path(SMOKE_SOURCE)} from the "
        f"project into {folder} (it needs no model files)"
    )


def run_doctor(
    urls: Sequence[str],
    root: Path,
    min_free_gb: float,
    smoke_graph: SmokeGraph,
    registry: TemplateRegistry,
    queue: QueueReview,
    graph_for: GraphForJob,
    check_graph: CheckGraph,
    timeouts: Timeouts | None = None,
) -> DoctorReport:
    report = DoctorReport()
    check_templates(report, registry)
    check_queue(report, queue)
    jobs = list(queue.valid.values())
    t = timeouts or Timeouts(connect=3.0, request=15.0, stall=60.0, poll=1.0, unavailable=5.0)
    for url in urls:
        asyncio.run(check_server(url, report, smoke_graph, jobs, graph_for, check_graph, t))
    check_tesseract(report)
    check_disk(report, root, min_free_gb)
    return report
