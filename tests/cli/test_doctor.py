"""`nightrun doctor` against the emulator, a server missing a model, and a stopped server."""

import shutil
import socket
from pathlib import Path

import pytest

from nightrun_dagster.cli.main import main
from nightrun_dagster.store.paths import Tree

REPO = Path(__file__).resolve().parents[2]


def doctor(capsys: pytest.CaptureFixture[str], url: str, tree: Tree) -> tuple[int, str]:
    code = main(["doctor", "--comfy-url", url, "--root", str(tree.root), "--min-free-gb", "0.01"])
    return code, capsys.readouterr().out


def lines_by_check(out: str) -> dict[str, str]:
    return {line.split()[1]: line for line in out.splitlines() if line[:4] in {"PASS", "FAIL"}}


def test_doctor_passes_against_the_emulator(
    capsys, emulator, tree: Tree, queued_examples: list[Path]
) -> None:
    code, out = doctor(capsys, emulator.url, tree)
    checks = lines_by_check(out)
    assert code == 0, out
    assert set(checks) == {"reachable", "devices", "smoke_v1", "jobs", "tesseract", "disk"}
    assert all(line.startswith("PASS") for line in checks.values()), out
    assert "ComfyUI 0.3.64" in checks["reachable"]
    assert "3 queued job(s) checked" in checks["jobs"]
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
