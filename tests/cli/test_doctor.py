"""`nightrun doctor` against the emulator, a server missing a model, and a stopped server."""

import json
import shutil
import socket
from pathlib import Path

import pytest

from nightrun_dagster.cli.main import main
from nightrun_dagster.comfy.doctor import SMOKE_SOURCE
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.workflows.templates import display_path

REPO = Path(__file__).resolve().parents[2]


def doctor(capsys: pytest.CaptureFixture[str], url: str, tree: Tree, *more: str) -> tuple[int, str]:
    code = main(
        ["doctor", "--comfy-url", url, "--root", str(tree.root), "--min-free-gb", "0.01", *more]
    )
    return code, capsys.readouterr().out


def lines_by_check(out: str) -> dict[str, str]:
    return {line.split()[1]: line for line in out.splitlines() if line[:4] in {"PASS", "FAIL"}}


def test_doctor_passes_against_the_emulator(
    capsys, emulator, tree: Tree, queued_examples: list[Path]
) -> None:
    code, out = doctor(capsys, emulator.url, tree)
    checks = lines_by_check(out)
    assert code == 0, out
    assert set(checks) == {
        "templates",
        "queue",
        "reachable",
        "devices",
        "smoke_v1",
        "jobs",
        "tesseract",
        "disk",
    }
    assert all(line.startswith("PASS") for line in checks.values()), out
    assert "ComfyUI 0.3.64" in checks["reachable"]
    assert "3 queued job(s) checked" in checks["jobs"]
    assert "4 template(s) in " in checks["templates"] and "broken" not in out
    assert "3 valid queued job(s)" in checks["queue"]
    assert "spa" in checks["tesseract"] and "eng" in checks["tesseract"]
    assert emulator.stats()["successes_by_prefix"] == {"nightrun/doctor/smoke": 1}
    assert out.rstrip().endswith("doctor: all checks passed")


def test_doctor_names_a_missing_model(
    capsys, emulator_factory, tree: Tree, queued_examples: list[Path]
) -> None:
    server = emulator_factory(missing_models={"controlnet-canny-sdxl-1.0.safetensors"})
    code, out = doctor(capsys, server.url, tree)
    assert code == 1
    checks = lines_by_check(out)
    assert checks["jobs"].startswith("FAIL") and checks["smoke_v1"].startswith("PASS")
    assert "ui_anchored_ad.json" in out
    assert "controlnet/controlnet-canny-sdxl-1.0.safetensors is not on the server" in out
    assert "doctor: failed: jobs" in out


def test_doctor_fails_clearly_against_a_stopped_server(capsys, tree: Tree) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out = doctor(capsys, f"http://127.0.0.1:{port}", tree)
    assert code == 1
    checks = lines_by_check(out)
    assert checks["reachable"].startswith("FAIL") and f"127.0.0.1:{port}" in checks["reachable"]
    assert checks["tesseract"].startswith("PASS")  # the rest is still checked
    assert "doctor: failed: reachable" in out


def test_doctor_reports_missing_tesseract_language(
    capsys, emulator, tree: Tree, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A tessdata folder holding only English: the Spanish model is then missing.
    tessdata = tmp_path / "tessdata"
    tessdata.mkdir()
    eng = next(Path("/usr/share/tesseract-ocr").glob("*/tessdata/eng.traineddata"))
    shutil.copy(eng, tessdata / "eng.traineddata")
    monkeypatch.setenv("TESSDATA_PREFIX", str(tessdata))
    code, out = doctor(capsys, emulator.url, tree)
    assert code == 1
    tesseract = lines_by_check(out)["tesseract"]
    assert tesseract.startswith("FAIL") and "missing spa" in tesseract


def test_doctor_lists_broken_templates_and_queued_files_that_will_be_rejected(
    capsys, emulator, tree: Tree, queued_examples: list[Path], tmp_path: Path
) -> None:
    workflows = tmp_path / "workflows"
    shutil.copytree(REPO / "workflows", workflows)
    node = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}}}
    (workflows / "plain_export.json").write_text(json.dumps(node))
    (workflows / "smoke_v1.json").write_text("{")  # even the smoke test's template
    doc = json.loads(queued_examples[0].read_bytes())
    doc["job_id"] = "uses-plain-export"
    doc["generation"]["workflow"] = {
        "template_id": "plain_export",
        "workflow_path": "plain_export.json",
    }
    (tree.queue / "uses_plain_export.json").write_text(json.dumps(doc))
    (tree.queue / "half.json").write_text('{"job_id": ')
    # Schema-valid, but its inputs_map targets a node the template lacks: no graph can be
    # built, so the intake (and the sensor after it) rejects it like any other bad field.
    doc = json.loads(queued_examples[0].read_bytes())
    doc["job_id"] = "maps-to-nowhere"
    doc["generation"]["workflow"]["inputs_map"] = {"copy.headline": "99.text"}
    (tree.queue / "maps_to_nowhere.json").write_text(json.dumps(doc))
    queue_before = sorted(p.name for p in tree.queue.iterdir())

    code, out = doctor(capsys, emulator.url, tree, "--workflows-dir", str(workflows))

    assert code == 1, out
    assert "Traceback" not in out
    checks = lines_by_check(out)
    assert checks["templates"].startswith("FAIL")
    assert f"3 template(s) and 2 broken file(s) in {workflows}" in checks["templates"]
    assert f"- {workflows / 'plain_export.json'} is broken: _workflow_metadata is missing" in out
    assert f"- {workflows / 'smoke_v1.json'} is broken: not valid JSON" in out
    assert checks["queue"].startswith("FAIL")
    assert "3 valid queued job(s), 3 file(s) will be rejected" in checks["queue"]
    assert (
        f"- uses_plain_export.json: generation.workflow.template_id: "
        f"{workflows / 'plain_export.json'} is broken: " in out
    )
    assert "- half.json: (json): invalid JSON at line 1" in out
    assert checks["smoke_v1"].startswith("FAIL") and "smoke_v1.json is broken" in out
    assert (
        """- maps_to_nowhere.json: generation.workflow.inputs_map["copy.headline"]: """
        "target '99.text': no node or role '99' in static_ad_v1 (template static_ad_v1)"
    ) in out
    # The valid jobs are still checked against the server.
    assert checks["jobs"].startswith("PASS") and "3 queued job(s) checked" in checks["jobs"]
    assert "doctor: failed: templates, queue, smoke_v1" in out
    # Doctor only looks: nothing was moved to rejected/.
    assert sorted(p.name for p in tree.queue.iterdir()) == queue_before


def test_a_workflows_folder_without_smoke_v1_says_how_to_fix_it(
    capsys, emulator, tree: Tree, tmp_path: Path
) -> None:
    # A team's own folder: its templates, and no smoke_v1.
    workflows = tmp_path / "our-workflows"
    workflows.mkdir()
    shutil.copy(REPO / "workflows" / "static_ad_v1.json", workflows)
    code, out = doctor(capsys, emulator.url, tree, "--workflows-dir", str(workflows))
    assert code == 1
    smoke = lines_by_check(out)["smoke_v1"]
    assert smoke.startswith("FAIL")
    source = display_path(SMOKE_SOURCE)  # workflows/smoke_v1.json, run from the project
    assert (
        f"no smoke_v1 template in {workflows}: copy {source} from the project into {workflows}"
    ) in smoke
    # The hint works: with the project's copy there, the smoke test passes.
    shutil.copy(REPO / "workflows" / "smoke_v1.json", workflows)
    code, out = doctor(capsys, emulator.url, tree, "--workflows-dir", str(workflows))
    assert lines_by_check(out)["smoke_v1"].startswith("PASS"), out
