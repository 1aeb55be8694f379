"""Circuit breakers in Dagster: their thresholds (a resource), the team's notice, `resume_night`."""

from dataclasses import fields
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from nightrun_dagster.defs.resources import NightrunResource, TelegramResource
from nightrun_dagster.night.breakers import (
    BreakerConfig,
    Latch,
    mark_notified,
    notification_text,
    read_latch,
    resume,
)
from nightrun_dagster.night.guard import StopKind
from nightrun_dagster.telegram.redact import TelegramFailure
from nightrun_dagster.telegram.send import send_text

CHECK_NAME = "circuit_breakers"
_DEFAULTS = BreakerConfig()


class BreakersResource(dg.ConfigurableResource):
    """Circuit-breaker thresholds (seed §2 defaults). A breaker trips when its value goes over
    the threshold (disk: under it) and stays latched until `nightrun resume`."""

    oom_max: int = Field(
        default=_DEFAULTS.oom_max, description="GPU OOMs tolerated in the window; one more trips."
    )
    oom_window_s: float = Field(default=_DEFAULTS.oom_window_s, description="OOM window, s.")
    latency_image_s: float = Field(
        default=_DEFAULTS.latency_image_s, description="Highest mean seconds per image."
    )
    latency_video_s: float = Field(
        default=_DEFAULTS.latency_video_s, description="Highest mean seconds per video."
    )
    latency_samples: int = Field(
        default=_DEFAULTS.latency_samples, description="Renders the latency mean is taken over."
    )
    disk_free_min_gb: float = Field(
        default=_DEFAULTS.disk_free_min_gb, description="Lowest free space on the output volume."
    )
    backlog_max: int = Field(
        default=_DEFAULTS.backlog_max, description="Most variants waiting before a pause."
    )
    failure_rate_max: float = Field(
        default=_DEFAULTS.failure_rate_max, description="Highest failed share of recent variants."
    )
    failure_window: int = Field(
        default=_DEFAULTS.failure_window, description="Recent variants the rate is taken over."
    )
    failure_min_samples: int = Field(
        default=_DEFAULTS.failure_min_samples, description="Results needed before a rate counts."
    )
    restart_max: int = Field(
        default=_DEFAULTS.restart_max,
        description=(
            "ComfyUI outages (it answered, then stopped) tolerated in the restart window; one "
            "more trips restart_loop. Failed calls within one outage and websocket reconnects "
            "do not count; an outage longer than comfyui.outage_patience_s trips it too."
        ),
    )
    restart_window_s: float = Field(
        default=_DEFAULTS.restart_window_s, description="Window the outages are counted in, s."
    )
    disk_check_every_s: float = Field(
        default=30.0, description="How often the render loop looks at free disk space."
    )

    def config(self) -> BreakerConfig:
        # Every BreakerConfig field has its namesake here (the defaults above come from it).
        return BreakerConfig(**{f.name: getattr(self, f.name) for f in fields(BreakerConfig)})


def notify_trip(telegram: TelegramResource, root: Path, log: Any) -> str:
    """Tell the team about the latch in force, once; says how it went."""
    current = read_latch(root)
    if current is None:
        return "nothing latched"
    if current.extra.get("notified"):
        return f"already notified ({current.extra['notified']})"
    text = notification_text(current)
    log.error(text)
    if not telegram.enabled():
        mark_notified(root, "log only: Telegram is not configured")
        return "logged (Telegram is not configured)"
    try:
        message_id = send_text(telegram.token, telegram.review_chat_id, text, telegram.base_url)
    except TelegramFailure as exc:  # scrubbed; the latch itself is what stops the night
        log.warning(f"breaker notice not sent to Telegram: {exc}")
        return f"Telegram failed: {exc}"
    mark_notified(root, f"telegram message {message_id}")
    return "sent to Telegram"


def check_result(latched: Latch | None, stop: Any, **metadata: Any) -> dg.AssetCheckResult:
    """`circuit_breakers`: fails when this partition stopped on a breaker or a breaker is
    latched; a window close is not a fault. Severity WARN: the partition is marked (and the
    latch stops the GPU), but the variants rendered before the trip are still scored and
    shortlisted."""
    tripped = stop is not None and stop.kind in (StopKind.BREAKER, StopKind.LATCHED)
    if stop is None and latched is not None:
        tripped = True
    description = "no breaker tripped"
    if tripped:
        description = latched.describe() if latched is not None else str(stop.reason)
    meta: dict[str, Any] = {"status": "tripped" if tripped else "ok", **metadata}
    if latched is not None:
        meta.update(breaker=latched.breaker, value=latched.value, threshold=latched.threshold)
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        passed=not tripped,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=meta,
    )


class ResumeConfig(dg.Config):
    by: str = Field(default="dagster", description="Who resumes (kept in the breaker history).")


@dg.op(description="Clear the latched circuit breaker so schedules and render loops run again.")
def clear_breaker_latch(
    context: dg.OpExecutionContext, config: ResumeConfig, nightrun: NightrunResource
) -> None:
    root = nightrun.tree().root
    cleared = resume(root, by=f"{config.by} (run {context.run_id[:8]})")
    if cleared is None:
        context.log.info("no circuit breaker was latched: nothing to resume")
        return
    context.log.info(f"resumed: {cleared.describe()}")
    context.add_output_metadata({"breaker": cleared.breaker, "reason": cleared.reason})


@dg.job(
    name="resume_night",
    description=(
        "Resume after a circuit breaker: clears the latch (kept in ops/breaker_history.jsonl), "
        "so the night's schedules and render loops go on. Same as `nightrun resume`."
    ),
)
def resume_night_job() -> None:
    clear_breaker_latch()
