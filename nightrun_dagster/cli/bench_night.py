"""`nightrun bench night`: whole nights on a compressed clock through the production path (the
emulator, the daemon's run queue, the GPU pool, the render loop) and how well they used the GPU."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

import httpx

from nightrun_dagster.cli.bench import machine
from nightrun_dagster.cli.bench_night_jobs import CASES, HISTORY, Case, JobWant, stage_jobs
from nightrun_dagster.cli.user_input import UserInputError, existing_folder
from nightrun_dagster.night.time_scale import ENV as TIME_SCALE_ENV
from nightrun_dagster.night.time_scale import TimeScale
from nightrun_dagster.night.window import TZ, WARMUP, WINDOW_END, WINDOW_START, at, parse_night
from nightrun_dagster.plan.night_plan import PlanBasis

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = REPO / "workspace.yaml"
LOCATION = "nightrun_dagster"
REPOSITORY = "__repository__"
PLAN_BASIS_ENV = "NIGHTRUN_PLAN_BASIS"
DEFAULT_NIGHT = "2026-03-05"  # a Thursday: exploration, two history nights before it
STARTUP_S = 15.0  # wall seconds for the emulator and the daemon to come up before the clock runs
# The compressed clock starts after the warm-up (see _scale).
NIGHT_CLOCK_FROM = time_of_day(22, 48)
# Wall seconds a run may take to reach its render step on a busy 2-core box (three runs
# starting while three others score took 80 s).
RUN_START_S = 90.0
WARMUP_FACTOR = 10.0  # the warm-up's clock: a 40 s run is 7 night minutes
DRAIN_S = 120.0  # wall seconds the runs get to finish after the hard stop
EMULATOR_PROFILE = "rtx3080"
# Without the emulator's 3080 profile, every prompt takes an SDXL render's night seconds.
FALLBACK_RENDER_NIGHT_S = 25.0
ACTIVE = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hour-seconds",
        type=float,
        default=30.0,
        help="wall seconds per night hour (default 30: a night in about 5 minutes, all six "
        "cases in about 50)",
    )
    p.add_argument(
        "--case",
        action="append",
        choices=[c.value for c in Case],
        help="over, equal or under (repeatable; default all three)",
    )
    p.add_argument(
        "--plan",
        action="append",
        choices=[b.value for b in PlanBasis],
        help="time or count (repeatable; default both)",
    )
    p.add_argument(
        "--history-nights",
        type=int,
        default=2,
        help="nights rendered before the cases so costs are measured (default 2)",
    )
    p.add_argument(
        "--night",
        default=DEFAULT_NIGHT,
        help=f"the cases' night, Monday to Thursday (default {DEFAULT_NIGHT})",
    )
    p.add_argument(
        "--run-start-s",
        type=float,
        default=RUN_START_S,
        help="wall seconds a run takes to reach its render step on this machine: render "
        "phases are ticked that much early, so their runs are ready at the phase's time as on "
        f"a real night (default {RUN_START_S:g}; 0 ticks exactly on the compressed clock)",
    )
    p.add_argument(
        "--dir", type=existing_folder, help="where to build the nights (default: temp folder)"
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the nights' folders (printed as `work`)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


@dataclass(frozen=True)
class Options:
    hour_seconds: float
    cases: tuple[Case, ...]
    plans: tuple[PlanBasis, ...]
    history_nights: int
    night: str
    run_start_s: float = RUN_START_S
    case_jobs: dict[Case, tuple[JobWant, ...]] = field(default_factory=lambda: dict(CASES))
    history_jobs: tuple[JobWant, ...] = HISTORY

    @property
    def factor(self) -> float:
        return 3600.0 / self.hour_seconds


def options_of(args: argparse.Namespace) -> Options:
    """The arguments checked; UserInputError names the bad one."""
    if not 0.5 <= args.hour_seconds <= 3600:
        raise UserInputError(f"--hour-seconds {args.hour_seconds}", "give 0.5 to 3600")
    if args.run_start_s < 0:
        raise UserInputError(f"--run-start-s {args.run_start_s}", "must be 0 or more")
    if args.history_nights < 0:
        raise UserInputError(f"--history-nights {args.history_nights}", "must be 0 or more")
    try:
        day = parse_night(args.night)
    except ValueError as exc:
        raise UserInputError(f"--night {args.night}", str(exc)) from None
    if day.weekday() > 3:
        raise UserInputError(
            f"--night {args.night}", "pick a Monday to Thursday night (exploration mode)"
        )
    return Options(
        hour_seconds=args.hour_seconds,
        cases=tuple(dict.fromkeys(Case(c) for c in args.case or [c.value for c in Case])),
        plans=tuple(dict.fromkeys(PlanBasis(b) for b in args.plan or ["time", "count"])),
        history_nights=args.history_nights,
        night=day.isoformat(),
        run_start_s=args.run_start_s,
    )


def say(line: str) -> None:
    """A progress line on stderr: a long bench shows it is alive."""
    print(f"[bench night] {datetime.now(UTC):%H:%M:%S} {line}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def instance_yaml() -> str:
    """SQLite storage (Dagster's default), with the project's run coordinator and pools."""
    import yaml

    repo = yaml.safe_load((REPO / "dagster.yaml").read_text(encoding="utf-8")) or {}
    config = {k: repo[k] for k in ("run_coordinator", "concurrency") if k in repo}
    config["telemetry"] = {"enabled": False}
    return yaml.safe_dump(config, sort_keys=False)


def create_storage(home: Path) -> None:
    """Create the instance's SQLite databases here, before the daemon and the workspace open
    them at once (two processes migrating a new database both write its alembic version)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
        instance.get_daemon_heartbeats()
        instance.get_dynamic_partitions("job")
        instance.all_instigator_state()


def emulator_has_profile() -> bool:
    """Whether `nightrun comfy-sim` takes `--profile` (the 3080's per-template render times)."""
    from nightrun_dagster.cli import comfy_sim

    parser = argparse.ArgumentParser()
    comfy_sim.add_arguments(parser)
    return any("--profile" in a.option_strings for a in parser._actions)


def emulator_models(root: Path) -> list[str]:
    """`--model FOLDER/NAME` for every model the queued jobs and their templates name."""
    from nightrun_dagster.cli.demo import demo_models
    from nightrun_dagster.emulator.config import default_models

    have = default_models()
    return [
        f"{folder}/{name}"
        for folder, names in demo_models(root).items()
        for name in names
        if name not in have.get(folder, [])
    ]


@dataclass
class Processes:
    """The night's emulator and daemon, each in its own process group (their children too)."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        # The daemon's run workers and code server live in its process group: end them with it.
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


@dataclass
class NightSetup:
    """Where one night lives and how its processes are told."""

    name: str  # "history 1", "over/time", …
    night: str
    root: Path
    home: Path
    basis: PlanBasis
    scale: TimeScale
    url: str = ""

    def env(self) -> dict[str, str]:
        return {
            "DAGSTER_HOME": str(self.home),
            "NIGHTRUN_ROOT": str(self.root),
            "COMFYUI_URL": self.url,
            TIME_SCALE_ENV: self.scale.to_env(),
            PLAN_BASIS_ENV: self.basis.value,
        }

    def clock(self) -> str:
        return f"{self.scale.now().astimezone(TZ):%H:%M}"


@contextlib.contextmanager
def night_services(setup: NightSetup, work: Path, profile: bool) -> Iterator[None]:
    """The emulator and `dagster-daemon run` for the night, stopped however the night ends."""
    procs = Processes()
    work.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    setup.url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **setup.env()}
    sim = work / "comfy-sim"
    cmd = [
        sys.executable,
        "-m",
        "nightrun_dagster.cli.main",
        "comfy-sim",
        "--port",
        str(port),
        "--output-dir",
        str(sim / "output"),
    ]
    if profile:
        cmd += ["--profile", EMULATOR_PROFILE]
    else:
        cmd += ["--render-ms", str(round(1000 * FALLBACK_RENDER_NIGHT_S / setup.scale.factor))]
    for model in emulator_models(setup.root):
        cmd += ["--model", model]
    daemon = Path(sys.executable).with_name("dagster-daemon")
    try:
        emulator = procs.start(cmd, env, work / "comfy-sim.log")
        procs.start([str(daemon), "run", "-w", str(WORKSPACE)], env, work / "dagster-daemon.log")
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{setup.url}/system_stats", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if emulator.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(
                        f"the emulator did not start (see {work / 'comfy-sim.log'})"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        procs.stop()
        shutil.rmtree(sim, ignore_errors=True)


class BenchError(RuntimeError):
    """The bench could not run a night (a process that did not start, a run left hanging)."""


@dataclass
class Night:
    """One compressed night: the real schedules evaluated when the night's clock reaches their
    tick, their runs created as the scheduler daemon creates them and submitted to the queue."""

    setup: NightSetup
    run_start_s: float = 0.0  # wall seconds a run needs to reach its render step
    left_at_end: int = 0
    run_ids: list[str] = field(default_factory=list)

    def run(self, phases: Sequence[Any], *, until_idle: bool = False) -> None:
        """Tick `phases` at their times; then, with `until_idle`, wait until no run is active."""
        import dagster as dg
        from dagster._core.workspace.context import WorkspaceProcessContext
        from dagster._core.workspace.load_target import WorkspaceFileTarget

        from nightrun_dagster.night.clock import Phase, fires_at

        os.environ.update(self.setup.env())  # the schedules evaluated here read the same
        instance = dg.DagsterInstance.get()
        with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(WORKSPACE)])) as ws:
            self._wait_for_daemon(instance)
            self._sense_queue(instance)
            for phase in phases:
                moment = at(self.setup.night, fires_at(phase))
                self._wait_until(instance, self._evaluated_at(phase, moment))
                if phase is Phase.hard_stop:
                    self.left_at_end = left_now(self.setup)
                self._tick(instance, ws, phase, moment)
            if until_idle:
                self._wait_until(instance, None)
            self._drain(instance)

    def _evaluated_at(self, phase: Any, moment: datetime) -> datetime:
        """When the bench ticks a render phase: `run_start_s` wall seconds early (the phases
        still in their order; the first as soon as the clock stands), so its runs reach their
        render step by the phase's time as they do on a real night's ten-minute lead, which a
        compressed clock shrinks to less than a run takes to start. The schedule still sees
        its own time."""
        from nightrun_dagster.night.clock import LEAD_PHASES

        if phase not in LEAD_PHASES or self.run_start_s <= 0:
            return moment
        lead = timedelta(seconds=self.setup.scale.night_seconds(self.run_start_s))
        return moment - lead

    def _wait_for_daemon(self, instance: Any) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            beats = instance.get_daemon_heartbeats()
            if "QUEUED_RUN_COORDINATOR" in beats:
                return
            time.sleep(0.5)
        raise BenchError("dagster-daemon did not start (see dagster-daemon.log)")

    def _sense_queue(self, instance: Any) -> None:
        """The queue sensor's logic: each valid job file becomes a `job` partition."""
        import dagster as dg

        from nightrun_dagster.definitions import build_defs
        from nightrun_dagster.defs.partitions import job_partitions
        from nightrun_dagster.defs.sensors import job_queue_sensor

        defs = build_defs(self.setup.root, self.setup.url)
        with dg.build_sensor_context(
            instance=instance, resources={"nightrun": defs.resources["nightrun"]}
        ) as ctx:
            result = job_queue_sensor(ctx)
        if isinstance(result, dg.SensorResult):
            for request in result.dynamic_partitions_requests or []:
                instance.add_dynamic_partitions(job_partitions.name, list(request.partition_keys))

    def _wait_until(self, instance: Any, moment: datetime | None) -> None:
        """Until the night's clock shows `moment` (None: until no run is active), saying now and
        then where the night is."""
        said = 0.0
        while True:
            active = active_runs(instance)
            if moment is None and not active:
                return
            if moment is not None and self.setup.scale.now() >= moment:
                return
            if time.monotonic() - said > 10:
                said = time.monotonic()
                say(f"{self.setup.name}: night {self.setup.clock()}, {len(active)} run(s) active")
            time.sleep(0.2)

    def _tick(self, instance: Any, ws: Any, phase: Any, moment: datetime) -> None:
        """The schedule of `phase` at `moment`, and its runs submitted as the daemon does."""
        import dagster as dg

        from nightrun_dagster.definitions import build_defs
        from nightrun_dagster.defs import schedules
        from nightrun_dagster.night.clock import Phase

        by_phase = {
            Phase.warm_up: schedules.warmup_schedule,
            Phase.window: schedules.window_schedule,
            Phase.video_slice: schedules.video_slice_schedule,
            Phase.images_resume: schedules.images_resume_schedule,
            Phase.hard_stop: schedules.hard_stop_schedule,
        }
        schedule = by_phase[phase]
        defs = build_defs(self.setup.root, self.setup.url)
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=moment,
            resources={k: defs.resources[k] for k in ("nightrun", "telegram")},
            repository_def=defs.get_repository_def(),
        ) as ctx:
            data = schedule.evaluate_tick(ctx)
        requests = data.run_requests or []
        if not requests:
            say(f"{self.setup.name}: {phase.value} skipped ({data.skip_message})")
            return
        request_context = ws.create_request_context()
        location = request_context.get_code_location(LOCATION)
        remote_job = location.get_repository(REPOSITORY).get_full_job(schedule.job_name)
        for request in requests:
            run = create_scheduled_run(instance, location, remote_job, request, moment)
            instance.submit_run(run.run_id, request_context)
            self.run_ids.append(run.run_id)
        say(f"{self.setup.name}: {phase.value} {moment:%H:%M} queued {len(requests)} run(s)")

    def _drain(self, instance: Any) -> None:
        deadline = time.monotonic() + DRAIN_S
        while active_runs(instance):
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{self.setup.name}: runs still active {DRAIN_S:.0f} s after the night"
                )
            time.sleep(0.5)


def create_scheduled_run(
    instance: Any, location: Any, remote_job: Any, request: Any, moment: datetime
) -> Any:
    """A NOT_STARTED run of the workspace's job, tagged as the scheduler daemon tags its runs
    (dagster/schedule_name comes with the request's resolved tags)."""
    from dagster import DagsterRunStatus
    from dagster._core.storage.tags import RUN_KEY_TAG, SCHEDULED_EXECUTION_TIME_TAG

    plan = location.get_execution_plan(
        remote_job, request.run_config, step_keys_to_execute=None, known_state=None
    )
    tags = {**remote_job.run_tags, **request.tags}
    tags[SCHEDULED_EXECUTION_TIME_TAG] = moment.astimezone(UTC).isoformat()
    if request.run_key:
        tags[RUN_KEY_TAG] = request.run_key
    return instance.create_run(
        job_name=remote_job.name,
        run_id=None,
        run_config=request.run_config,
        resolved_op_selection=remote_job.resolved_op_selection,
        step_keys_to_execute=None,
        op_selection=remote_job.op_selection,
        status=DagsterRunStatus.NOT_STARTED,
        root_run_id=None,
        parent_run_id=None,
        tags=tags,
        job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
        asset_selection=None,
        asset_check_selection=None,
        asset_graph=location.get_repository(REPOSITORY).asset_graph,
    )


def active_runs(instance: Any) -> list[Any]:
    import dagster as dg

    statuses = [dg.DagsterRunStatus(s) for s in ACTIVE]
    return list(instance.get_runs(filters=dg.RunsFilter(statuses=statuses)))


def left_now(setup: NightSetup) -> int:
    """Variants of the night's planned jobs not complete yet."""
    from nightrun_dagster.night.clock import pending_variants
    from nightrun_dagster.store.night_plan import try_read_night_plan
    from nightrun_dagster.store.paths import Tree

    tree = Tree(setup.root)
    plan = try_read_night_plan(tree.night_dir(setup.night))
    if plan is None:
        return 0
    return sum(
        pending_variants(tree.job(setup.night, j.key), j.budget)
        for j in plan.jobs
        if j.budget > 0 and not j.blocked
    )


# -- figures ---------------------------------------------------------------------------------


def busy_intervals(setup: NightSetup, night_clock: bool) -> list[tuple[float, float]]:
    """The emulator's busy intervals as night-clock epoch seconds: its `busy` list, else every
    rendered variant's execution_start → execution_success as the server reported it (the
    render loop keeps it in `meta/comfy_history.json` and clears the server's /history)."""
    from nightrun_dagster.comfy.duty import execution_of
    from nightrun_dagster.store.night_plan import try_read_night_plan
    from nightrun_dagster.store.paths import Tree
    from nightrun_dagster.store.variant_docs import read_comfy_history
    from nightrun_dagster.store.variants_index import try_read_variants_index

    stats = httpx.get(f"{setup.url}/emulator/stats", timeout=30).json()
    if isinstance(stats.get("busy"), list):
        return sorted(
            (float(b["start"]), float(b["end"])) for b in stats["busy"] if b.get("end") is not None
        )
    tree = Tree(setup.root)
    plan = try_read_night_plan(tree.night_dir(setup.night))
    scale, out = setup.scale, []
    for job in plan.jobs if plan is not None else []:
        job_dir = tree.job(setup.night, job.key)
        index = try_read_variants_index(job_dir)
        for vid in index.variants if index is not None else []:
            try:
                history = read_comfy_history(job_dir.variant_dir(str(vid)))
            except (OSError, ValueError):
                continue
            for prompt_id, entry in (history.model_extra or {}).items():
                done = execution_of(prompt_id, entry) if isinstance(entry, dict) else None
                if done is None:
                    continue
                start, end = done.start_ms / 1000, done.end_ms / 1000
                if not night_clock:  # wall seconds, on an emulator without the night's clock
                    origin = scale.night_start.timestamp()
                    start = origin + scale.night_seconds(start - scale.wall_start)
                    end = origin + scale.night_seconds(end - scale.wall_start)
                out.append((start, end))
    return sorted(out)


def window_figures(intervals: list[tuple[float, float]], night: str) -> dict[str, float]:
    """Busy night-seconds inside 23:00–08:00 and the idle stretches: before the first render,
    the longest gap between renders, after the last one."""
    start, end = at(night, WINDOW_START).timestamp(), at(night, WINDOW_END).timestamp()
    clipped = [(max(a, start), min(b, end)) for a, b in intervals if b > start and a < end]
    merged: list[list[float]] = []
    for a, b in clipped:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    busy = sum(b - a for a, b in merged)
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(merged)]
    return {
        "window_seconds": end - start,
        "busy_seconds": busy,
        "utilization": busy / (end - start),
        "idle_before_first_s": (merged[0][0] - start) if merged else end - start,
        "max_gap_s": max(gaps, default=0.0),
        "idle_after_last_s": (end - merged[-1][1]) if merged else 0.0,
    }


def job_figures(setup: NightSetup, server_to_night: float) -> dict[str, Any]:
    """Per job: renders done against the plan's budget; the plan's estimated seconds against
    the server's for every rendered variant."""
    from nightrun_dagster.store.night_plan import try_read_night_plan
    from nightrun_dagster.store.paths import Tree
    from nightrun_dagster.store.variant_docs import read_params
    from nightrun_dagster.store.variant_state import is_complete
    from nightrun_dagster.store.variants_index import try_read_variants_index

    tree = Tree(setup.root)
    plan = try_read_night_plan(tree.night_dir(setup.night))
    if plan is None:
        raise BenchError(f"{setup.name}: the warm-up wrote no night plan")
    jobs, estimated, actual, has_estimate = [], 0.0, 0.0, False
    for job in plan.jobs:
        job_dir = tree.job(setup.night, job.key)
        index = try_read_variants_index(job_dir)
        done = 0
        for vid in index.variants if index is not None else []:
            try:
                params = read_params(job_dir, str(vid))
            except (OSError, ValueError):
                continue
            if not is_complete(job_dir, str(vid), params):
                continue
            done += 1
            server_s = params.render.server_s if params.render else None
            if job.seconds_per_render is not None and server_s:
                has_estimate = True
                estimated += job.seconds_per_render
                actual += server_s * server_to_night
        jobs.append(
            {
                "job": job.key,
                "kind": job.kind,
                "priority": job.priority,
                "demand": job.demand,
                "budget": job.budget,
                "extra": job.extra,
                "done": done,
                "done_ratio": done / job.budget if job.budget > 0 else None,
                "seconds_per_render": job.seconds_per_render,
                "blocked": bool(job.blocked),
            }
        )
    budgeted = [j for j in jobs if j["budget"] > 0]
    return {
        "min_done_ratio": min((j["done_ratio"] for j in budgeted), default=None),
        "starved": sum(1 for j in budgeted if j["done"] == 0),
        "plan_error": estimated / actual if has_estimate and actual > 0 else None,
        "expected_utilization": plan.expected_utilization,
        "gpu_free_at": plan.gpu_free_at,
        "basis": plan.basis,
        "jobs": jobs,
    }


# -- the bench -------------------------------------------------------------------------------


def _night_before(night: str, days: int) -> str:
    return (date.fromisoformat(night) - timedelta(days=days)).isoformat()


def _scale(night: str, factor: float, run_start_s: float) -> TimeScale:
    """The night's compressed clock: it stands at 22:48 while the services come up and the
    window's runs start (ticked at once), then runs. A real night gives those runs ten
    minutes; a compressed one would give them seconds."""
    return TimeScale(factor, at(night, NIGHT_CLOCK_FROM), time.time() + STARTUP_S + run_start_s)


def play_night(
    name: str,
    night: str,
    root: Path,
    basis: PlanBasis,
    wants: tuple[JobWant, ...],
    options: Options,
    work: Path,
    profile: bool,
    *,
    full: bool,
) -> dict[str, Any]:
    """One night on a fresh instance: stage its jobs, start the services, run the schedules."""
    home = work / f"home-{name.replace(' ', '-').replace('/', '-')}"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(instance_yaml(), encoding="utf-8")
    create_storage(home)
    stage_jobs(root, wants, night)
    from nightrun_dagster.night.clock import Phase

    say(f"{name}: night {night}, plan {basis.value}, 1 h = {options.hour_seconds:g} s")
    # The warm-up on a slow clock: its run takes longer to start than the 5 night minutes
    # before the window at a compressed scale; the night's clock starts once the plan exists.
    warm_scale = TimeScale(min(WARMUP_FACTOR, options.factor), at(night, WARMUP), time.time())
    warm = NightSetup(name, night, root, home, basis, warm_scale)
    folder = work / name.replace(" ", "-").replace("/", "-")
    with night_services(warm, folder / "warm-up", profile):
        Night(warm).run([Phase.warm_up], until_idle=True)
    setup = NightSetup(
        name, night, root, home, basis, _scale(night, options.factor, options.run_start_s)
    )
    played = Night(setup, options.run_start_s)
    with night_services(setup, folder, profile):
        if not full:
            played.run([Phase.window, Phase.video_slice], until_idle=True)
            return {}
        played.run([Phase.window, Phase.video_slice, Phase.images_resume, Phase.hard_stop])
        intervals = busy_intervals(setup, night_clock=profile)
    server_to_night = 1.0 if profile else setup.scale.factor
    figures = window_figures(intervals, night)
    # A gap in wall seconds: a fixed start-up cost is this long on a real night too.
    figures["max_gap_wall_s"] = setup.scale.wall_seconds(figures["max_gap_s"])
    jobs = job_figures(setup, server_to_night)
    return {
        "utilization": figures["utilization"],
        "min_done_ratio": jobs.pop("min_done_ratio"),
        "starved": jobs.pop("starved"),
        "left": played.left_at_end,
        "plan_error": jobs.pop("plan_error"),
        **figures,
        **jobs,
        "renders": len(intervals),
        "runs": len(played.run_ids),
        "home": str(home),
        "root": str(root),
    }


def run_bench(options: Options, work: Path) -> dict[str, Any]:
    """History nights once, then each case × plan on a copy of that history."""
    profile = emulator_has_profile()
    if not profile:
        say(
            "the emulator has no --profile yet: every prompt takes "
            f"{FALLBACK_RENDER_NIGHT_S:g} night seconds"
        )
    history_root = work / "history-root"
    history_root.mkdir(parents=True)
    for i in range(options.history_nights, 0, -1):
        night = _night_before(options.night, i)
        name = f"history {options.history_nights - i + 1}"
        play_night(
            name, night, history_root, PlanBasis.TIME, options.history_jobs, options, work,
            profile, full=False,
        )  # fmt: skip
    cases = []
    for case in options.cases:
        for basis in options.plans:
            name = f"{case.value}/{basis.value}"
            root = work / f"root-{case.value}-{basis.value}"
            shutil.copytree(history_root, root)
            row = play_night(
                name, options.night, root, basis, options.case_jobs[case], options, work,
                profile, full=True,
            )  # fmt: skip
            cases.append({"case": case.value, "plan": basis.value, **row})
            say(
                f"{name}: utilization {row['utilization']:.3f}, "
                f"min done {_fmt(row['min_done_ratio'])}, starved {row['starved']}, "
                f"left {row['left']}, plan error {_fmt(row['plan_error'])}"
            )
    return {
        "bench": "night",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "night": options.night,
        "hour_seconds": options.hour_seconds,
        "history_nights": options.history_nights,
        "run_start_s": options.run_start_s,
        "emulator_profile": EMULATOR_PROFILE if profile else None,
        "cases": cases,
        "machine": machine(),
    }


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def table(result: dict[str, Any]) -> list[str]:
    head = ("case", "plan", "util", "min done", "starved", "left", "plan err", "max gap s")
    rows = [head]
    for c in result["cases"]:
        rows.append(
            (
                c["case"],
                c["plan"],
                f"{c['utilization']:.3f}",
                _fmt(c["min_done_ratio"]),
                str(c["starved"]),
                str(c["left"]),
                _fmt(c["plan_error"]),
                f"{c['max_gap_s']:.0f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    lines.append(
        f"night {result['night']}, 1 h = {result['hour_seconds']:g} s wall, "
        f"{result['history_nights']} history night(s), emulator profile "
        f"{result['emulator_profile'] or 'none (25 s per prompt)'}"
    )
    return lines


def command(args: argparse.Namespace) -> int:
    options = options_of(args)
    work = Path(tempfile.mkdtemp(prefix="nightrun-bench-night-", dir=args.dir)).resolve()
    keys = ("DAGSTER_HOME", "NIGHTRUN_ROOT", "COMFYUI_URL", TIME_SCALE_ENV, PLAN_BASIS_ENV)
    saved = {k: os.environ.get(k) for k in keys}
    previous = signal.signal(signal.SIGTERM, _interrupt)
    # Dagster's code servers log to the stdout they inherit: stdout is the JSON's alone.
    sys.stdout.flush()
    stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        result = run_bench(options, work)
    except BenchError as exc:
        print(f"bench night: {exc} (logs in {work})", file=sys.stderr)
        args.keep = True
        return 1
    except KeyboardInterrupt:
        # The daemon, its runs and the emulator were stopped on the way out.
        print("bench night: interrupted; its daemon and emulator are stopped", file=sys.stderr)
        return 130
    finally:
        sys.stdout.flush()
        os.dup2(stdout, 1)
        os.close(stdout)
        signal.signal(signal.SIGTERM, previous)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.keep:
        result["work"] = str(work)
    if args.json:
        print(json.dumps(result))
        return 0
    print("\n".join(table(result)))
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nightrun bench night")
    add_arguments(parser)
    return command(parser.parse_args(argv))
