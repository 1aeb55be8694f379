"""`nightrun demo`: a whole night for the example jobs, on the emulator and Dagster's SQLite."""

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from nightrun_dagster.cli.approve import approve_quietly
from nightrun_dagster.cli.user_input import (
    add_root_argument,
    existing_folder,
    folder_path,
    http_url,
)
from nightrun_dagster.night.window import (
    FIRST_NIGHT,
    TIMEZONE,
    TZ,
    WARMUP,
    at,
    mode_for_night,
    night_ahead,
    night_of,
    parse_night,
)
from nightrun_dagster.store.night_plan import NightPlan, try_read_night_plan
from nightrun_dagster.store.night_records import BLOCKED
from nightrun_dagster.store.paths import Tree, default_root
from nightrun_dagster.store.selection_docs import try_read_shortlist
from nightrun_dagster.workflows.templates import WORKFLOWS_DIR_ENV, default_workflows_dir

QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "job_specs"
SCHEMA_FILE = "creative_job.schema.json"
EXIT_BAD_ARGUMENT = 2  # argparse's code for a bad argument
EXIT_BAD_NIGHT = EXIT_BAD_ARGUMENT
EXIT_NIGHT_FAILED = 1  # a run of the night failed (the summary says which)
APPROVALS_AT = time(7, 45)  # the demo's taps on Telegram, between the review and the hard stop


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_root_argument(p)
    p.add_argument(
        "--home",
        type=folder_path,
        help="DAGSTER_HOME for the demo's instance (default <root>/dagster_home, SQLite)",
    )
    p.add_argument(
        "--night",
        help="night as YYYY-MM-DD, one that has begun (default: tonight once its 22:45 warm-up "
        "has begun, else last night)",
    )
    p.add_argument(
        "--jobs", type=existing_folder, default=EXAMPLES, help="folder of job files to queue"
    )
    p.add_argument(
        "--workflows-dir",
        type=Path,
        help="your own workflow templates folder for the night (sets $NIGHTRUN_WORKFLOWS_DIR; "
        "default: $NIGHTRUN_WORKFLOWS_DIR or the project's workflows/)",
    )
    p.add_argument(
        "--comfy-url",
        help="render on this ComfyUI server instead of the emulator the demo starts",
    )
    p.add_argument(
        "--max-renders", type=int, default=None, help="renders for the whole night (default 2000)"
    )
    p.add_argument("--render-ms", type=int, default=10, help="emulated render time per prompt")
    p.add_argument(
        "--mode",
        choices=["exploration", "exploitation", "maintenance"],
        help="run mode (default: the night's weekday mode; a Sunday renders in exploration)",
    )
    p.add_argument(
        "--keep-emulator-output",
        action="store_true",
        help="keep the emulator's own files (its output/, input/ and temp/, about 300 MB for a "
        "whole night) in <root>/comfy-sim instead of removing them at the end",
    )


def stage_examples(jobs_dir: Path, root: Path) -> list[Path]:
    """Copy the example jobs into the queue and their assets into assets/ (same bytes)."""
    queue, assets = root / "queue", root / "assets"
    queue.mkdir(parents=True, exist_ok=True)
    assets.mkdir(parents=True, exist_ok=True)
    staged = []
    for src in sorted(jobs_dir.glob("*.json")):
        if src.name == SCHEMA_FILE:
            continue
        dst = queue / src.name
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)
        staged.append(dst)
    if (jobs_dir / "assets").is_dir():
        shutil.copytree(jobs_dir / "assets", assets, dirs_exist_ok=True)
    return staged


class BadNight(ValueError):
    """A --night the demo cannot run: not a date, before the first night, or not open yet."""


def opens_at(night: str) -> datetime:
    """When the night's partition opens: its warm-up, 22:45 Buenos Aires on its date."""
    return at(night, WARMUP)


def check_night(night: str, now: datetime | None = None) -> str:
    """`night`, as YYYY-MM-DD, if the demo can run it; raises BadNight saying why not."""
    try:
        # Canonical form: Python also parses 20260209 or 2026-W07-1, which are no partition key.
        night = parse_night(night).isoformat()
    except ValueError as exc:
        raise BadNight(str(exc)) from None
    if parse_night(night) < parse_night(FIRST_NIGHT):
        raise BadNight(f"night {night} is before the first night, {FIRST_NIGHT}")
    now = now or datetime.now(TZ)
    opens = opens_at(night)
    if now < opens:
        raise BadNight(
            f"night {night} has not opened yet: it opens at {opens:%Y-%m-%d %H:%M} "
            f"{TIMEZONE} (its warm-up); pick a night that has begun"
        )
    return night


def demo_command(args: argparse.Namespace) -> int:
    root = (args.root or default_root()).resolve()
    home = (args.home or root / "dagster_home").resolve()
    if args.night is None:
        # The last night that has begun: by day tonight's partition does not exist yet.
        now = datetime.now(TZ)
        night, ahead = night_of(now), night_ahead(now)
        if night != ahead:
            print(
                f"[demo] tonight ({ahead}) opens at {opens_at(ahead):%H:%M}; "
                f"the demo runs the last night that has begun, {night} (--night to choose)"
            )
    else:
        try:
            night = check_night(args.night)
        except BadNight as exc:
            print(f"--night: {exc}", file=sys.stderr)
            return EXIT_BAD_NIGHT
    if args.comfy_url:
        http_url("--comfy-url", args.comfy_url)  # before anything is staged
    if args.workflows_dir is not None:
        workflows = args.workflows_dir.expanduser().resolve()
        if not workflows.is_dir():
            print(f"--workflows-dir: {args.workflows_dir} is not a folder", file=sys.stderr)
            return EXIT_BAD_ARGUMENT
        # The demo's Dagster code (the nightrun resource) reads the folder from here.
        os.environ[WORKFLOWS_DIR_ENV] = str(workflows)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        # Dagster's SQLite defaults; no usage statistics leave a demo machine.
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["NIGHTRUN_ROOT"] = str(root)

    print(f"[demo] artifact root  {root}")
    print(f"[demo] DAGSTER_HOME   {home} (SQLite)")
    staged = stage_examples(args.jobs, root)
    print(f"[demo] queued {len(staged)} example jobs in {root / 'queue'}")
    print(f"[demo] workflows      {default_workflows_dir()}")

    mode = args.mode
    if mode is None and mode_for_night(night).value == "maintenance":
        mode = "exploration"
        print(
            f"[demo] {night} is a Sunday, a maintenance night with no renders: the demo renders "
            "it in exploration mode (--mode maintenance to see maintenance instead)"
        )
    with comfyui_for_demo(args, root) as url:
        print(f"[demo] ComfyUI        {url}", flush=True)
        summary = run_night(root, night, url, args.max_renders, mode)
    if not args.comfy_url:
        print(
            f"[demo] emulator files kept in {root / 'comfy-sim'}"
            if args.keep_emulator_output
            else "[demo] emulator files removed (--keep-emulator-output keeps them)"
        )
    print(f"[demo] night {night}, mode {summary['mode']}")
    for key, count in summary["variants"].items():
        r = summary["renders"].get(key, {})
        if r.get("blocked"):
            print(f"[demo]   {key}: blocked — {r['blocked']}")
            continue
        print(
            f"[demo]   {key}: {count} variants, {r.get('rendered', 0)} rendered, "
            f"{r.get('failed', 0)} failed, {r.get('shortlisted', 0)} shortlisted, "
            f"{r.get('packages', 0)} packaged "
            f"-> {root / 'runs' / night / ('job_' + key)}"
        )
    print(f"[demo] contact sheet  {summary['contact_sheet']}")
    print(f"[demo] left for the next night: {summary['left']} variants")
    if summary.get("cut_short"):
        print(f"[demo] ⛔ {summary['cut_short']}")
    for name in summary["rejected"]:
        print(f"[demo]   rejected {name}: see {root / 'queue' / 'rejected'}")
    print(f"[demo] browse it: DAGSTER_HOME={home} NIGHTRUN_ROOT={root} dagster dev")
    if summary["failed_runs"]:
        # A demo whose night failed must not look like a good one to a script or CI.
        print(f"[demo] the night failed: {len(summary['failed_runs'])} run(s) failed")
        for line in summary["failed_runs"]:
            print(f"[demo]   {line}")
        return EXIT_NIGHT_FAILED
    return 0


@contextlib.contextmanager
def comfyui_for_demo(args: argparse.Namespace, root: Path) -> Iterator[str]:
    """The given ComfyUI URL, or an emulator on loopback for the length of the demo. The
    emulator's own files (what it "rendered" and was sent; the night keeps its copies under
    runs/) live in a temporary folder of the root, removed at the end unless kept."""
    if args.comfy_url:
        yield args.comfy_url
        return
    from nightrun_dagster.emulator import EmulatorConfig, EmulatorServer

    with contextlib.ExitStack() as stack:
        if args.keep_emulator_output:
            sim = root / "comfy-sim"
        else:
            sim = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix=".comfy-sim-", dir=root))
            )
        config = EmulatorConfig(
            render_ms=args.render_ms,
            output_dir=sim / "output",
            input_dir=sim / "input",
            temp_dir=sim / "temp",
            models=demo_models(root),
        )
        with EmulatorServer(config).start() as server:
            yield server.url


def demo_models(root: Path) -> dict[str, list[str]]:
    """The emulator's model files: its defaults, plus every model file the templates of the
    queued jobs name and every LoRA the jobs list, so a team's own workflow (its own
    checkpoint, its own LoRAs) renders in the demo instead of being blocked."""
    from nightrun_dagster.emulator.config import FOLDER_ALIASES, default_models
    from nightrun_dagster.intake.queue import review_queue
    from nightrun_dagster.intake.validate import Intake
    from nightrun_dagster.workflows.compat import model_refs

    tree = Tree(root)
    models = default_models()

    def add(folder: str, name: str) -> None:
        names = models.setdefault(FOLDER_ALIASES.get(folder, folder), [])
        if name not in names:
            names.append(name)

    for found in review_queue(tree, Intake(assets_root=tree.assets)).valid.values():
        for ref in model_refs(found.template.graph()):
            add(ref.folder, ref.name)
        for lora in found.job.generation.variants.loras or ():
            add("loras", lora.path)
    return models


def run_night(
    root: Path, night: str, comfy_url: str, max_renders: int | None, mode: str | None = None
) -> dict:
    """The night as the daemon runs it, on a simulated clock: the queue sensor ticks, then each
    schedule is evaluated at its time (22:45 … 08:00) and the runs it asks for are executed;
    after the 07:30 cool-down the top pick of each job is approved with `nightrun approve` and
    its approvals and publish packages are built, as the approval sensor would."""
    return DemoNight(root, night, comfy_url, max_renders, mode).run()


class DemoNight:
    """One night of the real schedules and the code location's named jobs, run in this process
    on Dagster's SQLite; each tick and run is printed as it happens."""

    def __init__(
        self,
        root: Path,
        night: str,
        comfy_url: str,
        max_renders: int | None,
        mode: str | None = None,
    ) -> None:
        import dagster as dg  # here, not at the top: `nightrun validate` should start fast

        from nightrun_dagster.cli.demo_runs import Launcher, code_location
        from nightrun_dagster.definitions import build_defs
        from nightrun_dagster.defs.breakers import BreakersResource
        from nightrun_dagster.defs.resources import (
            ComfyUIResource,
            NightrunResource,
            TelegramResource,
        )

        self.dg = dg
        self.root, self.night = root, night
        settings: dict[str, Any] = {"queue_settle_seconds": 0, "mode_override": mode or ""}
        if max_renders is not None:
            settings["max_renders_per_night"] = max_renders
        self.resources = {
            "nightrun": NightrunResource(root=str(root), **settings),
            "comfyui": ComfyUIResource(urls=comfy_url),
            "breakers": BreakersResource(),
            "telegram": TelegramResource(),  # off: the demo approves from the command line
        }
        self.instance = dg.DagsterInstance.get()
        location = build_defs(root, comfy_url)
        # The code location's assets, jobs, schedules and sensors with the demo's resources;
        # runs execute in this process, one step after another.
        self.defs = dg.Definitions(
            assets=location.assets,
            jobs=location.jobs,
            schedules=location.schedules,
            sensors=location.sensors,
            resources=self.resources,
            executor=dg.in_process_executor,
        )
        self.launcher = Launcher(self.defs, self.instance, code_location())
        self.failed: list[str] = []  # "<job> <partition>: <why>", one per failed run
        self.results: dict[str, dict[str, dict[str, Any]]] = {}  # job key -> asset -> metadata

    def say(self, line: str) -> None:
        """One line of the night's timeline, printed now (Dagster's own log goes to stderr)."""
        print(f"[demo] {line}", flush=True)

    def execute(self, run: Any) -> None:
        """Run a requested run of a named job, saying when it starts and ends."""
        from dagster._core.storage.tags import MULTIDIMENSIONAL_PARTITION_PREFIX, PARTITION_NAME_TAG

        tags, job_name = run.tags, run.job_name
        key = tags.get(f"{MULTIDIMENSIONAL_PARTITION_PREFIX}job") or tags[PARTITION_NAME_TAG]
        self.say(f"  {wall_clock()} {job_name} {key} started (run {run.run_id[:8]})")
        done = self.launcher.execute(run)
        self.results.setdefault(key, {}).update(done.metadata)
        took = f"{done.seconds:.1f} s"
        if done.success:
            self.say(f"  {wall_clock()} {job_name} {key} succeeded in {took}")
            return
        failure = step_failure(done.failure) if done.failure is not None else "failed"
        self.say(f"  {wall_clock()} {job_name} {key} FAILED in {took} ({failure})")
        self.failed.append(f"{job_name} {key}: {failure}")

    def tick(self, schedule: Any, clock: str) -> None:
        """Evaluate the schedule at its time of the night, record its tick and run what it asks
        for, with the tags the daemon would give those runs."""
        from dagster._core.storage.tags import RUN_KEY_TAG, SCHEDULED_EXECUTION_TIME_TAG

        dg = self.dg
        when = at(self.night, time.fromisoformat(clock))
        with dg.build_schedule_context(
            instance=self.instance,
            scheduled_execution_time=when,
            resources={k: self.resources[k] for k in ("nightrun", "telegram")},
            repository_def=self.defs.get_repository_def(),
        ) as ctx:
            data = schedule.evaluate_tick(ctx)
        requests = data.run_requests or []
        if not requests:
            skipped = data.skip_message or "no runs requested"
            self.launcher.record_tick(schedule.name, when, [], skipped=skipped)
            self.say(f"{clock} {schedule.name}: skipped ({skipped})")
            return
        now = datetime.now(TZ)
        runs = []
        for request in requests:
            tags = rebase_clock_tags(dict(request.tags), when, now)
            tags[SCHEDULED_EXECUTION_TIME_TAG] = when.astimezone(UTC).isoformat()
            if request.run_key:
                tags[RUN_KEY_TAG] = request.run_key
            runs.append(self.launcher.create(schedule.job_name, tags, run_config=QUIET))
        # As the daemon: the tick submits every run it asked for, and they run in turn.
        self.launcher.record_tick(schedule.name, when, runs)
        self.say(f"{clock} {schedule.name}: {len(requests)} run(s)")
        for run in runs:
            self.execute(run)

    def sense_queue(self) -> None:
        from nightrun_dagster.defs.partitions import job_partitions
        from nightrun_dagster.defs.sensors import job_queue_sensor

        dg = self.dg
        with dg.build_sensor_context(
            instance=self.instance, resources=self.resources, definitions=self.defs
        ) as ctx:
            result = job_queue_sensor(ctx)
        if isinstance(result, dg.SensorResult):
            for request in result.dynamic_partitions_requests or []:
                keys = list(request.partition_keys)
                self.instance.add_dynamic_partitions(job_partitions.name, keys)

    def approve_top_picks(self) -> None:
        """A person would tap ✅ on Telegram; the demo records what `nightrun approve` would for
        each job's top pick, then the approval sensor's tick asks for an approve_jobs run per
        decided job."""
        decided = []
        for job_dir in sorted((self.root / "runs" / self.night).glob("job_*")):
            shortlist = try_read_shortlist(job_dir)
            if shortlist is None or not shortlist.picks:
                continue
            key = job_dir.name.removeprefix("job_")
            variant_id = shortlist.picks[0].variant_id
            recorded = approve_quietly(self.root, self.night, key, variant_id, by="demo")
            self.say(
                f"  nightrun approve {self.night}/{key}/{variant_id}: "
                + ("approved" if recorded else "already decided")
            )
            decided.append(key)
        runs = [
            self.launcher.create("approve_jobs", self.approval_tags(key), run_config=QUIET)
            for key in decided
        ]
        skipped = None if runs else "no job has a pick to decide on"
        when = at(self.night, APPROVALS_AT)
        self.launcher.record_tick("approval_sensor", when, runs, sensor=True, skipped=skipped)
        said = f"skipped ({skipped})" if skipped else f"{len(runs)} run(s)"
        self.say(f"{APPROVALS_AT:%H:%M} approval_sensor: {said}")
        for run in runs:
            self.execute(run)

    def approval_tags(self, key: str) -> dict[str, str]:
        """The tags of the approval sensor's run for a job: its partition and run key."""
        import hashlib

        from dagster._core.storage.tags import RUN_KEY_TAG

        from nightrun_dagster.defs.partitions import night_job_key
        from nightrun_dagster.defs.sensors import approval_sensor
        from nightrun_dagster.telegram import ledger

        dg = self.dg
        decisions = ledger.decisions_path(ledger.job_dir_for(self.root / "runs", self.night, key))
        # The sensor's run key: the ledger's state ("empty" for a job nobody decided on).
        try:
            state = hashlib.sha256(decisions.read_bytes()).hexdigest()[:16]
        except FileNotFoundError:
            state = "empty"
        request = dg.RunRequest(
            partition_key=night_job_key(self.night, key),
            run_key=f"approvals:{self.night}:{key}:{state}",
        ).with_resolved_tags_and_config(
            self.defs.resolve_job_def("approve_jobs"), [], self.instance
        )
        return {
            **request.tags,
            **dg.DagsterRun.tags_for_sensor(approval_sensor),
            RUN_KEY_TAG: str(request.run_key),
        }

    def run(self) -> dict:
        from nightrun_dagster.defs.schedules import (
            cool_down_schedule,
            hard_stop_schedule,
            images_resume_schedule,
            maintenance_schedule,
            review_schedule,
            video_slice_schedule,
            warmup_schedule,
            window_schedule,
        )

        self.sense_queue()
        rejected = sorted(
            p.name
            for p in (self.root / "queue" / "rejected").glob("*.json")
            if not p.name.endswith(".error.json")
        )
        # Tonight's partitions open at 22:45; evaluate as if it were then, whatever the hour.
        self.tick(warmup_schedule, "22:45")
        self.tick(window_schedule, "23:00")
        self.tick(maintenance_schedule, "23:00")
        self.tick(video_slice_schedule, "01:00")
        self.tick(images_resume_schedule, "03:00")
        self.tick(cool_down_schedule, "07:30")
        self.tick(review_schedule, "07:30")
        self.say(f"{APPROVALS_AT:%H:%M} approvals (as if tapped on Telegram)")
        self.approve_top_picks()
        self.tick(hard_stop_schedule, "08:00")
        return self.summary(rejected)

    def summary(self, rejected: list[str]) -> dict:
        tree = Tree(self.root)
        plan = try_read_night_plan(tree.night_dir(self.night)) or NightPlan(mode="?")
        counts, rendered = {}, {}
        for job in plan.jobs:
            key = job.key
            got = self.results.get(key, {})
            counts[key] = got.get("variants", {}).get("count", 0)
            r = got.get("renders", {})
            rendered[key] = {
                "rendered": r.get("rendered", 0),
                "already_done": r.get("already_done", 0),
                "failed": r.get("failed", 0),
                "shortlisted": got.get("shortlist", {}).get("picks", 0),
                "packages": got.get("publish_packages", {}).get("packages", 0),
                "blocked": blocked_reason(job.blocked, tree.job(self.night, key).blocked),
            }
        night = self.results.get(self.night, {})
        return {
            "mode": plan.mode or "?",
            "variants": counts,
            "renders": rendered,
            "rejected": rejected,
            "contact_sheet": night.get("night_summary", {}).get("contact_sheet", "–"),
            "failed_runs": self.failed,
            "left": night.get("night_close", {}).get("left", 0),
            "cut_short": night.get("night_summary", {}).get("cut_short"),
        }


def wall_clock() -> str:
    """The real time of a run starting or ending, as Dagster's own log lines show it."""
    return datetime.now().astimezone().strftime("%H:%M:%S")


def rebase_clock_tags(tags: dict[str, str], tick: datetime, now: datetime) -> dict[str, str]:
    """The schedule's tags with its start and stop times moved onto the demo's clock: a night
    played now stops submitting as long after its run starts as the schedule's stop is after
    its tick (window 23:00 → 01:00: two hours from now), not at a time that may have passed."""
    from nightrun_dagster.defs.tags import START_AT_TAG, STOP_AT_TAG

    moved = dict(tags)
    for tag in (START_AT_TAG, STOP_AT_TAG):
        raw = tags.get(tag)
        if raw:
            moment = now + (datetime.fromisoformat(raw) - tick)
            moved[tag] = moment.astimezone(TZ).isoformat(timespec="seconds")
    return moved


def blocked_reason(planned: Any, blocked_file: Path) -> str | None:
    """Why a job did not render tonight, or None: the warm-up's record in the night plan (a
    model or node missing, a graph that cannot be built), else the render loop's
    `blocked.json` (a model found missing once rendering had begun)."""
    if not planned:
        record = BLOCKED.file.try_read(blocked_file)
        return (record.reason or "blocked") if record else None
    if isinstance(planned, dict):
        return str(planned.get("reason") or "blocked")
    return str(planned)


def step_failure(event: Any) -> str:
    """What failed a step, in a line: the step and the failure's own words (a `dg.Failure`'s
    description, else the error that caused it), never Dagster's stack trace."""
    data = event.step_failure_data
    why = data.user_failure_data.description if data.user_failure_data else None
    error = data.error
    while why is None and error is not None:
        # Dagster wraps what our code raised ("Error occurred while executing op"): its cause.
        if error.cause is None:
            why = error.message
        error = error.cause
    first = (why or "").strip().splitlines()
    return f"step {event.step_key}: {first[0] if first else 'failed'}"
