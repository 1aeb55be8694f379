"""Run modes: how wide a night sweeps."""

from __future__ import annotations

from enum import StrEnum


class RunMode(StrEnum):
    exploration = "exploration"  # wide sweeps under the cap
    exploitation = "exploitation"  # hero seeds and the narrowest ranges
    maintenance = "maintenance"  # no renders: cleanup and library upkeep
