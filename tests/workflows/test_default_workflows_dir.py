"""`default_workflows_dir`: a team's own folder when `$NIGHTRUN_WORKFLOWS_DIR` says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from nightrun_dagster.workflows.templates import (
    DEFAULT_WORKFLOWS_DIR,
    WORKFLOWS_DIR_ENV,
    default_workflows_dir,
)


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
