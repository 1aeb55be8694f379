"""The resources: `nightrun` (the artifact root, where job paths point, the limits), `comfyui`
(the servers) and `telegram` (the review chat)."""

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, field_validator

from nightrun_dagster.comfy.client import Timeouts
from nightrun_dagster.creative_job.limits import SpecLimits
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.intake.validate import Intake
from nightrun_dagster.plan.night_plan import DEFAULT_MAX_RENDERS_PER_NIGHT, PlanBasis
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.telegram.updates import DEFAULT_BUDGET_S
from nightrun_dagster.workflows.templates import default_workflows_dir

PLAN_BASIS_ENV = "NIGHTRUN_PLAN_BASIS"


def one_of(value: str, allowed: type[StrEnum], field: str, what: str) -> str:
    """`value` when empty or one of `allowed`'s values; else a ValueError naming them."""
    if value and value not in {m.value for m in allowed}:
        choices = ", ".join(m.value for m in allowed)
        raise ValueError(f"{field} {value!r} is not {what} ({choices})")
    return value


class NightrunResource(dg.ConfigurableResource):
    """Settings every stage shares. Paths are made absolute when the code location loads."""

    root: str = Field(description="Artifact root ($NIGHTRUN_ROOT): queue/, assets/, runs/.")
    assets_root: str | None = Field(
        default=None, description="Where job asset paths point; default <root>/assets."
    )
    # None until asked: the folder is read from the environment each time, so a code location
    # loaded before $NIGHTRUN_WORKFLOWS_DIR was set (the demo sets it) still finds it.
    workflows_dir: str | None = Field(
        default=None,
        description=(
            "Folder of ComfyUI workflow templates; default $NIGHTRUN_WORKFLOWS_DIR or the "
            "project's workflows/."
        ),
    )
    cap: int = Field(default=SpecLimits.cap, description="Variants per job per night.")
    deep_search_ceiling: int = Field(
        default=SpecLimits.deep_search_ceiling,
        description="Highest cap a job may ask for with generation.deep_search.",
    )
    sweep_ceiling: int = Field(
        default=SpecLimits.sweep_ceiling, description="Largest full sweep a job may declare."
    )
    max_renders_per_night: int = Field(
        default=DEFAULT_MAX_RENDERS_PER_NIGHT, description="Renders shared by all jobs a night."
    )
    queue_settle_seconds: float = Field(
        default=5.0, description="Queue files younger than this are left for the next tick."
    )
    mode_override: str = Field(
        default="",
        description=(
            "Run mode the 22:45 warm-up schedule tags every night with (exploration, "
            "exploitation or maintenance); empty: by weekday (Mon–Thu, Fri/Sat, Sun)."
        ),
    )

    plan_basis: str = Field(
        default="",
        description=(
            f"How night_plan shares the night: 'time' (GPU seconds at measured render costs, "
            f"the default) or 'count' (max_renders_per_night by priority, blind to time); "
            f"empty: ${PLAN_BASIS_ENV}, else 'time'."
        ),
    )

    @field_validator("plan_basis")
    @classmethod
    def _known_basis(cls, value: str) -> str:
        return one_of(value, PlanBasis, "plan_basis", "a plan basis")

    def basis(self) -> PlanBasis:
        """The configured basis, else $NIGHTRUN_PLAN_BASIS, else time."""
        raw = self.plan_basis or os.environ.get(PLAN_BASIS_ENV, "") or PlanBasis.TIME.value
        try:
            return PlanBasis(raw)
        except ValueError:
            allowed = ", ".join(b.value for b in PlanBasis)
            raise ValueError(f"${PLAN_BASIS_ENV}={raw!r} is not a plan basis ({allowed})") from None

    @field_validator("mode_override")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        return one_of(value, RunMode, "mode_override", "a run mode")

    def tree(self) -> Tree:
        return Tree(Path(self.root))

    def intake(self) -> Intake:
        assets = Path(self.assets_root) if self.assets_root else self.tree().assets
        limits = SpecLimits(self.cap, self.deep_search_ceiling, self.sweep_ceiling)
        workflows = Path(self.workflows_dir) if self.workflows_dir else default_workflows_dir()
        return Intake(assets_root=assets, workflows_dir=workflows, limits=limits)


# The Dagster pool of every step that sends prompts to ComfyUI (the warm-up's preload, the
# renders). Its limit is four per endpoint (dagster.yaml says why): one step rendering, the next
# ones connected and ready to take the GPU turn (night.gpu_turn) the moment the first has
# submitted its last prompt.
GPU_POOL = "comfyui_gpu"
COMFYUI_URL_ENV = "COMFYUI_URL"
DEFAULT_COMFYUI_URL = "http://127.0.0.1:8188"
APPROVER_IDS_ENV = "TELEGRAM_APPROVER_IDS"


def list_setting(value: Any, field: str, env: str) -> tuple[Any, str]:
    """A list setting's value and the name an error gives it: unset means $`env`; a string, the
    form the variable takes (and which Python callers may pass too), is split on commas."""
    source = field
    if value in (None, "", []):
        value, source = os.environ.get(env, ""), f"${env}"
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    return value, source


class ComfyUIResource(dg.ConfigurableResource):
    """The ComfyUI servers, one per GPU, and how patiently to talk to them."""

    urls: list[str] = Field(
        default=[],
        validate_default=True,
        description=(
            f"ComfyUI base URLs, one per GPU; default ${COMFYUI_URL_ENV} (comma-separated), "
            f"else {DEFAULT_COMFYUI_URL}. A comma-separated string is accepted too."
        ),
    )
    queue_ahead: int = Field(
        default=2, description="Prompts kept queued on a server behind the running one."
    )
    stall_timeout_s: float = Field(
        default=300.0, description="Seconds without progress before a prompt is interrupted."
    )
    request_timeout_s: float = Field(default=30.0, description="Timeout of one HTTP call.")
    poll_s: float = Field(default=3.0, description="History poll interval (websocket fallback).")
    unavailable_timeout_s: float = Field(
        default=120.0,
        description="Back-off budget to reach a server that has not answered yet (a run's start).",
    )
    outage_patience_s: float = Field(
        default=600.0,
        description=(
            "How long one outage (the server answered, then stopped: a restart) is waited out "
            "before the restart_loop breaker trips; the loop then asks about every prompt it had."
        ),
    )
    backoff_max_s: float = Field(
        default=30.0, description="Most seconds between tries while a server is unreachable."
    )

    @field_validator("urls", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        value, source = list_setting(value, "urls", COMFYUI_URL_ENV)
        if not isinstance(value, list):
            return value  # pydantic says which type it wanted
        if not value:
            if source == "urls":
                raise ValueError("urls: give at least one ComfyUI URL")
            return [DEFAULT_COMFYUI_URL]
        urls = [str(url).strip().rstrip("/") for url in value]
        for url in urls:
            # httpx would refuse it only at the first request, with a less helpful message.
            if not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"{source}: {url!r} is not a ComfyUI URL: give the whole URL, like http://{url}"
                )
        return urls

    def endpoints(self) -> list[str]:
        return list(self.urls)

    def timeouts(self) -> Timeouts:
        return Timeouts(
            request=self.request_timeout_s,
            stall=self.stall_timeout_s,
            poll=self.poll_s,
            unavailable=self.unavailable_timeout_s,
        )


DEFAULT_TELEGRAM_API_BASE_URL = "https://api.telegram.org/bot"


class TelegramResource(dg.ConfigurableResource):
    """The review chat on Telegram. Empty token, chat or key: Telegram is off (CLI approvals
    still work). Secrets come from environment variables and never reach logs or metadata."""

    token: str = Field(default="", description="Bot token ($TELEGRAM_BOT_TOKEN).")
    signing_key: str = Field(
        default="", description="HMAC key for buttons ($NIGHTRUN_SIGNING_KEY)."
    )
    review_chat_id: int = Field(default=0, description="Chat where candidates are reviewed.")
    approver_ids: list[int] = Field(
        default=[],
        validate_default=True,
        description=(
            f"Telegram user ids allowed to decide; default ${APPROVER_IDS_ENV} "
            "(comma-separated). A comma-separated string is accepted too."
        ),
    )
    # Resolved when the resource is built, so every Bot API call (review, sensor, summary,
    # alerts) goes to the same server.
    base_url: str | None = Field(
        default=None,
        validate_default=True,
        description=(
            "Bot API base URL up to and including `/bot` (your own Bot API server, or one in "
            f"tests); default $TELEGRAM_API_BASE_URL, else {DEFAULT_TELEGRAM_API_BASE_URL}."
        ),
    )
    per_message_delay_s: float = Field(
        default=1.0, description="Pause between messages (flood limits)."
    )
    review_days: float = Field(default=7.0, description="How long buttons stay valid.")
    poll_timeout_s: int = Field(
        default=5, description="getUpdates long-poll, well inside a sensor tick."
    )
    poll_budget_s: float = Field(
        default=DEFAULT_BUDGET_S,
        description=(
            "Seconds one approval_sensor tick may spend on Telegram (Dagster stops a tick at "
            "60 s); taps left over are handled by the next tick."
        ),
    )

    @field_validator("approver_ids", mode="before")
    @classmethod
    def _approver_ids(cls, value: Any) -> Any:
        value, source = list_setting(value, "approver_ids", APPROVER_IDS_ENV)
        if not isinstance(value, list):
            return value
        ids = []
        for item in value:
            try:
                ids.append(int(item))
            except (TypeError, ValueError):
                raise ValueError(
                    f"{source}: {item!r} is not a Telegram user id (whole numbers, comma-separated)"
                ) from None
        return ids

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url_from_env(cls, value: str | None) -> str:
        return value or os.environ.get("TELEGRAM_API_BASE_URL") or DEFAULT_TELEGRAM_API_BASE_URL

    def enabled(self) -> bool:
        return bool(self.token and self.signing_key and self.review_chat_id)

    def approvers(self) -> set[int]:
        return set(self.approver_ids)
