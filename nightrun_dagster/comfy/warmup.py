"""The 22:45 warm-up against each ComfyUI server: health, version, VRAM, its queue, every active
job's models and nodes, and a preload prompt that puts the night's models in VRAM."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from nightrun_dagster.comfy.client import ComfyClient, Timeouts
from nightrun_dagster.comfy.errors import ComfyError
from nightrun_dagster.workflows.compat import ProblemKind, check_graph, missing_models
from nightrun_dagster.workflows.model_inputs import checked_folders

MB = 1024**2


async def server_catalogue(client: ComfyClient) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """What a graph is checked against: the server's node schemas and its model files by
    folder (the folders it lists that a model input names)."""
    object_info = await client.object_info()
    folders = set(await client.model_folders())
    return object_info, {f: await client.models(f) for f in checked_folders() if f in folders}


# What blocks a job (anything else is a warning).
MISSING: tuple[ProblemKind, ...] = ("missing_node", "missing_model")


@dataclass
class ServerWarmup:
    endpoint: str
    reachable: bool = False
    error: str | None = None
    comfyui_version: str | None = None
    devices: list[dict[str, Any]] = field(default_factory=list)  # name, VRAM total/free MiB
    queue_running: int = 0
    queue_pending: int = 0
    blocked: dict[str, dict[str, Any]] = field(default_factory=dict)  # job -> what is missing
    warnings: dict[str, list[str]] = field(default_factory=dict)  # job -> other problems
    preload: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def warm_up_server(
    url: str,
    graphs: Mapping[str, dict[str, Any]],
    preload: Sequence[tuple[str, dict[str, Any]]],
    timeouts: Timeouts,
) -> ServerWarmup:
    """`graphs`: each active job's first graph, checked against `/object_info` and `/models`.
    `preload`: (job key, graph) candidates in priority order; the first whose job passed every
    check runs once (its outputs are thrown away)."""
    report = ServerWarmup(url)
    async with ComfyClient(url, timeouts=timeouts) as client:
        try:
            stats = await client.system_stats()
            queue = await client.queue()
            object_info, models = await server_catalogue(client)
        except ComfyError as exc:
            report.error = f"{type(exc).__name__}: {exc}"
            return report
        report.reachable = True
        report.comfyui_version = (stats.get("system") or {}).get("comfyui_version")
        report.devices = [
            {
                "name": d.get("name"),
                "type": d.get("type"),
                "vram_total_mb": int(d.get("vram_total", 0)) // MB,
                "vram_free_mb": int(d.get("vram_free", 0)) // MB,
            }
            for d in stats.get("devices") or []
        ]
        report.queue_running, report.queue_pending = len(queue.running), len(queue.pending)
        for key, graph in graphs.items():
            problems = check_graph(graph, object_info, models)
            nodes = sorted({p.class_type for p in problems if p.kind == "missing_node"})
            names = missing_models(problems)
            if names or nodes:
                report.blocked[key] = {
                    "missing_models": names,
                    "missing_nodes": nodes,
                    "reason": "; ".join(str(p) for p in problems if p.kind in MISSING),
                }
            # Inputs (product shots, UI screens) are uploaded at render time, so the server
            # cannot know them yet: those combo complaints are expected here.
            others = [str(p) for p in problems if p.kind not in MISSING]
            if others:
                report.warnings[key] = others
        ready = [(k, g) for k, g in preload if k not in report.blocked and k not in report.warnings]
        if ready:
            report.preload = await _preload(client, *ready[0])
        elif preload:
            # Blocked, or its graph needs product shots / UI screens uploaded first.
            report.preload = {"ok": False, "skipped": "no job's graph can run before its uploads"}
    return report


async def _preload(client: ComfyClient, key: str, graph: dict[str, Any]) -> dict[str, Any]:
    t0 = time.monotonic()
    try:
        submitted = await client.submit(graph)
        await client.wait(submitted.prompt_id)
        await client.delete_history([submitted.prompt_id])
    except ComfyError as exc:
        return {"ok": False, "job": key, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "job": key, "seconds": round(time.monotonic() - t0, 3)}


def warm_up(
    urls: Sequence[str],
    graphs: Mapping[str, dict[str, Any]],
    preload: Sequence[tuple[str, dict[str, Any]]] = (),
    timeouts: Timeouts | None = None,
) -> list[ServerWarmup]:
    """Every endpoint, one after the other (from sync code: the asset)."""
    t = timeouts or Timeouts(connect=5.0, request=30.0, stall=120.0, poll=1.0, unavailable=10.0)

    async def all_servers() -> list[ServerWarmup]:
        return [await warm_up_server(url, graphs, preload, t) for url in urls]

    return asyncio.run(all_servers())
