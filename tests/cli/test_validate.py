"""`nightrun validate`: schema + semantic validation of job files, run as a real subprocess.

Contract: exit 0 when every file is valid, else exit 1; one stdout line per error,
`FILE: FIELD: REASON`, FILE being the path as given on the command line; a valid file prints
`FILE: ok ...`. tests/data/jobs/malformed/EXPECTED.json lists, per file, exactly the FIELDs
expected.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
JOBS_DATA = REPO_ROOT / "tests" / "data" / "jobs"
ASSETS_ROOT = JOBS_DATA / "assets"
MALFORMED = JOBS_DATA / "malformed"
VALID = JOBS_DATA / "valid"
WORKFLOWS_DIR = REPO_ROOT / "workflows"

EXPECTED: dict[str, list[str]] = json.loads((MALFORMED / "EXPECTED.json").read_text("utf-8"))
MALFORMED_FILES = sorted(p for p in MALFORMED.glob("*.json") if p.name != "EXPECTED.json")
VALID_FILES = sorted(VALID.glob("*.json"))

FIELD_RE = re.compile(
    r"^(\(json\)|\(document\)|[A-Za-z_$][\w$]*(\[\d+\])*(\.[A-Za-z_$][\w$]*(\[\d+\])*)*)$"
)


def _rel(path: Path) -> str:
    """The path as given on the command line (relative to the repo root, the subprocess cwd)."""
    return path.relative_to(REPO_ROOT).as_posix()


def _cli_available() -> bool:
    try:
        return importlib.util.find_spec("nightrun_dagster.cli.main") is not None
    except ModuleNotFoundError:
        return False


def run_validate(
    *files: str, assets_root: Path = ASSETS_ROOT, workflows_dir: Path = WORKFLOWS_DIR
) -> subprocess.CompletedProcess[str]:
    if not _cli_available():
        pytest.fail("nightrun_dagster.cli.main is missing: `nightrun validate` is not implemented")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "nightrun_dagster.cli.main",
            "validate",
            "--assets-root",
            str(assets_root),
            "--workflows-dir",
            str(workflows_dir),
            *files,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
    )


def lines_for(stdout: str, file: str) -> list[str]:
    prefix = f"{file}: "
    return [line for line in stdout.splitlines() if line.startswith(prefix)]


def error_fields(stdout: str, file: str) -> list[str]:
    """FIELDs of the error lines of `file`, checking each line's format on the way."""
    fields = []
    for line in lines_for(stdout, file):
        rest = line[len(file) + 2 :]
        assert not re.match(r"^ok\b", rest), f"a malformed file was reported ok: {line!r}"
        assert re.fullmatch(re.escape(file) + r": [^ ]+: .+", line), f"bad error line: {line!r}"
        field, _, reason = rest.partition(": ")
        assert FIELD_RE.match(field), f"FIELD {field!r} is not a dotted path: {line!r}"
        assert reason.strip(), f"empty reason: {line!r}"
        fields.append(field)
    return fields


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-4000:]}"


def test_fixture_folders_are_complete() -> None:
    assert len(MALFORMED_FILES) >= 20
    assert {p.name for p in MALFORMED_FILES} == set(EXPECTED), (
        "EXPECTED.json must list exactly the malformed files"
    )
    assert all(EXPECTED[name] for name in EXPECTED), "every malformed file expects an error"
    assert any(len(fields) >= 2 for fields in EXPECTED.values()), "need a file with two errors"
    assert len(VALID_FILES) >= 3
    for name in ("product.png", "ui_screen.png", "logo.png"):
        assert (ASSETS_ROOT / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), name
    for template in ("static_ad_v1", "ui_anchored_v1", "wan21_teaser_v1", "smoke_v1"):
        assert (WORKFLOWS_DIR / f"{template}.json").is_file(), template


def test_all_malformed_files_at_once() -> None:
    files = [_rel(p) for p in MALFORMED_FILES]
    proc = run_validate(*files)
    assert proc.returncode == 1, _describe(proc)
    mismatches = {}
    for path, file in zip(MALFORMED_FILES, files, strict=True):
        got = error_fields(proc.stdout, file)
        assert len(got) == len(set(got)), f"{file}: duplicate error lines {got}"
        if set(got) != set(EXPECTED[path.name]):
            mismatches[path.name] = {"expected": EXPECTED[path.name], "got": got}
    assert not mismatches, (
        f"fields differ from EXPECTED.json: {json.dumps(mismatches, indent=1)}\n{_describe(proc)}"
    )


@pytest.mark.parametrize("path", MALFORMED_FILES, ids=lambda p: p.name)
def test_each_malformed_file_alone(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # In-process (the same `main` the console script calls): 50+ interpreter starts are slow.
    from nightrun_dagster.cli.main import main

    monkeypatch.chdir(REPO_ROOT)
    file = _rel(path)
    args = ["validate", "--assets-root", str(ASSETS_ROOT), "--workflows-dir", str(WORKFLOWS_DIR)]
    code = main([*args, file])
    out = capsys.readouterr().out
    assert code == 1, out
    assert set(error_fields(out, file)) == set(EXPECTED[path.name]), out


def test_two_errors_in_one_file_print_two_lines() -> None:
    path = MALFORMED / "two_errors_colour_and_lora_weight.json"
    file = _rel(path)
    proc = run_validate(file)
    assert proc.returncode == 1, _describe(proc)
    assert sorted(error_fields(proc.stdout, file)) == sorted(EXPECTED[path.name]), _describe(proc)


def test_valid_files_pass() -> None:
    files = [_rel(p) for p in VALID_FILES]
    proc = run_validate(*files)
    assert proc.returncode == 0, _describe(proc)
    for file in files:
        lines = lines_for(proc.stdout, file)
        assert len(lines) == 1, f"{file}: expected one line, got {lines}\n{_describe(proc)}"
        assert re.match(re.escape(file) + r": ok\b", lines[0]), lines[0]


def test_valid_and_malformed_mixed_exits_1_and_still_reports_ok() -> None:
    good, bad = _rel(VALID_FILES[0]), _rel(MALFORMED / "lora_weight_2_5.json")
    proc = run_validate(good, bad)
    assert proc.returncode == 1, _describe(proc)
    assert [line.startswith(f"{good}: ok") for line in lines_for(proc.stdout, good)] == [True]
    assert error_fields(proc.stdout, bad) == EXPECTED["lora_weight_2_5.json"]


def test_symlink_escaping_the_assets_root(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()
    root = tmp_path / "assets_root"
    root.mkdir()
    shutil.copy(ASSETS_ROOT / "product.png", root / "product.png")
    shutil.copy(ASSETS_ROOT / "logo.png", root / "logo.png")
    target = Path("/etc/hostname")
    if not target.is_file():
        target = tmp_path / "outside.png"
        shutil.copy(ASSETS_ROOT / "product.png", target)
    (root / "evil.png").symlink_to(target)

    doc = json.loads((VALID / "static_ad.json").read_text("utf-8"))
    doc["assets"]["product_images"] = ["evil.png"]
    job = tmp_path / "job_symlink.json"
    job.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    proc = run_validate(str(job), assets_root=root)
    assert proc.returncode == 1, _describe(proc)
    assert error_fields(proc.stdout, str(job)) == ["assets.product_images[0]"], _describe(proc)
    (line,) = lines_for(proc.stdout, str(job))
    reason = line.split(": ", 2)[2]
    assert str(root) in reason or "root" in reason.lower(), (
        f"the reason should mention the assets root: {line!r}"
    )

    # Control: the same job with the real file validates, so the symlink is what failed.
    doc["assets"]["product_images"] = ["product.png"]
    job.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    proc = run_validate(str(job), assets_root=root)
    assert proc.returncode == 0, _describe(proc)


def test_validate_does_not_touch_the_files() -> None:
    before_malformed = _snapshot(MALFORMED)
    before_valid = _snapshot(VALID)
    before_assets = _snapshot(ASSETS_ROOT)

    run_validate(*(_rel(p) for p in MALFORMED_FILES))
    run_validate(*(_rel(p) for p in VALID_FILES))

    assert _snapshot(MALFORMED) == before_malformed, "validate changed tests/data/jobs/malformed"
    assert _snapshot(VALID) == before_valid, "validate changed tests/data/jobs/valid"
    assert _snapshot(ASSETS_ROOT) == before_assets, "validate changed tests/data/jobs/assets"
