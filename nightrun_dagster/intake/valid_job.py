"""A job file that passed every check: what validation hands on, and what the night plans,
builds graphs and renders from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.workflows.templates import Template


@dataclass(frozen=True)
class ValidJob:
    """A job file that passed every check."""

    job: CreativeJob
    key: str
    source: Path
    raw: bytes
    sha256: str
    template: Template
    cap: int
