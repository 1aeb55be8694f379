"""The 22:45 warm-up: ComfyUI health, version and VRAM, disk, backlog, every active job's models
and nodes, a model preload prompt. Breakers trip here before the first render."""

import dagster as dg

from nightrun_dagster.defs.assets.planning import active_jobs, run_mode
from nightrun_dagster.defs.breakers import BreakersResource, notify_trip
from nightrun_dagster.defs.partitions import night_asset
from nightrun_dagster.defs.resources import (
    GPU_POOL,
    ComfyUIResource,
    NightrunResource,
    TelegramResource,
)
from nightrun_dagster.night.breakers import read_latch
from nightrun_dagster.plan.warmup import warm_up_night
from nightrun_dagster.store.night_records import write_warmup

GROUP = "planning"
CHECK = "warm_up"


@night_asset(
    GROUP,
    kinds={"comfyui", "json"},
    # Its preload prompt is GPU work like any render: it waits for the GPU with them.
    pool=GPU_POOL,
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
)
def warm_up(
    context: dg.AssetExecutionContext,
    nightrun: NightrunResource,
    comfyui: ComfyUIResource,
    breakers: BreakersResource,
    telegram: TelegramResource,
) -> dg.MaterializeResult:
    """The warm-up (22:45): each ComfyUI server's health, version, GPU memory and queue; disk
    free; the night's backlog (tonight's demand + what the last night left + the server queue);
    every active job's graph built and checked against the server's nodes and models (a job whose
    graph cannot be built, or missing one, is blocked, with the reason or the names, and gets no
    budget); one preload prompt of the top job, so its models are in VRAM at 23:00 (none while a
    breaker is latched or the disk is under its limit). Written to `runs/<night>/warmup.json`."""
    night = context.partition_key
    mode = run_mode(context, night)
    tree = nightrun.tree()
    jobs, _ = active_jobs(context, nightrun)
    outcome = warm_up_night(
        tree,
        night,
        mode,
        jobs,
        urls=comfyui.endpoints(),
        timeouts=comfyui.timeouts(),
        config=breakers.config(),
        max_renders=nightrun.max_renders_per_night,
    )
    report, servers, reachable = outcome.report, outcome.servers, outcome.reachable
    blocked = report.blocked
    notified = None
    if outcome.latched:
        notified = notify_trip(telegram, tree.root, context.log)
    current = read_latch(tree.root)

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
            "backlog": outcome.backlog,
            "blocked": ", ".join(sorted(blocked)) or "none",
            "notified": notified or "–",
            "servers": dg.MetadataValue.md("\n".join(lines)),
            "path": dg.MetadataValue.path(str(path)),
        },
        check_results=[check],
    )
