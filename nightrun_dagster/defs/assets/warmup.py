"""The 22:45 warm-up: ComfyUI health, version and VRAM, disk, backlog, every active job's models
and nodes, a model preload prompt. Breakers trip here before the first render."""

import shutil
from datetime import date, timedelta
from typing import Any

import dagster as dg

from nightrun_dagster.comfy.warmup import warm_up as warm_up_servers
from nightrun_dagster.defs.assets.planning import active_jobs, run_mode
from nightrun_dagster.defs.breakers import BreakersResource, notify_trip
from nightrun_dagster.defs.partitions import night_partitions
from nightrun_dagster.defs.resources import ComfyUIResource, NightrunResource, TelegramResource
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import planned_count
from nightrun_dagster.ops.breakers import GB, backlog_trip, disk_trip, latch, read_latch
from nightrun_dagster.ops.closing import carried_over
from nightrun_dagster.plan.probe import first_graphs, needs_uploads, preload_graph
from nightrun_dagster.store.night_records import Backlog, WarmupReport, write_warmup
from nightrun_dagster.store.paths import volume_of

GROUP = "planning"
CHECK = "warm_up"


@dg.asset(
    group_name=GROUP,
    partitions_def=night_partitions,
    kinds={"comfyui", "json"},
    check_specs=[
        dg.AssetCheckSpec(
            CHECK,
            asset="warm_up",
            blocking=True,
            description=(
                "Disk free and queue backlog within their breakers' thresholds (else the "
                "night is latched); warns when no ComfyUI server answered."
            ),
        )
    ],
    description=(
        "The warm-up (22:45): each ComfyUI server's health, version, GPU memory and queue; disk "
        "free; the night's backlog (tonight's demand + what the last night left + the server "
        "queue); every active job's graph built and checked against the server's nodes and models "
        "(a job whose graph cannot be built, or missing one, is blocked, with the reason or the "
        "names, and gets no budget); one preload prompt of "
        "the top job, so its models are in VRAM at 23:00 (none while a breaker is latched or the "
        "disk is under its limit). Written to `runs/<night>/warmup.json`."
    ),
)
def warm_up(
    context: dg.AssetExecutionContext,
    nightrun: NightrunResource,
    comfyui: ComfyUIResource,
    breakers: BreakersResource,
    telegram: TelegramResource,
) -> dg.MaterializeResult:
    night = context.partition_key
    mode = run_mode(context, night)
    tree = nightrun.tree()
    jobs, _ = active_jobs(context, nightrun)
    jobs.sort(key=lambda j: (-j.job.priority, j.key))
    renders = mode is not RunMode.maintenance

    graphs: dict[str, dict[str, Any]] = {}
    unbuildable: dict[str, dict[str, Any]] = {}  # job -> why its graph cannot be built
    if renders:
        graphs, unbuildable = first_graphs(jobs, night)
    # Image jobs start at 23:00: their models are the ones worth having in VRAM first.
    order = sorted(jobs, key=lambda j: j.template.kind != "image")
    preload = [
        (j.key, preload_graph(graphs[j.key]))
        for j in order
        if j.key in graphs and not needs_uploads(graphs[j.key])
    ]
    config = breakers.config()
    free = shutil.disk_usage(volume_of(tree.root)).free
    # A latched breaker (or a full disk) stops the GPU: the servers are still asked how they
    # are, but no preload prompt is sent.
    held = read_latch(tree.root)
    disk = disk_trip(free, config)
    no_preload = held.describe() if held else disk.reason if disk else None
    servers = warm_up_servers(
        comfyui.endpoints(), graphs, [] if no_preload else preload, comfyui.timeouts()
    )
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
            for j in jobs
            if j.key not in blocked
        )
        demand = min(demand, nightrun.max_renders_per_night)
    queued = max((s.queue_pending for s in reachable), default=0)
    backlog = demand + sum(left.values()) + queued

    trip = disk or backlog_trip(backlog, config)
    notified = None
    if trip is not None:
        _, created = latch(tree.root, trip, night=night, job=None)
        if created:
            notified = notify_trip(telegram, tree.root, context.log)
    current = read_latch(tree.root)

    report = WarmupReport(
        night=night,
        mode=mode.value,
        servers=[s.as_dict() for s in servers],
        disk_free_gb=round(free / GB, 2),
        backlog=Backlog(tonight=demand, carried_over=left, server_queue=queued),
        blocked=blocked,
        breaker=trip.as_dict() if trip else None,
    )
    path = write_warmup(tree.night_dir(night), report)
    for key, why in blocked.items():
        context.log.warning(f"job {key} is blocked tonight: {why['reason']}")
    if not reachable:
        context.log.warning("no ComfyUI server answered the warm-up")

    if current is not None:
        check = dg.AssetCheckResult(
            check_name=CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=current.describe(),
            metadata={"breaker": current.breaker},
        )
    else:
        check = dg.AssetCheckResult(
            check_name=CHECK,
            passed=bool(reachable),
            severity=dg.AssetCheckSeverity.WARN,
            description="ready" if reachable else "no ComfyUI server answered",
        )
    lines = ["| server | version | GPU | VRAM free | queue | preload |", "|---" * 6 + "|"]
    for s in servers:
        gpu = s.devices[0] if s.devices else {}
        preload_state = s.preload.get("seconds", s.preload.get("skipped", s.preload.get("error")))
        lines.append(
            f"| {s.endpoint} | {s.comfyui_version or s.error} | {gpu.get('name', '–')} "
            f"| {gpu.get('vram_free_mb', '–')} MiB | {s.queue_pending} | {preload_state or '–'} |"
        )
    return dg.MaterializeResult(
        metadata={
            "mode": mode.value,
            "reachable": f"{len(reachable)}/{len(servers)}",
            "disk_free_gb": report.disk_free_gb,
            "backlog": backlog,
            "blocked": ", ".join(sorted(blocked)) or "none",
            "notified": notified or "–",
            "servers": dg.MetadataValue.md("\n".join(lines)),
            "path": dg.MetadataValue.path(str(path)),
        },
        check_results=[check],
    )
