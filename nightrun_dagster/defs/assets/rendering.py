"""The `renders` asset: a night × job partition's variants rendered on ComfyUI, exactly once."""

import asyncio
import time
from datetime import datetime
from typing import Any

import dagster as dg

from nightrun_dagster.comfy.render_loop import (
    JobBlocked,
    RenderReport,
    RenderRun,
    RenderSettings,
    RenderUnavailable,
)
from nightrun_dagster.comfy.telemetry import GpuTelemetry, summarize
from nightrun_dagster.defs.assets.planning import variants
from nightrun_dagster.defs.assets.required import variants_of
from nightrun_dagster.defs.breakers import CHECK_NAME, BreakersResource, check_result, notify_trip
from nightrun_dagster.defs.partitions import job_partition, night_job_asset
from nightrun_dagster.defs.resources import (
    GPU_POOL,
    ComfyUIResource,
    NightrunResource,
    TelegramResource,
)
from nightrun_dagster.defs.tags import MODE_TAG, START_AT_TAG, STOP_AT_TAG
from nightrun_dagster.intake.validate import ValidJob
from nightrun_dagster.night import time_scale
from nightrun_dagster.night.clock import UnreadablePlan, read_plan
from nightrun_dagster.night.gpu_turn import GpuTurn
from nightrun_dagster.night.guard import NightGuard
from nightrun_dagster.night.render_outcome import clear_stop_records, close_render
from nightrun_dagster.night.shares import Share, time_share
from nightrun_dagster.night.window import TZ, default_stop_at
from nightrun_dagster.plan.graphs import graph_builder
from nightrun_dagster.plan.inputs import graph_inputs, load_snapshot
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.workflows.apply import DEGRADE_LADDER, graph_summary
from nightrun_dagster.workflows.uploads import upload_subfolder

GROUP = "rendering"
LOG_EVERY_S = 10.0


def make_run(
    found: ValidJob,
    job_dir: JobDir,
    variant_ids: list[str],
    comfyui: ComfyUIResource,
    on_progress: Any = None,
    guard: NightGuard | None = None,
    notice: Any = None,
    on_notice: Any = None,
    turn: GpuTurn | None = None,
    on_turn: Any = None,
) -> RenderRun:
    return RenderRun(
        job_dir,
        variant_ids,
        comfyui.endpoints(),
        graph_builder(found),
        inputs=graph_inputs(found, job_dir),
        upload_subfolder=upload_subfolder(found.key),
        settings=RenderSettings(
            queue_ahead=comfyui.queue_ahead,
            degrade_rungs=tuple(r.name for r in DEGRADE_LADDER),
            unavailable_timeout=comfyui.unavailable_timeout_s,
            outage_patience=comfyui.outage_patience_s,
            backoff_max=comfyui.backoff_max_s,
            clock_tz=TZ,
        ),
        timeouts=comfyui.timeouts(),
        models_of=lambda graph: graph_summary(graph)["models"],
        on_progress=on_progress,
        on_notice=on_notice,
        guard=guard,
        gpu_probe=lambda url: GpuTelemetry(url, notice=notice),
        turn=turn,
        on_turn=on_turn,
    )


class _Progress:
    """Logs n/N and an ETA at most every LOG_EVERY_S seconds, and at the end."""

    def __init__(self, log: Any, total: int) -> None:
        self.log, self.total = log, total
        self.last = 0.0
        self.finished = False

    def __call__(self, report: RenderReport, remaining: int) -> None:
        now = time.monotonic()
        if (remaining and now - self.last < LOG_EVERY_S) or self.finished:
            return
        self.finished = remaining == 0
        self.last = now
        done = report.total - remaining
        eta = ""
        if report.mean_latency and remaining:
            seconds = report.wall_seconds / max(1, report.rendered) * remaining
            eta = f", ETA {seconds / 60:.1f} min"
        self.log.info(
            f"renders {done}/{report.total} ({report.rendered} rendered, "
            f"{report.skipped} already done, {len(report.failed)} failed){eta}"
        )


def stop_at_from_tags(tags: dict[str, str]) -> datetime | None:
    """When the render loop must stop submitting (set by the night's schedules); None: no tag."""
    return time_from_tags(tags, STOP_AT_TAG)


def time_from_tags(tags: dict[str, str], tag: str) -> datetime | None:
    """A moment the schedules set in a run tag (`nightrun/stop_at`, `nightrun/start_at`)."""
    raw = tags.get(tag)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise dg.Failure(
            f"run tag {tag}={raw!r} is not an ISO time like 2026-02-10T08:00:00-03:00"
        ) from None
    if moment.tzinfo is None:
        raise dg.Failure(f"run tag {tag}={raw!r} needs a UTC offset")
    return moment


def _stop_at(context: dg.AssetExecutionContext, night: str) -> datetime | None:
    """The run's stop time, said in its log: the schedules' tag, else the night's default."""
    now = time_scale.now()
    tagged = stop_at_from_tags(context.run.tags)
    if tagged is not None:
        if tagged <= now:
            context.log.warning(
                f"run tag {STOP_AT_TAG}={tagged.isoformat()} has already passed: nothing will "
                f"be submitted. Launch again without the tag to render what is left (the run "
                f"then stops at the end of night {night}'s window, or never for a past night)."
            )
        return tagged
    default = default_stop_at(night, now)
    if default is None:
        context.log.info(
            f"no {STOP_AT_TAG} tag and night {night}'s window is over: rendering what is left "
            "without a time limit"
        )
    else:
        context.log.info(
            f"no {STOP_AT_TAG} tag: stops submitting at the end of night {night}'s window, "
            f"{default.isoformat()}"
        )
    return default


@night_job_asset(
    GROUP,
    deps=[variants],
    pool=GPU_POOL,
    kinds={"comfyui"},
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset="renders",
            blocking=True,
            description=(
                "Circuit breakers (GPU OOMs, latency, disk free, backlog, failure rate, ComfyUI "
                "restart loop): fails (severity WARN) when one tripped on this partition or is "
                "latched, marking the partition cut short. A WARN does not block: the variants "
                "rendered before the trip are scored and shortlisted as on any other night."
            ),
        )
    ],
)
def renders(
    context: dg.AssetExecutionContext,
    nightrun: NightrunResource,
    comfyui: ComfyUIResource,
    breakers: BreakersResource,
    telegram: TelegramResource,
) -> dg.MaterializeResult:
    """Every variant of the job rendered on ComfyUI: `out/img_NNNN.png` + `.preview.jpg` (or
    `.mp4` + poster), `meta/prompt.json` (the exact graph), `meta/comfy_history.json` and
    `meta/params.json` completed with what the server reported and GPU telemetry. Exactly once: a
    re-run renders only what is missing, and picks up prompts a killed run left on the server.
    In pool `comfyui_gpu`; the night's GPU turn lets one run submit at a time. Stops submitting
    at the end of its time share, at the run's `nightrun/stop_at` (window or video slice end:
    the rest is recorded in `window_closed.json`; a run launched without the tag stops at the end
    of its night's window, or renders everything when that night is over) or when a circuit
    breaker trips (`breaker.json`); it submits no render that would only start after its share
    or its window ends (what it queued before that runs)."""
    night, key, job_dir = job_partition(context, nightrun)
    tree = nightrun.tree()
    index = variants_of(job_dir)
    found = load_snapshot(job_dir, nightrun.intake())
    ids = list(index.variants)
    stop_at = _stop_at(context, night)
    clear_stop_records(job_dir)
    guard = NightGuard(
        tree.root,
        night=night,
        job=key,
        config=breakers.config(),
        kind=found.template.kind,
        stop_at=stop_at,
        disk_every_s=breakers.disk_check_every_s,
    )
    progress = _Progress(context.log, len(ids))
    notices: list[str] = []  # GpuTelemetry says each once per endpoint

    def notice(message: str) -> None:
        notices.append(message)
        context.log.info(message)

    start_at = time_from_tags(context.run.tags, START_AT_TAG)
    if start_at is not None and start_at > time_scale.now():
        context.log.info(f"connected ahead of its phase: submits from {start_at.isoformat()}")
    turn = GpuTurn(
        tree.night_dir(night),
        key,
        priority=found.job.priority,
        run=context.run.run_id,
        not_before=start_at,
    )
    shares: list[Share] = []

    def on_turn() -> None:
        # The share is taken when the run may submit, not when it started: the time the run
        # before it used (more or less than planned) is known by then.
        if turn.followed:
            context.log.info(f"GPU turn taken from {turn.followed} after {turn.waited_s:.1f} s")
        if stop_at is None:
            return
        share = job_time_share(tree, night, key, stop_at, start=turn.busy_until)
        if share is not None:
            guard.share_until = share.until
            guard.render_s = share.cost
            shares.append(share)
            context.log.info(f"{key}: {share.describe()}")

    run = make_run(
        found,
        job_dir,
        ids,
        comfyui,
        on_progress=progress,
        guard=guard,
        notice=notice,
        on_notice=context.log.warning,  # "ComfyUI unreachable since …, waiting (n s …)"
        turn=turn,
        on_turn=on_turn,
    )
    try:
        report = asyncio.run(run.run())
    except JobBlocked as exc:
        raise dg.Failure(
            description=f"job {key} is blocked: {exc}",
            metadata={
                "missing_models": ", ".join(exc.models) or "none",
                "missing_nodes": ", ".join(exc.nodes) or "none",
                "blocked": dg.MetadataValue.path(str(job_dir.blocked)),
            },
            allow_retries=False,
        ) from None
    except RenderUnavailable as exc:
        raise dg.Failure(description=str(exc)) from None
    progress(report, 0)
    outcome = close_render(job_dir, night, key, report, run.waiting_ids(), guard)
    metadata = report_metadata(report, job_dir)
    metadata["mode"] = index.mode or context.run.tags.get(MODE_TAG) or "–"
    stop = outcome.stop
    if stop is not None:
        context.log.warning(
            f"render loop stopped ({stop.kind}): {stop.reason}; {len(outcome.pending)} left"
        )
        # Plain text: Dagster's metadata takes no enum members.
        metadata.update(
            stopped=str(stop.kind),
            stop_reason=stop.reason,
            pending=len(outcome.pending),
            record=str(outcome.record),
        )
    if outcome.notify:
        metadata["notified"] = notify_trip(telegram, tree.root, context.log)
    if notices:
        metadata["telemetry_notice"] = "; ".join(notices)
    metadata["turn_wait_s"] = round(turn.waited_s, 3)
    if shares:
        metadata["share_until"] = shares[0].until.isoformat() if shares[0].until else "slice end"
        metadata["share"] = shares[0].describe()
    if (cut := outcome.cut_short()) is not None:
        metadata["cut_short"] = cut
        if outcome.latch is not None:
            metadata.update(breaker=outcome.latch.breaker, tripped_at=outcome.latch.tripped_at)
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[check_result(guard.latch, stop, pending=metadata.get("pending", 0))],
    )


def job_time_share(
    tree: Tree, night: str, key: str, end: datetime, start: datetime | None = None
) -> Share | None:
    """The job's share of what is left of its slice from `start` (when the prompts the last
    job left queued are done; None: now), or None on a count plan or without a plan."""
    try:
        plan = read_plan(tree, night)
    except UnreadablePlan:
        return None
    if plan is None:
        return None
    now = time_scale.now()
    return time_share(tree, night, plan, key, max(now, start) if start else now, end)


def report_metadata(report: RenderReport, job_dir: JobDir) -> dict[str, Any]:
    duty = report.duty_cycle
    return {
        "variants": report.total,
        "rendered": report.rendered,
        "already_done": report.skipped,
        "resumed": report.resumed,
        "failed": len(report.failed),
        "outcomes": dg.MetadataValue.json(dict(report.outcomes)),
        "failures": dg.MetadataValue.json(dict(list(report.failed.items())[:50])),
        "mean_latency_s": round(report.mean_latency or 0.0, 3),
        "server_render_s": round(report.server_seconds, 3),
        "wall_s": round(report.wall_seconds, 3),
        "gpu_duty_cycle": round(duty, 4) if duty is not None else 0.0,
        "gpu": dg.MetadataValue.json(summarize(report.gpu_samples)),
        "path": dg.MetadataValue.path(str(job_dir.variants)),
    }
