"""`default_workflows_dir`: a team's own folder when `$NIGHTRUN_WORKFLOWS_DIR` says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nightrun_dagster.cli.main import main
from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.intake.validate import Intake
from nightrun_dagster.workflows.templates import (
    DEFAULT_WORKFLOWS_DIR,
    WORKFLOWS_DIR_ENV,
    default_workflows_dir,
)

JOB_SPECS = DEFAULT_WORKFLOWS_DIR.parent / "job_specs"


def test_environment_variable_names_the_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(WORKFLOWS_DIR_ENV, str(tmp_path))
    assert default_workflows_dir() == tmp_path


def test_without_the_variable_the_projects_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WORKFLOWS_DIR_ENV, raising=False)
    assert default_workflows_dir() == DEFAULT_WORKFLOWS_DIR
    monkeypatch.setenv(WORKFLOWS_DIR_ENV, "  ")  # set but blank, as an empty .env line leaves it
    assert default_workflows_dir() == DEFAULT_WORKFLOWS_DIR


def our_folder(tmp_path: Path) -> Path:
    """A team's own folder holding one template, `our_ad_v1`, found nowhere else."""
    folder = tmp_path / "our-workflows"
    folder.mkdir()
    template = json.loads((DEFAULT_WORKFLOWS_DIR / "static_ad_v1.json").read_text("utf-8"))
    template["_workflow_metadata"]["template_id"] = "our_ad_v1"
    (folder / "our_ad_v1.json").write_text(json.dumps(template), "utf-8")
    return folder


def test_intake_and_the_nightrun_resource_read_the_variable_when_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Set after every module was imported, as the demo does before its Dagster code runs.
    folder = our_folder(tmp_path)
    monkeypatch.setenv(WORKFLOWS_DIR_ENV, str(folder))
    assert Intake(assets_root=tmp_path).workflows_dir == folder
    intake = NightrunResource(root=str(tmp_path / "root")).intake()
    assert intake.workflows_dir == folder and list(intake.templates()) == ["our_ad_v1"]
    # A folder set on the resource still wins.
    given = NightrunResource(root=str(tmp_path), workflows_dir=str(DEFAULT_WORKFLOWS_DIR))
    assert given.intake().workflows_dir == DEFAULT_WORKFLOWS_DIR


def test_commands_use_the_variable_without_workflows_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(WORKFLOWS_DIR_ENV, str(our_folder(tmp_path)))
    doc = json.loads((JOB_SPECS / "static_sdxl_ad.json").read_text("utf-8"))
    doc["generation"]["workflow"] = {"template_id": "our_ad_v1", "workflow_path": "our_ad_v1.json"}
    job = tmp_path / "ours.json"
    job.write_text(json.dumps(doc), "utf-8")
    assets = ["--assets-root", str(JOB_SPECS / "assets")]
    assert main(["validate", *assets, str(job)]) == 0
    assert "template our_ad_v1" in capsys.readouterr().out
    assert main(["graph", *assets, "--root", str(tmp_path / "root"), str(job)]) == 0
    assert json.loads(capsys.readouterr().out)["variant"] == "v0001"
    # The project's templates are not in that folder: a job naming one is refused.
    assert main(["validate", *assets, str(JOB_SPECS / "static_sdxl_ad.json")]) == 1
    assert "unknown workflow template 'static_ad_v1'" in capsys.readouterr().out
