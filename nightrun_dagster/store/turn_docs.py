"""`runs/<night>/gpu_turn.json`: which job's render run submits to the GPU now, and which wait
(connected, holding a pool slot) to follow it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import Field

from nightrun_dagster.store.models import Document, DocumentAt, Part
from nightrun_dagster.store.paths import NightDir, as_night_dir


class TurnClaim(Part):
    """A run that holds or waits for the turn. `beat` (epoch seconds) is refreshed while it
    lives, so a killed run's claim goes stale and the next run goes on."""

    job: str
    run: str = ""
    priority: int = 0
    host: str = ""
    pid: int = 0
    since: float = 0.0
    beat: float = 0.0
    # A run connected ahead of its phase waits in line from then, but goes ahead of no one
    # until the phase opens (the night's clock).
    not_before: datetime | None = None


class GpuTurnState(Document):
    holder: TurnClaim | None = None
    waiting: list[TurnClaim] = Field(default_factory=list)
    # When the last holder's queued prompts are expected to be done (the night's clock): the
    # next holder's share of the slice starts then, not when it takes the turn.
    busy_until: datetime | None = None


GPU_TURN = DocumentAt[GpuTurnState, NightDir | Path](
    GpuTurnState, lambda where: as_night_dir(where).gpu_turn
)
write_gpu_turn = GPU_TURN.write


def read_gpu_turn(where: NightDir | Path) -> GpuTurnState:
    """The turn as recorded; an empty one when missing or damaged (the claims are renewed
    every second, so nothing is lost by starting afresh)."""
    return GPU_TURN.file.read_or_empty(GPU_TURN.place(where), "the turn starts afresh")
