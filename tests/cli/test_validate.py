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


# --- workflows/ with broken files, workflow_path as people write it, empty product_images ---

PLAIN_EXPORT = {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64}}}


def _workflows_with_broken_files(tmp_path: Path) -> Path:
    """A copy of workflows/ plus a plain ComfyUI export, a file that is not JSON and a template
    whose declared id differs from its file name."""
    workflows = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS_DIR, workflows)
    (workflows / "plain_export.json").write_text(json.dumps(PLAIN_EXPORT), encoding="utf-8")
    (workflows / "half_written.json").write_text('{"1": {"class_type": "Empty', encoding="utf-8")
    renamed = json.loads((WORKFLOWS_DIR / "static_ad_v1.json").read_text("utf-8"))
    renamed["_workflow_metadata"]["template_id"] = "carousel_v2"
    (workflows / "renamed.json").write_text(json.dumps(renamed), encoding="utf-8")
    return workflows


def _job_naming(tmp_path: Path, template_id: str, workflow_path: str | None = None) -> Path:
    doc = json.loads((VALID / "static_ad.json").read_text("utf-8"))
    doc["job_id"] = f"job-{template_id}"
    doc["generation"]["workflow"] = {
        "template_id": template_id,
        "workflow_path": f"{template_id}.json" if workflow_path is None else workflow_path,
    }
    path = tmp_path / f"job_{template_id}.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _validate_in_process(
    capsys: pytest.CaptureFixture[str], *files: str | Path, workflows_dir: Path = WORKFLOWS_DIR
) -> tuple[int, str, str]:
    from nightrun_dagster.cli.main import main

    args = ["validate", "--assets-root", str(ASSETS_ROOT), "--workflows-dir", str(workflows_dir)]
    code = main([*args, *map(str, files)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_broken_templates_reject_only_the_jobs_that_name_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    workflows = _workflows_with_broken_files(tmp_path)
    plain = _job_naming(tmp_path, "plain_export")
    half = _job_naming(tmp_path, "half_written")
    renamed = _job_naming(tmp_path, "carousel_v2")
    good = [_rel(p) for p in VALID_FILES]

    code, out, err = _validate_in_process(
        capsys, *good, plain, half, renamed, workflows_dir=workflows
    )

    assert code == 1, out + err
    assert "Traceback" not in out + err
    for file in good:
        assert [line.startswith(f"{file}: ok") for line in lines_for(out, file)] == [True], out
    field = "generation.workflow.template_id"
    (line,) = lines_for(out, str(plain))
    assert line == (
        f"{plain}: {field}: {workflows / 'plain_export.json'} is broken: _workflow_metadata is "
        "missing: a plain ComfyUI export; import it with `nightrun template add FILE --id ID`"
    )
    (line,) = lines_for(out, str(half))
    assert line.startswith(f"{half}: {field}: {workflows / 'half_written.json'} is broken: ")
    assert "not valid JSON" in line
    # The job names the id the file declares: the error points at that file.
    (line,) = lines_for(out, str(renamed))
    assert (
        f"{workflows / 'renamed.json'} is broken: " in line and "differs from the file name" in line
    )
    # One warning per broken file on stderr, whatever the jobs name.
    warnings = [w for w in err.splitlines() if w.startswith("warning: ")]
    assert len(warnings) == 3, err
    for name in ("plain_export.json", "half_written.json", "renamed.json"):
        assert sum(f"{name} is broken: " in w for w in warnings) == 1, err


def test_broken_templates_warn_but_good_jobs_still_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    workflows = _workflows_with_broken_files(tmp_path)
    code, out, err = _validate_in_process(
        capsys, *(_rel(p) for p in VALID_FILES), workflows_dir=workflows
    )
    assert code == 0, out + err
    assert err.count("warning: ") == 3 and "plain_export.json is broken" in err


def test_broken_files_are_named_as_seen_from_the_working_directory(tmp_path: Path) -> None:
    # As a person runs it from the project root: "workflows/half_written.json is broken: …".
    _workflows_with_broken_files(tmp_path)
    job = _job_naming(tmp_path, "half_written")
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "nightrun_dagster.cli.main", "validate"),
            *("--assets-root", str(ASSETS_ROOT), "--workflows-dir", "workflows"),
            *(job.name, str(VALID / "static_ad.json")),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, _describe(proc)
    reason = "workflows/half_written.json is broken: not valid JSON"
    assert f"{job.name}: generation.workflow.template_id: {reason}" in proc.stdout, _describe(proc)
    assert f"warning: {reason}" in proc.stderr, _describe(proc)
    assert f"{VALID / 'static_ad.json'}: ok" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "workflow_path",
    [
        "static_ad_v1.json",
        "workflows/static_ad_v1.json",
        "marketing/comfy/workflows/static_ad_v1.json",
        "marketing\\comfy\\workflows\\static_ad_v1.json",
    ],
)
def test_workflow_path_as_people_write_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    workflow_path: str,
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    job = _job_naming(tmp_path, "static_ad_v1", workflow_path)
    code, out, err = _validate_in_process(capsys, job)
    assert code == 0, out + err
    assert lines_for(out, str(job))[0].startswith(f"{job}: ok")


@pytest.mark.parametrize(
    ("workflow_path", "reason"),
    [
        ("workflows/ui_anchored_v1.json", "is not the file of template 'static_ad_v1'"),
        ("marketing/comfy/workflows/static_ad_v2.json", "is not the file of template"),
        ("/srv/comfy/workflows/static_ad_v1.json", "is absolute"),
        ("C:\\comfy\\static_ad_v1.json", "is absolute"),
        ("../workflows/static_ad_v1.json", "contains '..'"),
        ("workflows/../static_ad_v1.json", "contains '..'"),
        ("", "is empty"),
    ],
)
def test_workflow_path_that_names_another_file_or_leaves_the_project(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    workflow_path: str,
    reason: str,
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    job = _job_naming(tmp_path, "static_ad_v1", workflow_path)
    code, out, _ = _validate_in_process(capsys, job)
    assert code == 1
    (line,) = lines_for(out, str(job))
    assert line.startswith(f"{job}: generation.workflow.workflow_path: "), line
    assert reason in line


def test_empty_product_images_depend_on_the_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    doc = json.loads((VALID / "ui_anchored.json").read_text("utf-8"))
    doc["assets"]["product_images"] = []
    doc["generation"]["workflow"].pop("inputs_map")
    ui = tmp_path / "ui_without_product.json"
    ui.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    doc["assets"]["base_ui_screens"] = []
    ui_bare = tmp_path / "ui_without_product_or_screen.json"
    ui_bare.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    # static_ad_v1 loads no product image, unless the job's inputs_map reads one.
    mapped_doc = json.loads((VALID / "static_ad_without_product_image.json").read_text("utf-8"))
    mapped_doc["generation"]["workflow"]["inputs_map"] = {"assets.product_images[0]": "5.image"}
    mapped = tmp_path / "static_mapping_a_product_image.json"
    mapped.write_text(json.dumps(mapped_doc, ensure_ascii=False), encoding="utf-8")
    plain = _rel(VALID / "static_ad_without_product_image.json")

    code, out, _ = _validate_in_process(capsys, plain, ui, ui_bare, mapped)

    assert code == 1
    assert lines_for(out, plain)[0].startswith(f"{plain}: ok")
    assert lines_for(out, str(ui)) == [
        f"{ui}: assets.product_images: template ui_anchored_v1 loads a product image "
        "(node 3, LoadImage); list one in assets.product_images"
    ]
    assert sorted(error_fields(out, str(ui_bare))) == [
        "assets.base_ui_screens",
        "assets.product_images",
    ]
    assert "loads a base UI screen (node 2, LoadImage)" in out
    assert lines_for(out, str(mapped)) == [
        f"{mapped}: assets.product_images: generation.workflow.inputs_map reads "
        "assets.product_images[0]; list one in assets.product_images"
    ]


def test_assets_are_found_beside_the_job_without_assets_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nightrun_dagster.cli.main import main

    root = tmp_path / "night-runs"  # an artifact root with no assets/ at all
    # job_specs/ keeps its assets in job_specs/assets/.
    example = REPO_ROOT / "job_specs" / "static_sdxl_ad.json"
    # A job written next to its images.
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copy(ASSETS_ROOT / "product.png", loose / "product.png")
    shutil.copy(ASSETS_ROOT / "logo.png", loose / "logo.png")
    shutil.copy(VALID / "static_ad.json", loose / "job.json")
    # A job whose images are nowhere: the error names <root>/assets, where it looked last.
    lost = tmp_path / "lost" / "job.json"
    lost.parent.mkdir()
    shutil.copy(VALID / "static_ad.json", lost)

    code = main(["validate", "--root", str(root), str(example), str(loose / "job.json"), str(lost)])
    out = capsys.readouterr().out

    assert code == 1, out
    assert lines_for(out, str(example))[0].startswith(f"{example}: ok"), out
    assert lines_for(out, str(loose / "job.json"))[0].startswith(f"{loose / 'job.json'}: ok"), out
    assert set(error_fields(out, str(lost))) == {"assets.product_images[0]", "assets.logo"}
    assert str(root / "assets") in out


def test_the_schema_file_is_named_as_a_schema_not_a_job() -> None:
    file = "job_specs/creative_job.schema.json"
    proc = run_validate(file)
    assert proc.returncode == 1, _describe(proc)
    assert lines_for(proc.stdout, file) == [
        f"{file}: (document): is a JSON Schema, not a creative job: put only job files here"
    ], _describe(proc)
