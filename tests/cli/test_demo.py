"""`nightrun demo`: queues the example jobs, plans and renders a night (emulator, SQLite)."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg


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
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "night 2026-02-10, mode exploration" in proc.stdout
    # The real schedules, evaluated at their times, drove the night.
    for line in (
        "22:45 warmup_schedule: 1 run(s)",
        "23:00 window_schedule: 2 run(s)",
        "23:00 maintenance_schedule: skipped",
        "01:00 video_slice_schedule: 1 run(s)",
        "07:30 cool_down_schedule: 1 run(s)",
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
    # the lineage is in the demo's SQLite instance, where `dagster dev` will show it
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert "sqlite" in type(instance.run_storage).__name__.lower()
        parts = instance.get_materialized_partitions(dg.AssetKey("variants"))
        assert len(parts) == 3
        assert instance.get_materialized_partitions(dg.AssetKey("renders")) == parts
        assert instance.get_materialized_partitions(dg.AssetKey("night_plan")) == {"2026-02-10"}
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
