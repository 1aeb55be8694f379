"""Validation builds each job's first graph as the night will: a job whose graph cannot be built
is refused when it is checked or queued, naming the field and the template, and the other jobs
are untouched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.cli.main import main
from nightrun_dagster.creative_job.errors import JobSpecInvalid
from nightrun_dagster.intake.planned import first_variant_graph
from nightrun_dagster.intake.queue import scan_queue
from nightrun_dagster.intake.validate import Intake, validate_file
from nightrun_dagster.store.paths import Tree

REPO = Path(__file__).resolve().parents[2]
JOBS = REPO / "job_specs"
ASSETS = JOBS / "assets"
STATIC = JOBS / "static_sdxl_ad.json"
UI = JOBS / "ui_anchored_ad.json"
NIGHT = "2026-02-09"

MAP_FIELD = 'generation.workflow.inputs_map["copy.headline"]'
MAP_REASON = "target '9.text': no node or role '9' in static_ad_v1 (template static_ad_v1)"


def write_job(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def mapped_to_nowhere(tmp_path: Path) -> Path:
    """The static example with its headline mapped onto node 9, which static_ad_v1 lacks."""
    doc = json.loads(STATIC.read_text("utf-8"))
    doc["generation"]["workflow"]["inputs_map"] = {"copy.headline": "9.text"}
    return write_job(tmp_path / "bad_map.json", doc)


def validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["validate", "--assets-root", str(ASSETS), *args])
    return code, capsys.readouterr().out


def test_an_inputs_map_to_a_missing_node_is_refused_naming_the_entry_and_template(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = mapped_to_nowhere(tmp_path)
    code, out = validate(capsys, str(bad), str(UI))
    assert code == 1
    assert out.splitlines() == [
        f"{bad}: {MAP_FIELD}: {MAP_REASON}",
        # The next job is checked all the same.
        f"{UI}: ok (job key 'mitienda-checkout-ui-2026-02', template ui_anchored_v1)",
    ]


def test_a_template_default_that_cannot_be_applied_is_refused_naming_the_template(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A team's template whose default sampler ComfyUI does not know: the registry takes the
    # file (a sampler name is a string), but no variant that falls back on it can be built.
    workflows = tmp_path / "workflows"
    shutil.copytree(REPO / "workflows", workflows)
    template = json.loads((workflows / "static_ad_v1.json").read_text("utf-8"))
    template["_workflow_metadata"]["template_id"] = "odd_sampler_v1"
    template["_workflow_metadata"]["defaults"]["sampler"] = "warp_drive"
    (workflows / "odd_sampler_v1.json").write_text(json.dumps(template), encoding="utf-8")
    doc = json.loads(STATIC.read_text("utf-8"))
    doc["generation"]["workflow"] = {
        "template_id": "odd_sampler_v1",
        "workflow_path": "odd_sampler_v1.json",
    }
    del doc["generation"]["variants"]["samplers"]  # so the template's default is used
    job = write_job(tmp_path / "odd.json", doc)

    code, out = validate(capsys, "--workflows-dir", str(workflows), str(job), str(STATIC))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        f"{job}: generation.workflow.template_id: template odd_sampler_v1 "
        f"({workflows / 'odd_sampler_v1.json'}) cannot build this job's graph: "
        "unknown sampler 'warp_drive'"
    )
    assert lines[1].startswith(f"{STATIC}: ok")
    assert "Traceback" not in out


def test_the_queue_sensor_rejects_it_and_keeps_the_rest(tree: Tree, tmp_path: Path) -> None:
    bad = mapped_to_nowhere(tmp_path)
    shutil.copy(bad, tree.queue / "bad_map.json")
    shutil.copy(STATIC.with_name("video_teaser.json"), tree.queue / "video_teaser.json")
    scan = scan_queue(tree, Intake(assets_root=tree.assets), settle_seconds=0)
    assert list(scan.valid) == ["verde-teaser-reel-2026-02"]
    (rejection,) = scan.rejected
    assert rejection.moved_to == tree.rejected / "bad_map.json"
    assert rejection.moved_to.read_bytes() == bad.read_bytes()  # the bytes, untouched
    report = json.loads(rejection.report.read_bytes())
    assert report["errors"] == [
        {
            "field": MAP_FIELD,
            "json_path": f"$.{MAP_FIELD}",
            "reason": MAP_REASON,
        }
    ]


def test_an_inputs_map_target_written_as_node_and_input_is_applied(tmp_path: Path) -> None:
    # Jobs write a target as "node.input" or as {"node": …, "input": …}; both fill the node.
    doc = json.loads(STATIC.read_text("utf-8"))

    def graph_with(inputs_map: dict[str, Any], name: str) -> dict[str, Any]:
        doc["generation"]["workflow"]["inputs_map"] = inputs_map
        found = validate_file(write_job(tmp_path / name, doc), Intake(ASSETS))
        return first_variant_graph(found, NIGHT)

    as_objects = graph_with(
        {"copy.subheadline": [{"node": 2, "input": "text"}, {"node": "3", "input": "text"}]},
        "objects.json",
    )
    as_strings = graph_with({"copy.subheadline": ["2.text", "3.text"]}, "strings.json")
    unmapped = graph_with({}, "unmapped.json")
    assert as_objects == as_strings
    for node in ("2", "3"):  # positive and negative prompt: the subheadline joins each
        assert as_objects[node]["inputs"]["text"] != unmapped[node]["inputs"]["text"]
        assert "Yerba Verde 500 g a $ 4.999" in as_objects[node]["inputs"]["text"]
    doc["generation"]["workflow"]["inputs_map"] = {"copy.headline": {"node": "9", "input": "x"}}
    with pytest.raises(JobSpecInvalid) as exc:
        validate_file(write_job(tmp_path / "objects_bad.json", doc), Intake(ASSETS))
    (error,) = exc.value.errors
    assert error.field == MAP_FIELD
    assert error.reason.startswith("target '9.x': no node or role '9' in static_ad_v1")
