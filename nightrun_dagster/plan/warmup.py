"""The warm-up's rules: servers asked, jobs blocked (and why), the preload choice, disk and
backlog measured against their breakers. Returns a report; the asset only wires it."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from nightrun_dagster.comfy.client import Timeouts
from nightrun_dagster.comfy.warmup import ServerWarmup
from nightrun_dagster.comfy.warmup import warm_up as warm_up_servers
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import planned_count
from nightrun_dagster.intake.validate import ValidJob
from nightrun_dagster.night.breakers import (
    GB,
    BreakerConfig,
    Trip,
    backlog_trip,
    disk_trip,
    latch,
    read_latch,
)
from nightrun_dagster.night.closing import carried_over
from nightrun_dagster.plan.probe import first_graphs, needs_uploads, preload_graph
from nightrun_dagster.store.night_records import Backlog, WarmupReport
from nightrun_dagster.store.paths import Tree, volume_of


@dataclass
class WarmupOutcome:
    """What the warm-up found and did: the report for `warmup.json`, the servers' answers, the
    backlog, the breaker it tripped and whether it latched it (then the team is told, once)."""

    report: WarmupReport
    servers: list[ServerWarmup]
    reachable: list[ServerWarmup]
    backlog: int
    trip: Trip | None
    latched: bool


def warm_up_night(
    tree: Tree,
    night: str,
    mode: RunMode,
    jobs: Sequence[ValidJob],
    *,
    urls: Sequence[str],
    timeouts: Timeouts,
    config: BreakerConfig,
    max_renders: int,
) -> WarmupOutcome:
    """Ask every server, block the jobs that cannot run, preload the top job's models (not
    while a breaker is latched or the disk is short) and latch the disk or backlog breaker."""
    ordered = sorted(jobs, key=lambda j: (-j.job.priority, j.key))
    renders = mode is not RunMode.maintenance

    graphs: dict[str, dict[str, Any]] = {}
    unbuildable: dict[str, dict[str, Any]] = {}  # job -> why its graph cannot be built
    if renders:
        graphs, unbuildable = first_graphs(ordered, night)
    # Image jobs start at 23:00: their models are the ones worth having in VRAM first.
    order = sorted(ordered, key=lambda j: j.template.kind != "image")
    preload = [
        (j.key, preload_graph(graphs[j.key]))
        for j in order
        if j.key in graphs and not needs_uploads(graphs[j.key])
    ]
    free = shutil.disk_usage(volume_of(tree.root)).free
    # A latched breaker (or a full disk) stops the GPU: the servers are still asked how they
    # are, but no preload prompt is sent.
    held = read_latch(tree.root)
    disk = disk_trip(free, config)
    no_preload = held.describe() if held else disk.reason if disk else None
    servers = warm_up_servers(urls, graphs, [] if no_preload else preload, timeouts)
    if no_preload:
        for s in servers:
            s.preload = {"ok": False, "skipped": f"no preload: {no_preload}"}

    reachable = [s for s in servers if s.reachable]
    # A job is blocked when its graph cannot be built, or when no reachable server can run it.
    blocked: dict[str, dict[str, Any]] = dict(unbuildable)
    if reachable:
        for key in graphs:
            if all(key in s.blocked for s in reachable):
                blocked[key] = reachable[0].blocked[key]
    previous = (date.fromisoformat(night) - timedelta(days=1)).isoformat()
    left = carried_over(tree, previous)
    demand = 0
    if renders:
        demand = sum(
            planned_count(j.job, mode, night, j.cap, j.template.defaults)[0]
            for j in ordered
            if j.key not in blocked
        )
        demand = min(demand, max_renders)
    queued = max((s.queue_pending for s in reachable), default=0)
    backlog = demand + sum(left.values()) + queued

    trip = disk or backlog_trip(backlog, config)
    latched = False
    if trip is not None:
        _, latched = latch(tree.root, trip, night=night, job=None)

    report = WarmupReport(
        night=night,
        mode=mode.value,
        servers=[s.as_dict() for s in servers],
        disk_free_gb=round(free / GB, 2),
        backlog=Backlog(tonight=demand, carried_over=left, server_queue=queued),
        blocked=blocked,
        breaker=trip.as_dict() if trip else None,
    )
    return WarmupOutcome(report, servers, reachable, backlog, trip, latched)
