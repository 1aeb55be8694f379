"""`nightrun template add | list | show`: exports in both formats become templates."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.cli.main import main
from nightrun_dagster.emulator import EmulatorServer
from nightrun_dagster.workflows.templates import (
    DEFAULT_WORKFLOWS_DIR,
    METADATA_KEY,
    load_template,
)
from tests.conftest import EmulatorFactory

TESTS = Path(__file__).resolve().parents[1]
API = TESTS / "data" / "workflows" / "api"
REFUSED = TESTS / "data" / "workflows" / "refused"
UI = TESTS / "workflows" / "data" / "ui_workflows"
OBJECT_INFO = TESTS.parent / "nightrun_dagster" / "emulator" / "data"


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    shutil.copytree(DEFAULT_WORKFLOWS_DIR, folder)
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def add_json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> dict[str, Any]:
    """`template add --json`; exit 3 means written, but the server lacks something."""
    got, out, err = run(capsys, "template", "add", *argv, "--json")
    assert got == code, err
    return json.loads(out)


def only_models_missing(report: dict[str, Any]) -> set[str]:
    """The capture server behind the bundled object_info has none of these models."""
    assert report["checked_against_server"] is True
    assert {p["kind"] for p in report["problems"]} == {"missing_model"}
    return {p["detail"].split(" ")[0] for p in report["problems"]}


def test_api_export_becomes_a_template_with_analysis(
    capsys: pytest.CaptureFixture[str], workflows: Path
) -> None:
    report = add_json(
        capsys, str(API / "sdxl_refiner.json"), "--id", "refiner", "--workflows-dir", str(workflows)
    )
    assert report["written"] and report["version"] == "1.0.0"
    assert report["roles"]["sampler"] == "10" and report["second_passes"] == ["11"]
    assert "first pass" in report["two_pass_rule"]
    assert report["checked_against_server"] is False
    swept = {(p["node_id"], p["input"]) for p in report["parameters"]}
    assert {("10", "noise_seed"), ("10", "steps"), ("10", "cfg"), ("6", "text_g")} <= swept
    template = load_template(workflows / "refiner.json")
    source = json.loads((API / "sdxl_refiner.json").read_text())
    assert template.graph() == source  # the graph as exported, the metadata beside it
    assert template.metadata["source"]["file"] == "sdxl_refiner.json"


def test_ui_export_needs_schemas_and_says_how(
    capsys: pytest.CaptureFixture[str], workflows: Path
) -> None:
    code, out, err = run(
        capsys,
        "template",
        "add",
        str(UI / "default.json"),
        "--id",
        "sd15",
        "--workflows-dir",
        str(workflows),
    )
    assert code == 1 and out == ""
    assert "UI-format" in err and "--comfy-url" in err and "--object-info" in err
    assert "Export (API)" in err
    assert not (workflows / "sd15.json").exists()


@pytest.mark.parametrize("name", ["default", "lora", "image_to_video_wan"])
def test_ui_exports_import_with_a_saved_object_info(
    capsys: pytest.CaptureFixture[str], workflows: Path, name: str
) -> None:
    report = add_json(
        capsys,
        str(UI / f"{name}.json"),
        "--id",
        name,
        "--object-info",
        str(OBJECT_INFO / "object_info_full.json"),
        "--workflows-dir",
        str(workflows),
        code=3,
    )
    expected = json.loads((UI / f"{name}.api.json").read_text())
    assert load_template(workflows / f"{name}.json").graph() == expected
    assert report["source_format"] == "ui"
    assert report["roles"]["sampler"] == "3"
    models = {f"{folder}/{n}" for folder, names in report["models"].items() for n in names}
    assert only_models_missing(report) == models


def test_wan_image_to_video_roles(capsys: pytest.CaptureFixture[str], workflows: Path) -> None:
    report = add_json(
        capsys,
        str(UI / "image_to_video_wan.json"),
        "--id",
        "wan_i2v",
        "--object-info",
        str(OBJECT_INFO / "object_info_full.json"),
        "--workflows-dir",
        str(workflows),
        code=3,
    )
    assert report["kind"] == "video"
    roles = report["roles"]
    assert (roles["unet"], roles["clip"], roles["vae"]) == ("37", "38", "39")
    assert (roles["positive"], roles["negative"]) == ("6", "7")
    assert roles["video_latent"] == "50" and roles["product_image"] == "52"
    assert roles["output"] == "56"
    assert report["defaults"]["frames"] == 33
    assert report["input_requirements"] == ["assets.product_images[0]"]


def test_checked_against_a_server_reports_what_is_missing(
    capsys: pytest.CaptureFixture[str], workflows: Path, emulator: EmulatorServer
) -> None:
    code, out, err = run(
        capsys,
        "template",
        "add",
        str(UI / "lora.json"),
        "--id",
        "lora",
        "--comfy-url",
        emulator.url,
        "--workflows-dir",
        str(workflows),
    )
    assert code == 3, err  # written, but the server lacks the models
    assert "checkpoints/dreamshaper_8.safetensors is not on the server" in out
    assert "loras/blindbox_v1_mix.safetensors is not on the server" in out
    assert (workflows / "lora.json").exists()


def test_checked_against_a_server_that_has_everything(
    capsys: pytest.CaptureFixture[str], workflows: Path, emulator_factory: EmulatorFactory
) -> None:
    server = emulator_factory()
    server.host.config.models["checkpoints"].append("v1-5-pruned-emaonly-fp16.safetensors")
    code, out, err = run(
        capsys,
        "template",
        "add",
        str(UI / "default.json"),
        "--id",
        "sd15",
        "--comfy-url",
        server.url,
        "--workflows-dir",
        str(workflows),
    )
    assert code == 0, out + err
    assert "the server has every node class, value and model it uses" in out


def test_unreachable_server_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], workflows: Path
) -> None:
    code, _, err = run(
        capsys,
        "template",
        "add",
        str(UI / "default.json"),
        "--id",
        "x",
        "--comfy-url",
        "http://127.0.0.1:9",
        "--workflows-dir",
        str(workflows),
    )
    assert code == 1 and err.startswith("error: --comfy-url http://127.0.0.1:9")
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["no_sampler", "no_output", "no_prompt"])
def test_graphs_missing_a_part_are_refused_by_name(
    capsys: pytest.CaptureFixture[str], workflows: Path, name: str
) -> None:
    code, _, err = run(
        capsys,
        "template",
        "add",
        str(REFUSED / f"{name}.json"),
        "--id",
        name,
        "--workflows-dir",
        str(workflows),
    )
    assert code == 1
    assert f"{name}.json cannot be a template: " + name.replace("_", " ") in err
    assert not (workflows / f"{name}.json").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "a ComfyUI workflow is a JSON object"),
        (b'{"a": 1}', "key 'a' is not a node object"),
    ],
)
def test_files_that_are_not_workflows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, reason: str
) -> None:
    source = tmp_path / "export.json"
    source.write_bytes(content)
    code, _, err = run(
        capsys, "template", "add", str(source), "--id", "x", "--workflows-dir", str(tmp_path)
    )
    assert code == 1 and "export.json" in err and reason in err


def test_bad_id_and_missing_file(
    capsys: pytest.CaptureFixture[str], workflows: Path, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "template", "add", str(API / "flux_dev.json"), "--id", "../evil")
    assert code == 1 and "--id '../evil'" in err
    code, _, err = run(capsys, "template", "add", str(tmp_path / "nope.json"), "--id", "x")
    assert code == 1 and "nope.json: cannot read" in err


def test_replacing_needs_force_and_bumps_the_version_when_the_graph_changes(
    capsys: pytest.CaptureFixture[str], workflows: Path, tmp_path: Path
) -> None:
    args = ["--id", "flux", "--workflows-dir", str(workflows)]
    add_json(capsys, str(API / "flux_dev.json"), *args)
    again = add_json(capsys, str(API / "flux_dev.json"), *args)
    assert again["written"] is False and again["version"] == "1.0.0"
    changed = json.loads((API / "flux_dev.json").read_text())
    changed["17"]["inputs"]["steps"] = 28
    edited = tmp_path / "flux_dev.json"
    edited.write_text(json.dumps(changed))
    before = (workflows / "flux.json").read_bytes()
    code, _, err = run(capsys, "template", "add", str(edited), *args)
    assert code == 1 and "pass --force" in err and "version 1.1.0" in err
    assert (workflows / "flux.json").read_bytes() == before
    forced = add_json(capsys, str(edited), *args, "--force")
    assert forced["version"] == "1.1.0" and forced["previous_version"] == "1.0.0"
    assert load_template(workflows / "flux.json").defaults["steps"] == 28


def test_list_and_show_name_every_template_and_every_broken_file(
    capsys: pytest.CaptureFixture[str], workflows: Path
) -> None:
    add_json(
        capsys, str(API / "img2img.json"), "--id", "img2img", "--workflows-dir", str(workflows)
    )
    shutil.copy(API / "flux_dev.json", workflows / "plain_export.json")
    (workflows / "notes.json").write_text("this is not json")
    code, out, _ = run(capsys, "template", "list", "--workflows-dir", str(workflows), "--json")
    assert code == 0
    listing = json.loads(out)
    ids = {t["template_id"] for t in listing["templates"]}
    assert {"img2img", "static_ad_v1", "wan21_teaser_v1"} <= ids
    broken = {b["template_id"]: b["reason"] for b in listing["broken"]}
    assert "template add" in broken["plain_export"] and "JSON" in broken["notes"]
    img2img = next(t for t in listing["templates"] if t["template_id"] == "img2img")
    assert img2img["roles"]["product_image"] == "10" and len(img2img["sha256"]) == 64
    code, out, _ = run(capsys, "template", "list", "--workflows-dir", str(workflows))
    assert "img2img" in out and "broken:" in out and "notes.json" in out
    code, out, _ = run(
        capsys, "template", "show", "img2img", "--workflows-dir", str(workflows), "--json"
    )
    shown = json.loads(out)
    assert shown["metadata"]["nodes"]["sampler"] == "3"
    assert any(p["input"] == "denoise" and p["value"] == 0.6 for p in shown["parameters"])
    code, _, err = run(capsys, "template", "show", "notes", "--workflows-dir", str(workflows))
    assert code == 1 and "is broken" in err
    code, _, err = run(capsys, "template", "show", "nope", "--workflows-dir", str(workflows))
    assert code == 1 and "no template 'nope'" in err and "img2img" in err


def test_written_template_keeps_metadata_first(
    capsys: pytest.CaptureFixture[str], workflows: Path
) -> None:
    add_json(
        capsys, str(API / "hires_fix.json"), "--id", "hires", "--workflows-dir", str(workflows)
    )
    doc = json.loads((workflows / "hires.json").read_text())
    assert next(iter(doc)) == METADATA_KEY
    assert doc[METADATA_KEY]["second_passes"] == ["11"]
    assert doc[METADATA_KEY]["nodes"]["output"] == "13"


def test_a_plain_export_under_the_id_is_replaced_only_with_force(
    capsys: pytest.CaptureFixture[str], workflows: Path
) -> None:
    shutil.copy(API / "img2img.json", workflows / "img2img.json")  # dropped in by hand
    code, _, err = run(
        capsys,
        "template",
        "add",
        str(API / "img2img.json"),
        "--id",
        "img2img",
        "--workflows-dir",
        str(workflows),
    )
    assert code == 1 and "exists (not a template of this id); pass --force" in err
    report = add_json(
        capsys,
        str(API / "img2img.json"),
        "--id",
        "img2img",
        "--workflows-dir",
        str(workflows),
        "--force",
    )
    assert report["version"] == "1.0.0" and report["previous_version"] is None
    assert load_template(workflows / "img2img.json").metadata["nodes"]["sampler"] == "3"


def test_usage_mistakes_are_named(
    capsys: pytest.CaptureFixture[str], workflows: Path, tmp_path: Path
) -> None:
    source = str(API / "flux_dev.json")
    code, out, err = run(capsys, "template", "add", source, "--id", "flux.json", "--json")
    assert code == 1 and "(--id flux)" in err and json.loads(out)["error"] == err[7:].strip()
    code, _, err = run(
        capsys, "template", "add", source, "--id", "f", "--comfy-url", "127.0.0.1:8188"
    )
    assert code == 1 and "like http://127.0.0.1:8188" in err
    afile = tmp_path / "afile.json"
    afile.write_text("{}")
    code, _, err = run(
        capsys, "template", "add", source, "--id", "f", "--workflows-dir", str(afile)
    )
    assert code == 1 and "is a file, not a folder" in err
    code, _, err = run(capsys, "template", "list", "--workflows-dir", str(tmp_path / "nope"))
    assert code == 1 and "no such folder" in err


def test_a_sampler_of_a_class_the_server_lacks_is_named(
    capsys: pytest.CaptureFixture[str], workflows: Path, tmp_path: Path
) -> None:
    graph = json.loads((API / "img2img.json").read_text())
    graph["3"]["class_type"] = "KSamplerXYZ"
    source = tmp_path / "custom.json"
    source.write_text(json.dumps(graph))
    code, _, err = run(
        capsys, "template", "add", str(source), "--id", "c", "--workflows-dir", str(workflows)
    )
    assert code == 1 and "no sampler" in err and "lack KSamplerXYZ" in err


def test_a_graph_the_server_would_refuse_is_not_written(
    capsys: pytest.CaptureFixture[str], workflows: Path, tmp_path: Path
) -> None:
    graph = json.loads((API / "img2img.json").read_text())
    graph["3"]["inputs"]["steps"] = "twenty"
    source = tmp_path / "typo.json"
    source.write_text(json.dumps(graph))
    code, _, err = run(
        capsys,
        "template",
        "add",
        str(source),
        "--id",
        "typo",
        "--workflows-dir",
        str(workflows),
        "--object-info",
        str(OBJECT_INFO / "object_info_full.json"),
    )
    assert code == 1 and "steps: 'twenty' is not an integer" in err and "nothing was" in err
    assert not (workflows / "typo.json").exists()
