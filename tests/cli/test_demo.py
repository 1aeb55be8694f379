"""`nightrun demo`: queues the example jobs, plans and renders a night (emulator, SQLite)."""

import json
import re
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from nightrun_dagster.cli.demo import BadNight, check_night
from nightrun_dagster.night.window import TZ, night_of
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.store.variant_state import PROMPT

REPO_WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def run_live(cmd: list[str], stderr: Path) -> tuple[subprocess.CompletedProcess[str], list]:
    """Run the demo, reading its stdout line by line as it comes: each line with whether the
    demo was still running when it arrived."""
    arrived = []
    with stderr.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            arrived.append((line.rstrip("\n"), proc.poll() is None))
        code = proc.wait(timeout=600)
    out = "\n".join(line for line, _ in arrived) + "\n"
    return subprocess.CompletedProcess(cmd, code, out, stderr.read_text()), arrived


# The runs of a demo night, in order, as the daemon would start them: job, partition (the
# job key, else the night), what requested it, its phase tag, and its run key's prefix.
NIGHT_RUNS = [
    ("plan_night", "2026-02-10", "warmup_schedule", "warm-up", "warmup:"),
    ("night_jobs", "verde-yerba-static-2026-02", "window_schedule", "window", "window:"),
    ("night_jobs", "mitienda-checkout-ui-2026-02", "window_schedule", "window", "window:"),
    ("night_jobs", "verde-teaser-reel-2026-02", "video_slice_schedule", "video-slice", "video:"),
    ("cool_down", "2026-02-10", "cool_down_schedule", "cool-down", "cool-down:"),
    ("approve_jobs", "mitienda-checkout-ui-2026-02", "approval_sensor", None, "approvals:"),
    ("approve_jobs", "verde-teaser-reel-2026-02", "approval_sensor", None, "approvals:"),
    ("approve_jobs", "verde-yerba-static-2026-02", "approval_sensor", None, "approvals:"),
    ("close_night", "2026-02-10", "hard_stop_schedule", "hard-stop", "hard-stop:"),
]
TICKS = {  # the simulated time each schedule ticked, Buenos Aires
    "warmup_schedule": "2026-02-10T22:45:00-03:00",
    "window_schedule": "2026-02-10T23:00:00-03:00",
    "video_slice_schedule": "2026-02-11T01:00:00-03:00",
    "cool_down_schedule": "2026-02-11T07:30:00-03:00",
    "hard_stop_schedule": "2026-02-11T08:00:00-03:00",
}
WINDOW_HOURS = {"window_schedule": 2, "video_slice_schedule": 2}  # 23:00 → 01:00, 01:00 → 03:00


def assert_runs_are_the_daemons_night(instance: dg.DagsterInstance) -> None:
    """Every run belongs to a named job of the workspace's code location, so the UI's Jobs page
    and Overview timeline list it, with the partition and tags its schedule or sensor gives."""
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    (location,) = location_origins_from_yaml_paths([str(workspace)])
    label = f"__repository__@{location.location_name}"
    runs = list(reversed(instance.get_runs()))
    assert [r.job_name for r in runs] == [job for job, *_ in NIGHT_RUNS]
    for run, (_job, partition, source, phase, run_key) in zip(runs, NIGHT_RUNS, strict=True):
        tags = run.tags
        assert run.status == dg.DagsterRunStatus.SUCCESS, run.job_name
        assert run.remote_job_origin is not None
        assert run.remote_job_origin.repository_origin.get_label() == label
        key = tags.get("dagster/partition/job", tags["dagster/partition"])
        assert key == partition, tags
        if partition != "2026-02-10":
            assert tags["dagster/partition/night"] == "2026-02-10"
            assert tags["dagster/partition"] == f"{partition}|2026-02-10"
        assert tags["dagster/run_key"].startswith(run_key), tags
        if source == "approval_sensor":
            assert tags["dagster/sensor_name"] == source
            continue
        assert tags["dagster/schedule_name"] == source
        assert tags["nightrun/mode"] == "exploration" and tags["nightrun/phase"] == phase
        tick = datetime.fromisoformat(TICKS[source])
        assert datetime.fromisoformat(tags[".dagster/scheduled_execution_time"]) == tick
        if source in WINDOW_HOURS:
            # The schedule's stop time, as far after the run's start as it is after the tick.
            stop = datetime.fromisoformat(tags["nightrun/stop_at"])
            created = datetime.fromtimestamp(
                instance.get_run_record_by_id(run.run_id).create_timestamp.timestamp(), TZ
            )
            assert timedelta(hours=WINDOW_HOURS[source]) - (stop - created) < timedelta(minutes=5)
            assert tags["dagster/priority"].isdigit()
        else:
            assert "nightrun/stop_at" not in tags
    assert_the_ui_lists_them(instance, location.location_name)


# What the UI asks Dagster's GraphQL API: every run with its code location (the Overview
# timeline draws only runs that have one), and a job's runs (its page on the Jobs tab).
RUNS_QUERY = "{ runsOrError { ... on Runs { results { pipelineName repositoryOrigin { "
RUNS_QUERY += "repositoryName repositoryLocationName } } } } }"
JOB_RUNS_QUERY = """query ($job: String!, $location: String!) {
  pipelineOrError(params: {pipelineName: $job, repositoryName: "__repository__",
                           repositoryLocationName: $location}) {
    ... on Pipeline { runs { pipelineName } } } }"""
TICKS_QUERY = """query ($name: String!, $location: String!) {
  scheduleOrError(scheduleSelector: {scheduleName: $name, repositoryName: "__repository__",
                                     repositoryLocationName: $location}) {
    ... on Schedule { scheduleState { ticks { status timestamp runIds skipReason } } } } }"""
SENSOR_TICKS_QUERY = """query ($name: String!, $location: String!) {
  sensorOrError(sensorSelector: {sensorName: $name, repositoryName: "__repository__",
                                 repositoryLocationName: $location}) {
    ... on Sensor { sensorState { ticks { status timestamp runIds } } } } }"""


def assert_the_ui_lists_them(instance: dg.DagsterInstance, location: str) -> None:
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster_graphql.test.utils import execute_dagster_graphql

    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    with WorkspaceProcessContext(instance, WorkspaceFileTarget([str(workspace)])) as process:
        ctx = process.create_request_context()
        runs = execute_dagster_graphql(ctx, RUNS_QUERY).data["runsOrError"]["results"]
        origin = {"repositoryName": "__repository__", "repositoryLocationName": location}
        assert [r["repositoryOrigin"] for r in runs] == [origin] * len(NIGHT_RUNS)
        for job in {job for job, *_ in NIGHT_RUNS}:
            found = execute_dagster_graphql(
                ctx, JOB_RUNS_QUERY, variables={"job": job, "location": location}
            ).data["pipelineOrError"]["runs"]
            assert len(found) == sum(j == job for j, *_ in NIGHT_RUNS), job
        # Each schedule's tick history: its tick at its time of the night, and the runs it
        # asked for (or why it skipped); the approval sensor's tick with the approve runs.
        run_ids = {r.run_id: r.job_name for r in instance.get_runs()}
        for name, when in TICKS.items():
            data = execute_dagster_graphql(
                ctx, TICKS_QUERY, variables={"name": name, "location": location}
            ).data
            (tick,) = data["scheduleOrError"]["scheduleState"]["ticks"]
            assert tick["status"] == "SUCCESS"
            assert tick["timestamp"] == datetime.fromisoformat(when).timestamp()
            asked = [job for job, _, source, *_ in NIGHT_RUNS if source == name]
            assert [run_ids[i] for i in tick["runIds"]] == asked, name
        data = execute_dagster_graphql(
            ctx, TICKS_QUERY, variables={"name": "maintenance_schedule", "location": location}
        ).data
        (tick,) = data["scheduleOrError"]["scheduleState"]["ticks"]
        assert tick["status"] == "SKIPPED" and "maintenance runs on Sunday" in tick["skipReason"]
        data = execute_dagster_graphql(
            ctx, SENSOR_TICKS_QUERY, variables={"name": "approval_sensor", "location": location}
        ).data
        (tick,) = data["sensorOrError"]["sensorState"]["ticks"]
        assert tick["timestamp"] == datetime.fromisoformat("2026-02-11T07:45:00-03:00").timestamp()
        assert [run_ids[i] for i in tick["runIds"]] == ["approve_jobs"] * 3


def test_demo_plans_and_renders_the_night_for_every_example(tmp_path: Path) -> None:
    root, home = tmp_path / "root", tmp_path / "home"
    cmd = [
        sys.executable,
        "-m",
        "nightrun_dagster.cli.main",
        "demo",
        "--root",
        str(root),
        "--home",
        str(home),
        "--night",
        "2026-02-10",
        "--max-renders",
        "24",
    ]
    proc, arrived = run_live(cmd, tmp_path / "stderr.txt")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "night 2026-02-10, mode exploration" in proc.stdout
    # The real schedules, evaluated at their times, drove the night.
    for line in (
        "22:45 warmup_schedule: 1 run(s)",
        "23:00 window_schedule: 2 run(s)",
        "23:00 maintenance_schedule: skipped",
        "01:00 video_slice_schedule: 1 run(s)",
        "07:30 cool_down_schedule: 1 run(s)",
        "07:45 approval_sensor: 3 run(s)",
        "08:00 hard_stop_schedule: 1 run(s)",
    ):
        assert f"[demo] {line}" in proc.stdout, line
    night = root / "runs" / "2026-02-10"
    plan = json.loads((night / "night_plan.json").read_bytes())
    assert len(plan["jobs"]) == 3
    for job in plan["jobs"]:
        job_dir = night / f"job_{job['key']}"
        assert (job_dir / "inputs" / "manifest.json").is_file()
        params = list(job_dir.glob("variants/v*/meta/params.json"))
        assert len(params) == job["budget"] > 0
        line = f"{job['key']}: {job['budget']} variants, {job['budget']} rendered, 0 failed, "
        assert line in proc.stdout
        short = json.loads((job_dir / "selection" / "shortlisted.json").read_bytes())
        assert f"{line}{len(short['picks'])} shortlisted" in proc.stdout and short["picks"]
        assert len(list(job_dir.glob("variants/v*/meta/score.json"))) == job["budget"]
        assert (job_dir / "contact_sheet.html").is_file()
        outputs = list(job_dir.glob("variants/v*/out/*_0001.*"))
        assert len(outputs) == 2 * job["budget"]  # the file and its preview or poster
        # Its top pick approved with `nightrun approve`, then packaged for publishing.
        assert f"nightrun approve 2026-02-10/{job['key']}/" in proc.stdout
        assert "1 packaged" in proc.stdout.split(job["key"] + ":")[1].splitlines()[0]
        assert list(job_dir.glob("publish/*/manifest.json"))
    assert (night / "warmup.json").is_file() and (night / "cleanup.json").is_file()
    closed = json.loads((night / "night_closed.json").read_bytes())
    assert closed["left_for_next_night"] == {} and len(closed["jobs"]) == 3
    sheet = night / "contact_sheet.html"
    assert f"contact sheet  {sheet.as_uri()}" in proc.stdout and sheet.is_file()
    # The timeline is printed as the night goes: each tick and run start and end, with time.
    timeline = [line for line, _ in arrived]
    started = next(i for i, x in enumerate(timeline) if " plan_night 2026-02-10 started (run " in x)
    assert timeline[started - 1] == "[demo] 22:45 warmup_schedule: 1 run(s)"
    assert re.fullmatch(
        r"\[demo\]   \d\d:\d\d:\d\d plan_night 2026-02-10 succeeded in \d+\.\d s",
        timeline[started + 1],
    )
    assert arrived[started + 1][1], "the run's end was printed only once the demo had ended"
    # Scoring says how far it is and how long it has left, as rendering does.
    assert re.search(r"scores \d+/\d+ \(\d+\.\d/s\), ETA \d+\.\d min", proc.stderr)
    assert re.search(r"scores (\d+)/\1 in \d+ s", proc.stderr)
    # No warning of ours or of Dagster's about how the demo uses it.
    assert "Warning" not in proc.stdout + proc.stderr, proc.stderr[:3000]
    # The emulator's own files were temporary.
    assert "[demo] emulator files removed (--keep-emulator-output keeps them)" in proc.stdout
    assert not (root / "comfy-sim").exists() and not list(root.glob(".comfy-sim-*"))
    # the lineage is in the demo's SQLite instance, where `dagster dev` will show it
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert "sqlite" in type(instance.run_storage).__name__.lower()
        parts = instance.get_materialized_partitions(dg.AssetKey("variants"))
        assert len(parts) == 3
        assert instance.get_materialized_partitions(dg.AssetKey("renders")) == parts
        assert instance.get_materialized_partitions(dg.AssetKey("night_plan")) == {"2026-02-10"}
        assert_runs_are_the_daemons_night(instance)
    # a second run changes nothing and still succeeds
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr[-4000:]
    assert again.stdout.count(" 0 rendered, 0 failed,") == 3  # nothing rendered twice


def test_demo_of_a_maintenance_night_renders_nothing_and_runs_retention(tmp_path: Path) -> None:
    root, home = tmp_path / "root", tmp_path / "home"
    cmd = [sys.executable, "-m", "nightrun_dagster.cli.main", "demo", "--root", str(root)]
    cmd += ["--home", str(home), "--night", "2026-02-15", "--mode", "maintenance"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "[demo] 23:00 maintenance_schedule: 1 run(s)" in proc.stdout
    assert "[demo] 23:00 window_schedule: skipped" in proc.stdout
    assert "[demo] 01:00 video_slice_schedule: skipped" in proc.stdout
    assert "night 2026-02-15, mode maintenance" in proc.stdout
    assert not list((root / "runs" / "2026-02-15").glob("job_*/variants"))
    assert list((root / "ops" / "retention").glob("*.json"))


def test_a_night_the_demo_cannot_run_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nightrun_dagster.cli.main import main

    root = tmp_path / "root"
    future = (date.fromisoformat(night_of()) + timedelta(days=3)).isoformat()
    cases = {
        future: f"night {future} has not opened yet: it opens at {future} 22:45 "
        "America/Argentina/Buenos_Aires",
        "2025-12-31": "night 2025-12-31 is before the first night, 2026-01-01",
        "2026-13-01": "night '2026-13-01' is not a date like 2026-02-09",
        "tomorrow": "night 'tomorrow' is not a date like 2026-02-09",
    }
    for night, reason in cases.items():
        code = main(["demo", "--root", str(root), "--night", night])
        out, err = capsys.readouterr()
        assert code == 2, (night, out, err)
        assert err.startswith(f"--night: {reason}"), (night, err)
        assert "Traceback" not in out + err
    assert not root.exists()  # nothing was staged for a night that cannot run


def test_a_night_opens_at_its_warm_up() -> None:
    def ba(day: int, hour: int, minute: int) -> datetime:
        return datetime(2026, 2, day, hour, minute, tzinfo=TZ)

    with pytest.raises(BadNight, match="opens at 2026-02-10 22:45"):
        check_night("2026-02-10", now=ba(10, 22, 44))
    assert check_night("2026-02-10", now=ba(10, 22, 45)) == "2026-02-10"
    assert check_night("20260210", now=ba(11, 3, 0)) == "2026-02-10"  # the canonical key
    # By day tonight is not open yet: the default is the night that ended this morning.
    assert night_of(ba(10, 12, 0)) == "2026-02-09"
    assert night_of(ba(10, 23, 0)) == "2026-02-10"
    assert night_of(ba(11, 3, 0)) == "2026-02-10"


def test_a_job_without_product_images_goes_from_queue_to_publish_package(tmp_path: Path) -> None:
    # The seed's schema allows `"product_images": []`; static_ad_v1 loads no product image, so
    # the job plans, renders, scores, is approved and packaged like any other.
    jobs = tmp_path / "jobs"
    (jobs / "assets").mkdir(parents=True)
    examples = Path(__file__).resolve().parents[2] / "job_specs"
    shutil.copy(examples / "assets" / "logo_verde.png", jobs / "assets" / "logo_verde.png")
    doc = json.loads((examples / "static_sdxl_ad.json").read_text("utf-8"))
    doc["assets"]["product_images"] = []
    doc["job_id"] = "sin-producto"
    (jobs / "sin_producto.json").write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    root = tmp_path / "root"
    cmd = [sys.executable, "-m", "nightrun_dagster.cli.main", "demo", "--root", str(root)]
    cmd += ["--home", str(tmp_path / "home"), "--night", "2026-02-10", "--jobs", str(jobs)]
    cmd += ["--max-renders", "4", "--keep-emulator-output"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "rejected" not in proc.stdout
    # Asked to, the demo keeps the emulator's own files: the 4 renders and their previews.
    assert f"[demo] emulator files kept in {root / 'comfy-sim'}" in proc.stdout
    assert len(list((root / "comfy-sim" / "output").rglob("*.png"))) >= 4
    assert "sin-producto: 4 variants, 4 rendered, 0 failed, " in proc.stdout, proc.stdout
    assert "1 packaged" in proc.stdout.split("sin-producto:")[1].splitlines()[0]
    job_dir = root / "runs" / "2026-02-10" / "job_sin-producto"
    manifest = json.loads((job_dir / "inputs" / "manifest.json").read_bytes())
    assert [a["field"] for a in manifest["assets"]] == ["assets.logo"]
    assert list(job_dir.glob("publish/*/manifest.json"))


def demo_cmd(root: Path, home: Path, jobs: Path, *more: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "nightrun_dagster.cli.main",
        "demo",
        "--root",
        str(root),
        "--home",
        str(home),
        "--night",
        "2026-02-10",
        "--jobs",
        str(jobs),
        *more,
    ]


def test_a_failed_run_fails_the_demo_and_blocked_jobs_say_why(
    tmp_path: Path, emulator_factory
) -> None:
    # A server without the brand LoRA. The static example's first graph uses it, so the
    # warm-up blocks that job; "lora-late" renders without it first (its LoRA-off arm), so
    # its render run finds the LoRA missing only later, is blocked there, and fails.
    server = emulator_factory(missing_models={"verde_brand_style.safetensors"})
    jobs = tmp_path / "jobs"
    examples = Path(__file__).resolve().parents[2] / "job_specs"
    shutil.copytree(examples / "assets", jobs / "assets")
    static = json.loads((examples / "static_sdxl_ad.json").read_text("utf-8"))
    (jobs / "static.json").write_text(json.dumps(static, ensure_ascii=False), "utf-8")
    late = json.loads(json.dumps(static))
    late["job_id"] = "lora-late"
    v = late["generation"]["variants"]
    # One combination but for the LoRA: prompt, sampler, steps, cfg and seed fixed.
    v.update(prompt_variants=v["prompt_variants"][:1], samplers=["euler"], steps=[20], cfg=[4.5])
    v["loras"][0]["weights"] = [0.7]  # two arms: off, then 0.7
    late["generation"]["seed_strategy"] = {"mode": "fixed", "seed": 1}
    (jobs / "late.json").write_text(json.dumps(late, ensure_ascii=False), "utf-8")
    root = tmp_path / "root"
    cmd = demo_cmd(root, tmp_path / "home", jobs, "--comfy-url", server.url)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:] + proc.stderr[-3000:]
    lines = out.splitlines()
    static_line = next(x for x in lines if x.startswith("[demo]   verde-yerba-static-2026-02:"))
    assert static_line.startswith("[demo]   verde-yerba-static-2026-02: blocked — ")
    assert "loras/verde_brand_style.safetensors" in static_line
    assert "job_verde-yerba-static-2026-02" not in out  # no folder that does not exist
    late_line = next(x for x in lines if x.startswith("[demo]   lora-late:"))
    blocked = json.loads(
        (root / "runs" / "2026-02-10" / "job_lora-late" / "blocked.json").read_bytes()
    )
    assert late_line == f"[demo]   lora-late: blocked — {blocked['reason']}"
    assert "verde_brand_style.safetensors" in blocked["reason"]
    # The exit code says the night failed, and the summary says which run.
    assert "[demo] the night failed: 1 run(s) failed" in out
    failed = lines[lines.index("[demo] the night failed: 1 run(s) failed") + 1]
    assert failed.startswith(
        "[demo]   night_jobs lora-late: step renders: job lora-late is blocked: "
    )
    assert "Traceback" not in out and "Stack Trace" not in out


def test_demo_renders_a_teams_own_workflows_folder(tmp_path: Path) -> None:
    # A team's folder: its own template on its own checkpoint, a job using it with its own
    # LoRA. The demo's emulator holds every model file they name, so the job renders.
    examples = REPO_WORKFLOWS.parent / "job_specs"
    workflows = tmp_path / "our-workflows"
    workflows.mkdir()
    template = json.loads((REPO_WORKFLOWS / "static_ad_v1.json").read_text("utf-8"))
    template["_workflow_metadata"]["template_id"] = "our_ad_v1"
    template["1"]["inputs"]["ckpt_name"] = "our_brand_xl.safetensors"
    (workflows / "our_ad_v1.json").write_text(json.dumps(template), "utf-8")
    jobs = tmp_path / "jobs"
    shutil.copytree(examples / "assets", jobs / "assets")
    doc = json.loads((examples / "static_sdxl_ad.json").read_text("utf-8"))
    doc["job_id"] = "our-job"
    doc["generation"]["workflow"] = {"template_id": "our_ad_v1", "workflow_path": "our_ad_v1.json"}
    doc["generation"]["variants"]["loras"][0]["path"] = "our_style.safetensors"
    (jobs / "our_job.json").write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    root = tmp_path / "root"
    cmd = demo_cmd(root, tmp_path / "home", jobs, "--workflows-dir", str(workflows))
    proc = subprocess.run(
        [*cmd, "--max-renders", "4"], capture_output=True, text=True, timeout=600, check=False
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert f"[demo] workflows      {workflows}" in out
    assert "our-job: 4 variants, 4 rendered, 0 failed, " in out, out
    job_dir = Tree(root).job("2026-02-10", "our-job")
    assert json.loads(job_dir.params("v0001").read_bytes())["template"]["id"] == "our_ad_v1"
    sent = json.loads((job_dir.meta("v0001") / PROMPT).read_bytes())
    assert sent["1"]["inputs"]["ckpt_name"] == "our_brand_xl.safetensors"
    # A folder that is not there is a clear error before anything is staged.
    code = subprocess.run(
        demo_cmd(tmp_path / "r2", tmp_path / "h2", jobs, "--workflows-dir", str(tmp_path / "no")),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert code.returncode == 2 and "--workflows-dir:" in code.stderr
    assert not (tmp_path / "r2").exists()
