"""`nightrun expand`, `nightrun schema` and `nightrun bench expand`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nightrun_dagster.cli.main import main

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "job_specs" / "static_sdxl_ad.json"
ASSETS = ["--assets-root", str(REPO / "job_specs" / "assets")]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_expand_prints_count_cap_and_preview(capsys) -> None:
    code, out, _ = run(capsys, "expand", str(STATIC), *ASSETS, "--night", "2026-02-09")
    assert code == 0
    lines = out.splitlines()
    assert "mode exploration" in lines[0] and "night 2026-02-09" in lines[0]
    assert "800 variants from a sweep of 1920; cap 800" in lines[1]
    assert lines[2].split()[:3] == ["id", "prompt", "seed"]
    assert lines[3].startswith("v0001 ")
    assert "780 more" in lines[-1]


def test_expand_json_lists_every_variant_and_is_stable(capsys) -> None:
    args = ("expand", str(STATIC), *ASSETS, "--night", "2026-02-12", "--json")
    code, out, _ = run(capsys, *args)
    assert code == 0
    doc = json.loads(out)
    assert doc["count"] == len(doc["variants"]) == 800 and doc["cap"] == 800
    v = doc["variants"][0]
    assert {"variant_id", "seed", "prompt", "loras", "sampler", "steps", "cfg", "denoise"} <= set(v)
    assert len({x["variant_id"] for x in doc["variants"]}) == 800
    _, again, _ = run(capsys, *args)
    assert again == out


def test_expand_mode_override(capsys) -> None:
    code, out, _ = run(
        capsys,
        "expand",
        str(STATIC),
        *ASSETS,
        "--night",
        "2026-02-09",
        "--mode",
        "maintenance",
        "--json",
    )
    assert code == 0 and json.loads(out)["count"] == 0


def test_expand_invalid_job_exits_1_with_errors(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"job_id": 5}')
    code, out, err = run(capsys, "expand", str(bad), *ASSETS)
    assert code == 1 and out == ""
    assert f"{bad}: job_id: must be a string" in err
    assert f"{bad}: product: required field is missing" in err


def test_expand_bad_night(capsys) -> None:
    code, _, err = run(capsys, "expand", str(STATIC), *ASSETS, "--night", "tomorrow")
    assert code == 2 and "--night" in err and "tomorrow" in err


def test_schema_command_matches_committed_file(capsys) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    assert json.loads(out) == json.loads(
        (REPO / "job_specs" / "creative_job.schema.json").read_text()
    )


def test_bench_expand_json_is_one_object() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nightrun_dagster.cli.main",
            "bench",
            "expand",
            "--variants",
            "600",
            "--repeat",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    doc = json.loads(proc.stdout)
    assert doc["bench"] == "expand" and doc["variants"] == 600
    assert doc["params_files"] == 600 and doc["sweep_size"] > 600
    assert doc["total_s"] > 0 and doc["machine"]["cores"] >= 1


def test_bench_expand_table(capsys) -> None:
    code, out, _ = run(capsys, "bench", "expand", "--variants", "300", "--repeat", "1")
    assert code == 0
    rows = dict(line.split("  ", 1) for line in out.splitlines())
    assert rows["variants"].strip() == "300"
    assert rows["params.json files"].strip() == "300"


def test_expand_finds_the_assets_beside_the_job_and_reads_the_night_canonically(capsys) -> None:
    # No --assets-root: job_specs/ keeps its assets in job_specs/assets/, as validate finds them.
    args = ("expand", str(STATIC), "--json")
    code, canonical, err = run(capsys, *args, "--night", "2026-02-12")
    assert code == 0, err
    code, compact, err = run(capsys, *args, "--night", "20260212")
    assert code == 0, err
    assert json.loads(compact)["night"] == "2026-02-12"
    assert compact == canonical  # the same seeds: the night salts them
    code, _, err = run(capsys, *args, "--night", "2026-02-30")
    assert code == 2 and err.startswith("--night: night '2026-02-30' is not a date")
