"""The render loop: every pending variant rendered exactly once, with the GPU never idle.

Each endpoint (one per GPU) gets a worker that keeps `queue_ahead` prompts queued on the server
behind the running one, so downloads and sidecar writes overlap the next render, and never more
(the server's queue is lost on restart). A variant is submitted under a prompt id recorded on
disk first; after a crash, even `kill -9`, the next run asks the server about that id and
harvests, waits for, or resubmits it, so no variant is rendered twice.

A `LoopGuard` (the circuit breakers and the night's clock, wired in by the Dagster layer) sees
every event and is asked before every submit; once it says stop, nothing more is submitted,
prompts still waiting in the server's queue are taken back, and what is running finishes.

A server that answered and then stops answering (a restart: connection refused or reset, a
proxy's 502/503) is an outage, not a failure: the loop waits with capped back-off for as long as
`outage_patience` allows, then asks the server about every prompt it had (harvest, wait or
resubmit, as after a crash) and carries on. A websocket drop alone is no outage (the client
reconnects and polls meanwhile). Outages are shown to the guard (`LoopEvent.OUTAGE_STARTED`,
`_ENDED`, `_TOO_LONG`), which trips `restart_loop` on too many of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from nightrun_dagster.comfy.client import ComfyClient, Outcome, Timeouts
from nightrun_dagster.comfy.errors import (
    ComfyError,
    ComfyExecutionError,
    ComfyInterrupted,
    ComfyLost,
    ComfyMissingModel,
    ComfyMissingNode,
    ComfyOOM,
    ComfyProtocolError,
    ComfyStalled,
    ComfyUnavailable,
    ComfyValidationError,
)
from nightrun_dagster.comfy.harvest import harvest
from nightrun_dagster.store.night_records import BlockedRecord, write_blocked
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.variant_docs import (
    Submitted,
    VariantParams,
    clear_submitted,
    read_prompt,
    write_params,
    write_prompt,
    write_submitted,
)
from nightrun_dagster.store.variant_state import (
    RenderStatus,
    clear_partial_downloads,
    is_complete,
    read_params,
    submitted_record,
)

# Upload naming lives with the templates (validation fills graphs without a server); these
# names stay importable from here, where the render loop's callers have always found them.
from nightrun_dagster.workflows.uploads import UPLOAD_PREFIX, upload_name
from nightrun_dagster.workflows.uploads import planned_uploads as planned_uploads
from nightrun_dagster.workflows.uploads import upload_subfolder as upload_subfolder

# (params, degrade rung index, uploaded input names) -> API-format graph
GraphBuilder = Callable[[dict[str, Any], int, Mapping[str, str]], dict[str, Any]]


class AttemptResult(StrEnum):
    """How one prompt ended: a `RenderReport.outcomes` key and an attempt's `result` on disk."""

    OK = "ok"
    OOM = "oom"
    STALLED = "stalled"
    LOST = "lost"
    LOST_IN_OUTAGE = "lost in an outage"  # counted as LOST, but no retry is spent on it
    INTERRUPTED = "interrupted"
    ERROR = "error"


class LoopEvent(StrEnum):
    """What a guard observes; `value` is the latency (RENDERED) or the count (BACKLOG)."""

    OOM = "oom"
    RENDERED = "rendered"
    VARIANT_FAILED = "variant_failed"
    BACKLOG = "backlog"
    OUTAGE_STARTED = "outage_started"  # the server stopped answering (it had answered before)
    OUTAGE_ENDED = "outage_ended"  # value: how long it lasted, seconds
    OUTAGE_TOO_LONG = "outage_too_long"  # value: the patience it outlasted, seconds


@dataclass(frozen=True)
class RenderSettings:
    queue_ahead: int = 2  # prompts waiting on the server behind the running one
    degrade_rungs: tuple[str, ...] = ("none",)  # names; index = rung passed to the builder
    max_lost_resubmits: int = 3
    max_stall_retries: int = 1
    max_interrupted_retries: int = 1
    # Back-off budget to reach a server that has not answered yet in this run (the start).
    unavailable_timeout: float = 120.0
    # How long one outage (the server answered, then stopped) is waited out before giving up.
    outage_patience: float = 600.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0  # the most seconds between tries at an unreachable server
    delete_history_after_harvest: bool = True
    # The zone of clock times in notices (the night's zone; the loop knows no nights).
    clock_tz: tzinfo = UTC

    def retry_limits(self) -> dict[AttemptResult, int]:
        """How often a variant is resubmitted after each retried kind of failure."""
        return {
            AttemptResult.LOST: self.max_lost_resubmits,
            AttemptResult.STALLED: self.max_stall_retries,
            AttemptResult.INTERRUPTED: self.max_interrupted_retries,
        }


class JobBlocked(Exception):
    """A model or node class is missing on the server: no variant of this job can render."""

    def __init__(self, reason: str, models: list[str], nodes: list[str]) -> None:
        super().__init__(reason)
        self.models = models
        self.nodes = nodes


class RenderUnavailable(Exception):
    """The server could not be reached at the start, or an outage outlasted the patience."""


log = logging.getLogger(__name__)


class Stop(Protocol):
    """Why a render loop stopped submitting (the guard's own type; night.guard.Halt)."""

    @property
    def kind(self) -> str: ...  # an night.guard.StopKind: breaker, latched or window

    @property
    def reason(self) -> str: ...

    @property
    def drain(self) -> bool: ...  # stopped ahead of its deadline: what is queued still runs


class LoopGuard(Protocol):
    def before_submit(self, queued: int = 0) -> Stop | None: ...  # `queued`: ours ahead of it

    def starts_at(self, queued: int = 0) -> datetime: ...  # when a prompt submitted now starts

    def observe(self, event: LoopEvent, value: float = 0.0) -> Stop | None: ...


class SubmitTurn(Protocol):
    """The night's turn to submit (night.gpu_turn.GpuTurn): runs of several jobs may be ready at
    once, but only the holder submits; it hands the turn on once it has nothing left to submit,
    so the next job's prompts queue behind its last ones and the GPU never waits for a run."""

    async def acquire(self, give_up: Callable[[], bool]) -> bool: ...

    def release(self, busy_until: datetime | None = None) -> None: ...


class GpuProbe(Protocol):
    """GPU telemetry for one endpoint: NVML where the GPU is local, else /system_stats."""

    def sample_nvml(self) -> dict[str, Any] | None: ...

    def from_system_stats(self, stats: dict[str, Any]) -> dict[str, Any]: ...  # ValueError


class _Stopped(Exception):
    """A submit gave up because the guard said stop."""


class _GiveUp(Exception):
    """The endpoint's outage outlasted the patience, or the run stopped during one: the loop
    leaves what it had on the server to the next run (submitted.json stays)."""


@dataclass
class _Work:
    variant_id: str
    params: dict[str, Any]
    rung: int = 0
    retries: Counter[AttemptResult] = field(default_factory=Counter)  # LOST, STALLED, …
    resume: Submitted | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    rejoin: bool = False  # `resume` is this run's own prompt, asked about again after an outage
    outages_seen: int = 0  # the client's outage count when it was submitted


# A waiting task -> (its variant, its prompt id, when it was submitted)
_InFlight = dict[asyncio.Task[Outcome], tuple[_Work, str, float]]


@dataclass
class RenderReport:
    total: int = 0
    skipped: int = 0  # complete before this run
    rendered: int = 0
    resumed: int = 0  # harvested or awaited from a previous run's prompt
    failed: dict[str, str] = field(default_factory=dict)
    outcomes: Counter[AttemptResult] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # submit -> done, seconds
    server_seconds: float = 0.0
    first_submit: float | None = None
    last_harvest: float | None = None
    stopped: Stop | None = None
    taken_back: int = 0  # queued on the server when the loop stopped, withdrawn unrendered
    gpu_samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def wall_seconds(self) -> float:
        if self.first_submit is None or self.last_harvest is None:
            return 0.0
        return self.last_harvest - self.first_submit

    @property
    def duty_cycle(self) -> float | None:
        wall = self.wall_seconds
        return self.server_seconds / wall if wall > 0 else None

    @property
    def mean_latency(self) -> float | None:
        return sum(self.latencies) / len(self.latencies) if self.latencies else None


ProgressFn = Callable[[RenderReport, int], None]  # (report so far, variants still to do)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _clock(at: datetime | None, tz: tzinfo) -> str:
    return (at or datetime.now(UTC)).astimezone(tz).strftime("%H:%M:%S")


class _Worker:
    """One endpoint's loop."""

    def __init__(self, run: RenderRun, url: str) -> None:
        self.run = run
        self.url = url
        # A prompt's `wait` hands an outage to the loop after one back-off step at most: the
        # loop logs it, holds it to the patience and asks again about every prompt it had.
        unavailable = min(run.timeouts.unavailable, run.settings.backoff_max)
        self.client = ComfyClient(url, timeouts=replace(run.timeouts, unavailable=unavailable))
        self.uploads: dict[str, str] = {}
        self.server: dict[str, Any] = {}
        self.probe = run.gpu_probe(url) if run.gpu_probe else None
        self.withdrawn = False
        self.client.on_reachability = self._reachability
        self._riding = asyncio.Lock()  # one wait per outage; the others find the server back

    # ------------------------------------------------------------------ outages
    def _reachability(self, up: bool) -> None:
        run, client = self.run, self.client
        if not up:
            run.observe(LoopEvent.OUTAGE_STARTED)
            since = _clock(client.down_since_wall, run.settings.clock_tz)
            run.notice(
                f"ComfyUI at {self.url} unreachable since {since}, "
                f"waiting ({run.settings.outage_patience:.0f} s of patience left)"
            )
            return
        lasted = time.monotonic() - client.down_since if client.down_since is not None else 0.0
        run.observe(LoopEvent.OUTAGE_ENDED, lasted)
        run.notice(
            f"ComfyUI at {self.url} answers again after {lasted:.0f} s: asking it about the "
            "prompts it had"
        )

    async def ride_out(self) -> bool:
        """Wait with capped back-off until the server answers again; True when it had to wait.
        Raises _GiveUp once the outage outlasts the patience (shown to the guard first) or the
        run stopped meanwhile."""
        run, settings = self.run, self.run.settings
        async with self._riding:
            delay = settings.backoff_initial
            started = time.monotonic()
            waited = False
            while True:
                try:
                    await self.client.system_stats()
                    return waited
                except ComfyProtocolError:
                    return waited  # it answers, if oddly: not an outage
                except ComfyUnavailable:
                    pass
                if run.stopped is not None:  # what it had is asked about by the next run
                    raise _GiveUp(f"{self.url}: stopped while ComfyUI was unreachable")
                since = self.client.down_since or started
                left = settings.outage_patience - (time.monotonic() - since)
                down_at = _clock(self.client.down_since_wall, settings.clock_tz)
                if left <= 0:
                    run.observe(LoopEvent.OUTAGE_TOO_LONG, settings.outage_patience)
                    raise _GiveUp(
                        f"{self.url}: ComfyUI unreachable since {down_at}, longer than the "
                        f"outage patience ({settings.outage_patience:g} s)"
                    )
                run.notice(
                    f"ComfyUI at {self.url} unreachable since {down_at}, waiting "
                    f"({left:.0f} s of patience left)"
                )
                waited = True
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, settings.backoff_max)

    async def reachable(self, call: Callable[[], Any], what: str, *, submit: bool = False) -> Any:
        """Run `call`, riding out outages. A submit also retries a /prompt that answers oddly
        (with back-off, within the patience), and gives up with `_Stopped` once the run stops."""
        settings = self.run.settings
        retryable: tuple[type[ComfyError], ...] = (ComfyUnavailable,)
        if submit:
            retryable = (ComfyUnavailable, ComfyProtocolError)
        delay = settings.backoff_initial
        first_failure: float | None = None
        while True:
            try:
                return await call()
            except retryable as exc:
                first_failure = first_failure or time.monotonic()
                if submit and self.run.stopped is not None:
                    raise _Stopped from exc
                if await self.ride_out():
                    continue
                # The server answers; this call does not (a sick /prompt): back off.
                if time.monotonic() - first_failure > settings.outage_patience:
                    self.run.observe(LoopEvent.OUTAGE_TOO_LONG, settings.outage_patience)
                    raise _GiveUp(
                        f"{what}: failing for {settings.outage_patience:g} s ({exc})"
                    ) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, settings.backoff_max)

    def park(self, work: _Work) -> None:
        """A variant submitted here that this run leaves on the server: the next run asks."""
        work.resume = submitted_record(self.run.job_dir, work.variant_id) or None
        work.rejoin = False
        if work.resume is None:
            self.run.retry(work)
        else:
            self.run.requeue(self.url, work)

    async def connect(self) -> None:
        await self.client.__aenter__()
        await self.run.retry_unavailable(self.client.open_socket, f"connect to {self.url}")
        stats = await self.run.retry_unavailable(self.client.system_stats, "read /system_stats")
        system = stats.get("system", {})
        devices = stats.get("devices") or [{}]
        self.server = {
            "endpoint": self.url,
            "comfyui_version": system.get("comfyui_version"),
            "device": devices[0].get("name"),
        }
        for rel, path in self.run.inputs.items():
            self.uploads[rel] = await self.run.retry_unavailable(
                lambda p=path, r=rel: self.client.upload_image(
                    p, name=upload_name(r), subfolder=self.run.upload_subfolder
                ),
                f"upload {rel}",
            )

    async def backlog(self) -> int:
        """What waits for this GPU: our variants not yet submitted plus the server's queue."""
        queued = await self.run.retry_unavailable(self.client.queue, "read /queue")
        return self.run.waiting() + len(queued.pending)

    async def loop(self) -> None:
        in_flight: _InFlight = {}
        harvesting: dict[asyncio.Task[None], _Work] = {}
        try:
            while True:
                while len(in_flight) < 1 + self.run.settings.queue_ahead:
                    work = self.run.next_work(self.url, queued=len(in_flight))
                    if work is None:
                        break
                    started = await self.start(work)
                    if started is not None:
                        in_flight[started[0]] = (work, started[1], time.monotonic())
                if self.run.must_withdraw() and not self.withdrawn:
                    await self.withdraw(in_flight)
                if not in_flight:
                    break
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    work, prompt_id, t0 = in_flight.pop(task)
                    h = await self.finish(task, work, prompt_id, t0)
                    if h is not None:
                        harvesting[h] = work
                for h in [h for h in harvesting if h.done()]:
                    h.result()  # a failed harvest stops the run with its error
                    harvesting.pop(h)
            if harvesting:
                await asyncio.gather(*harvesting)
        except _GiveUp as exc:
            harvested = [h for h in harvesting if h.done() and not h.exception()]
            for task in list(in_flight) + list(harvesting):
                task.cancel()
            unfinished = [w for h, w in harvesting.items() if h not in harvested]
            for work in [w for w, _, _ in in_flight.values()] + unfinished:
                self.park(work)
            if self.run.stopped is None:
                raise RenderUnavailable(str(exc)) from None
            # Stopped by a breaker: the run ends with what it has; the rest is left for later.
        except BaseException:
            for task in list(in_flight) + list(harvesting):
                task.cancel()
            # Leave nothing of ours queued on the GPU when we stop early.
            with contextlib.suppress(ComfyError, RuntimeError):
                await self.client.delete_from_queue([pid for _, pid, _ in in_flight.values()])
            raise
        finally:
            await self.client.close()

    async def withdraw(self, in_flight: _InFlight) -> None:
        """Once stopped, take back prompts still waiting in the server's queue: only what is
        running finishes. They stay unrendered, as if never submitted."""
        self.withdrawn = True
        try:
            queued = await self.client.queue()
        except ComfyError:
            return  # can't tell what is waiting: let everything finish
        waiting = {t: v for t, v in in_flight.items() if v[1] in queued.pending}
        if not waiting:
            return
        with contextlib.suppress(ComfyError):
            await self.client.delete_from_queue([pid for _, pid, _ in waiting.values()])
        for task, (work, _, _) in waiting.items():
            task.cancel()
            in_flight.pop(task)
            self.run.take_back(work)

    async def start(self, work: _Work) -> tuple[asyncio.Task[Outcome], str] | None:
        """Submit (or resume) one variant; returns its waiting task."""
        run = self.run
        if work.resume is not None:
            prompt_id = work.resume.prompt_id
            work.resume = None
            if work.rejoin:
                work.rejoin = False  # asked about again after an outage: not a resume
            else:
                run.report.resumed += 1
                work.outages_seen = self.client.outages
            run.mark_first_submit()
            return asyncio.create_task(self.client.wait(prompt_id)), prompt_id
        try:
            graph = run.build(work.params, work.rung, self.uploads)
        except Exception as exc:  # a builder bug or a job the template cannot take
            run.fail(work, f"cannot build the graph: {exc}")
            return None
        prompt_id = str(uuid.uuid4())
        variant = run.job_dir.variant_dir(work.variant_id)
        write_prompt(variant, graph)
        write_submitted(
            variant,
            Submitted(
                prompt_id=prompt_id,
                endpoint=self.url,
                rung=work.rung,
                attempt=len(work.attempts) + 1,
                submitted_at=_now_iso(),
            ),
        )
        work.outages_seen = self.client.outages
        try:
            await self.reachable(
                lambda: self.client.submit(
                    graph, prompt_id=prompt_id, extra_data={"nightrun": work.variant_id}
                ),
                f"submit {work.variant_id}",
                submit=True,
            )
        except _Stopped:
            run.take_back(work)
            return None
        except _GiveUp:
            clear_submitted(run.job_dir.variant_dir(work.variant_id))
            run.retry(work)
            raise
        except (ComfyMissingModel, ComfyMissingNode) as exc:
            raise run.block(exc) from exc
        except ComfyValidationError as exc:
            run.fail(work, f"rejected by the server: {exc}")
            return None
        run.mark_first_submit()
        work.attempts.append({"prompt_id": prompt_id, "endpoint": self.url, "rung": work.rung})
        return asyncio.create_task(self.client.wait(prompt_id)), prompt_id

    async def finish(
        self, task: asyncio.Task[Outcome], work: _Work, prompt_id: str, t0: float
    ) -> asyncio.Task[None] | None:
        run = self.run
        try:
            outcome = task.result()
        except ComfyOOM:
            run.report.outcomes[AttemptResult.OOM] += 1
            run.observe(LoopEvent.OOM)
            self._note(work, prompt_id, AttemptResult.OOM)
            with contextlib.suppress(ComfyError):
                await self.client.free()
            work.rung += 1
            if work.rung >= len(run.settings.degrade_rungs):
                run.fail(work, "out of memory on every rung of the degrade ladder")
            else:
                run.retry(work)
            return None
        except ComfyStalled as exc:
            self._retry_or_fail(work, prompt_id, AttemptResult.STALLED, str(exc))
            return None
        except ComfyLost:
            if run.completed_elsewhere(work):
                return None  # another run of this job harvested the prompt we were waiting on
            if self.client.outages != work.outages_seen:
                # The server went away with it (a restart): not the variant's fault, no retry
                # spent; resubmitted under a new prompt id.
                run.report.outcomes[AttemptResult.LOST] += 1
                self._note(work, prompt_id, AttemptResult.LOST_IN_OUTAGE)
                work.outages_seen = self.client.outages
                run.retry(work)
                return None
            self._retry_or_fail(
                work, prompt_id, AttemptResult.LOST, "lost by the server too many times"
            )
            return None
        except ComfyInterrupted:
            self._retry_or_fail(
                work, prompt_id, AttemptResult.INTERRUPTED, "interrupted at the server"
            )
            return None
        except ComfyExecutionError as exc:
            run.report.outcomes[AttemptResult.ERROR] += 1
            self._note(work, prompt_id, AttemptResult.ERROR)
            run.fail(work, str(exc))
            return None
        except ComfyUnavailable:
            # `wait` gave up polling an unreachable server: wait the outage out, then ask the
            # server about this prompt again (harvest, wait, or resubmit if it is lost).
            work.resume, work.rejoin = Submitted(prompt_id=prompt_id), True
            run.requeue(self.url, work)
            await self.ride_out()
            return None
        elapsed = time.monotonic() - t0
        return asyncio.create_task(self.complete(work, outcome, elapsed))

    def _retry_or_fail(
        self, work: _Work, prompt_id: str, outcome: AttemptResult, reason: str
    ) -> None:
        """Resubmit while this kind of failure is under its limit, then give the variant up."""
        self.run.report.outcomes[outcome] += 1
        self._note(work, prompt_id, outcome)
        work.retries[outcome] += 1
        if work.retries[outcome] <= self.run.settings.retry_limits()[outcome]:
            self.run.retry(work)
        else:
            self.run.fail(work, reason)

    def _note(self, work: _Work, prompt_id: str, result: AttemptResult) -> None:
        for attempt in work.attempts:
            if attempt["prompt_id"] == prompt_id:
                attempt["result"] = result

    async def complete(self, work: _Work, outcome: Outcome, elapsed: float) -> None:
        run = self.run
        while True:
            try:
                got = await harvest(self.client, outcome, run.job_dir, work.variant_id)
                break
            except ComfyUnavailable:
                await self.ride_out()  # the files stay on the server's disk across a restart
        self._note(work, outcome.prompt_id, AttemptResult.OK)
        rung = run.settings.degrade_rungs[min(work.rung, len(run.settings.degrade_rungs) - 1)]
        params: dict[str, Any] = dict(work.params)
        params["render"] = {
            "status": RenderStatus.OK,
            "prompt_id": outcome.prompt_id,
            "endpoint": self.url,
            "attempt": max(1, len(work.attempts)),
            "attempts": work.attempts,
            "degrade_rung": rung,
            "degrade_level": work.rung,
            "elapsed_s": round(elapsed, 3),
            "server_s": outcome.server_seconds,
            "cached_nodes": (
                list(outcome.cached_nodes) if outcome.cached_nodes is not None else None
            ),
            "outputs": got.outputs,
            "models": run.models_of(work),
            "rendered_at": _now_iso(),
        }
        params["server"] = self.server
        gpu = await self.sample_gpu()
        if gpu is not None:
            params["gpu"] = gpu
            run.report.gpu_samples.append(gpu)
        write_params(run.job_dir.variant_dir(work.variant_id), VariantParams.model_validate(params))
        if run.settings.delete_history_after_harvest:
            with contextlib.suppress(ComfyError):
                await self.client.delete_history([outcome.prompt_id])
        run.done(work, outcome, elapsed)

    async def sample_gpu(self) -> dict[str, Any] | None:
        if self.probe is None:
            return None
        sample = self.probe.sample_nvml()
        if sample is not None:
            return sample
        try:
            return self.probe.from_system_stats(await self.client.system_stats())
        except (ComfyError, ValueError):
            return None  # telemetry never costs a render


class RenderRun:
    """Renders a set of variants of one job folder across endpoints."""

    def __init__(
        self,
        job_dir: JobDir,
        variant_ids: Sequence[str],
        endpoints: Sequence[str],
        build: GraphBuilder,
        *,
        inputs: Mapping[str, Path] | None = None,
        upload_subfolder: str = UPLOAD_PREFIX,
        settings: RenderSettings | None = None,
        timeouts: Timeouts | None = None,
        models_of: Callable[[dict[str, Any]], dict[str, Any]] | None = None,  # graph -> models
        on_progress: ProgressFn | None = None,
        on_notice: Callable[[str], None] | None = None,  # outages; default: this module's log
        guard: LoopGuard | None = None,
        gpu_probe: Callable[[str], GpuProbe] | None = None,  # endpoint URL -> probe
        turn: SubmitTurn | None = None,
        on_turn: Callable[[], None] | None = None,  # the turn was taken: submitting starts
    ) -> None:
        if not endpoints:
            raise ValueError("at least one ComfyUI endpoint is needed")
        self.job_dir = job_dir
        self.variant_ids = list(variant_ids)
        self.endpoints = list(endpoints)
        self.build = build
        self.inputs = dict(inputs or {})
        self.upload_subfolder = upload_subfolder
        self.settings = settings or RenderSettings()
        self.timeouts = timeouts or Timeouts()
        self._models_of = models_of
        self.on_progress = on_progress
        self.on_notice = on_notice
        self.guard = guard
        self.gpu_probe = gpu_probe
        self.turn = turn
        self.on_turn = on_turn
        self.report = RenderReport()
        self._pending: deque[_Work] = deque()
        self._resume: dict[str, deque[_Work]] = {url: deque() for url in self.endpoints}

    # ------------------------------------------------------------------ bookkeeping
    def models_of(self, work: _Work) -> dict[str, Any]:
        """What the graph actually sent loads (read back from prompt.json after a resume)."""
        if not self._models_of:
            return {}
        return self._models_of(read_prompt(self.job_dir.variant_dir(work.variant_id)))

    def mark_first_submit(self) -> None:
        if self.report.first_submit is None:
            self.report.first_submit = time.monotonic()

    @property
    def stopped(self) -> Stop | None:
        return self.report.stopped

    def stop(self, why: Stop, queued: int = 0) -> None:
        if self.report.stopped is None:
            self.report.stopped = why
        self.hand_on(queued if why.drain else 0)

    def hand_on(self, queued: int = 0) -> None:
        """Nothing more to submit (for now): the next job's run may queue its prompts, behind
        the `queued` ones of ours (its share of the slice starts when they are done)."""
        if self.turn is not None:
            busy = self.guard.starts_at(queued) if self.guard is not None and queued else None
            self.turn.release(busy_until=busy)

    def must_withdraw(self) -> bool:
        """Stopped, and what still waits in the server's queue is to be taken back: a breaker,
        or a deadline already passed (a stop ahead of the deadline lets the queue run, unless
        the deadline came before it drained)."""
        stopped = self.report.stopped
        if stopped is None:
            return False
        if not stopped.drain or self.guard is None:
            return True
        now = self.guard.before_submit()
        return now is not None and not now.drain

    async def take_turn(self) -> None:
        """Wait until this run may submit (see SubmitTurn); the guard is asked meanwhile, so a
        run whose time is up while it waits submits nothing."""
        if self.turn is None:
            return

        def give_up() -> bool:
            if (
                self.report.stopped is None
                and self.guard is not None
                and (why := self.guard.before_submit()) is not None
            ):
                self.stop(why)
            return self.report.stopped is not None

        if await self.turn.acquire(give_up) and self.on_turn is not None:
            self.on_turn()

    def observe(self, event: LoopEvent, value: float = 0.0) -> None:
        if self.guard is not None and (why := self.guard.observe(event, value)) is not None:
            self.stop(why)

    def notice(self, message: str) -> None:
        if self.on_notice is not None:
            self.on_notice(message)
        else:
            log.warning(message)

    def waiting_ids(self) -> list[str]:
        """Variants of this run not on the server (after a stop: what is left), sorted."""
        queues = [self._pending, *self._resume.values()]
        return sorted(w.variant_id for q in queues for w in q)

    def waiting(self) -> int:
        return len(self.waiting_ids())

    def take_back(self, work: _Work) -> None:
        """A variant that will not be rendered in this run after all (the loop stopped)."""
        self.report.taken_back += 1
        clear_submitted(self.job_dir.variant_dir(work.variant_id))
        work.resume = None
        self._pending.appendleft(work)

    def next_work(self, url: str, queued: int = 0) -> _Work | None:
        """The next variant to submit to `url` (behind `queued` of ours there), or None."""
        if (
            self.report.stopped is None
            and self.guard is not None
            and (why := self.guard.before_submit(queued)) is not None
        ):
            self.stop(why, queued)
        if self.report.stopped is not None:
            return None
        own = self._resume.get(url)
        if own:
            return own.popleft()
        if self._pending:
            return self._pending.popleft()
        if not any(self._resume.values()):
            self.hand_on(queued)
        return None

    def retry(self, work: _Work) -> None:
        self._pending.appendleft(work)

    def completed_elsewhere(self, work: _Work) -> bool:
        """The variant is complete on disk after all (another run of the job rendered it):
        counted as already done."""
        try:
            params = read_params(self.job_dir, work.variant_id)
        except (OSError, ValueError):
            return False
        if not is_complete(self.job_dir, work.variant_id, params):
            return False
        self.report.skipped += 1
        if self.on_progress:
            self.on_progress(self.report, self.remaining())
        return True

    def requeue(self, url: str, work: _Work) -> None:
        """Ask `url` about the variant's prompt (work.resume) before anything new."""
        self._resume.setdefault(url, deque()).appendleft(work)

    def remaining(self) -> int:
        done = self.report.rendered + len(self.report.failed) + self.report.skipped
        return self.report.total - done

    def done(self, work: _Work, outcome: Outcome, elapsed: float) -> None:
        r = self.report
        r.rendered += 1
        r.outcomes[AttemptResult.OK] += 1
        r.latencies.append(elapsed)
        r.server_seconds += outcome.server_seconds or 0.0
        r.last_harvest = time.monotonic()
        self.observe(LoopEvent.RENDERED, elapsed)
        if self.on_progress:
            self.on_progress(r, self.remaining())

    def fail(self, work: _Work, reason: str) -> None:
        self.report.failed[work.variant_id] = reason
        params: dict[str, Any] = dict(work.params)
        params["render"] = {
            "status": RenderStatus.FAILED,
            "error": reason,
            "attempts": work.attempts,
            "failed_at": _now_iso(),
        }
        write_params(
            self.job_dir.variant_dir(work.variant_id), VariantParams.model_validate(params)
        )
        self.observe(LoopEvent.VARIANT_FAILED)
        if self.on_progress:
            self.on_progress(self.report, self.remaining())

    def block(self, exc: ComfyMissingModel | ComfyMissingNode) -> JobBlocked:
        models = [m.name for m in exc.models] if isinstance(exc, ComfyMissingModel) else []
        nodes = list(exc.classes) if isinstance(exc, ComfyMissingNode) else []
        write_blocked(
            self.job_dir,
            BlockedRecord(
                reason=str(exc), missing_models=models, missing_nodes=nodes, blocked_at=_now_iso()
            ),
        )
        return JobBlocked(str(exc), models, nodes)

    async def retry_unavailable(self, call: Callable[[], Any], what: str) -> Any:
        """Run `call`, backing off while a server that has not answered yet in this run is
        unreachable, up to `unavailable_timeout` (the start; later outages: `_Worker.ride_out`)."""
        delay = self.settings.backoff_initial
        deadline = time.monotonic() + self.settings.unavailable_timeout
        while True:
            try:
                return await call()
            except ComfyUnavailable as exc:
                if time.monotonic() + delay > deadline:
                    raise RenderUnavailable(
                        f"{what}: ComfyUI unreachable for {self.settings.unavailable_timeout:.0f} s"
                        f" ({exc})"
                    ) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.backoff_max)

    # ------------------------------------------------------------------ run
    def _plan(self) -> None:
        self._pending.clear()
        for queue in self._resume.values():
            queue.clear()
        self.report.total = self.report.skipped = 0
        for vid in self.variant_ids:
            self.report.total += 1
            params = read_params(self.job_dir, vid)
            if is_complete(self.job_dir, vid, params):
                self.report.skipped += 1
                continue
            clear_partial_downloads(self.job_dir, vid)
            work = _Work(vid, params.plan())
            record = submitted_record(self.job_dir, vid)
            if (
                record is not None
                and record.endpoint is not None
                and record.endpoint in self._resume
            ):
                work.resume = record
                work.rung = record.rung
                work.attempts.append(
                    {
                        "prompt_id": record.prompt_id,
                        "endpoint": record.endpoint,
                        "rung": record.rung,
                    }
                )
                self._resume[record.endpoint].append(work)
            else:
                self._pending.append(work)

    async def run(self) -> RenderReport:
        """Render everything not yet complete. Raises JobBlocked or RenderUnavailable."""
        self._plan()
        if not self._pending and not any(self._resume.values()):
            return self.report
        if self.job_dir.blocked.exists():
            self.job_dir.blocked.unlink()  # a new attempt: the server may have the model now
        workers = [_Worker(self, url) for url in self.endpoints]
        connected = []
        for w in workers:
            try:
                await w.connect()
                connected.append(w)
            except RenderUnavailable:
                await w.client.close()
                if len(workers) == 1:
                    raise
                # Another endpoint can take this one's share; its resumable prompts are
                # resubmitted there (they may also finish here: outputs are then ignored).
                self._pending.extend(self._resume.pop(w.url, deque()))
        if not connected:
            raise RenderUnavailable(f"no ComfyUI endpoint reachable: {', '.join(self.endpoints)}")
        try:
            if self.guard is not None:
                waiting = 0
                for w in connected:
                    waiting = max(waiting, await w.backlog())
                self.observe(LoopEvent.BACKLOG, waiting)
            await self.take_turn()
            if self.turn is not None:
                # The wait may have been long, and another run of this job (an earlier phase's)
                # may have rendered some of ours meanwhile: what is complete now is not redone.
                self._plan()
            await asyncio.gather(*(w.loop() for w in connected))
        finally:
            self.hand_on()
        return self.report
