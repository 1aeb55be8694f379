"""The night's clock, which can run faster than the wall's: `nightrun bench night` compresses a
whole night into minutes, and everything that reads the night's time asks `now()` here."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ENV = "NIGHTRUN_TIME_SCALE"  # "<factor>@<night moment, ISO with offset>@<wall epoch seconds>"


@dataclass(frozen=True)
class TimeScale:
    """`factor` night seconds pass per wall second, from `night_start` at wall time `wall_start`
    (epoch seconds; before it the clock stands at `night_start`). Every process of a compressed
    night reads the same one from the environment, so the schedules, the render loop and the
    emulator agree on the hour."""

    factor: float
    night_start: datetime
    wall_start: float

    def now(self) -> datetime:
        """The night's time; it stands at `night_start` until the wall reaches `wall_start`."""
        wall = max(time.time() - self.wall_start, 0.0)
        return self.night_start + timedelta(seconds=wall * self.factor)

    def wall_seconds(self, night_seconds: float) -> float:
        """How long `night_seconds` of the night take on the wall."""
        return night_seconds / self.factor

    def night_seconds(self, wall_seconds: float) -> float:
        return wall_seconds * self.factor

    def wall_time(self, moment: datetime) -> float:
        """The wall's epoch seconds when the night's clock shows `moment`."""
        return self.wall_start + (moment - self.night_start).total_seconds() / self.factor

    def to_env(self) -> str:
        return f"{self.factor!r}@{self.night_start.isoformat()}@{self.wall_start!r}"

    @classmethod
    def parse(cls, text: str) -> TimeScale:
        try:
            factor, start, wall = text.split("@")
            scale = cls(float(factor), datetime.fromisoformat(start), float(wall))
        except ValueError:
            raise ValueError(
                f"{text!r} is not <factor>@<ISO moment with offset>@<epoch seconds>"
            ) from None
        if scale.factor <= 0 or scale.night_start.tzinfo is None:
            raise ValueError(f"{text!r}: the factor must be > 0 and the moment needs an offset")
        return scale


def current() -> TimeScale | None:
    """The compressed clock this process runs on, or None for the wall's."""
    raw = os.environ.get(ENV)
    if not raw:
        return None
    try:
        return TimeScale.parse(raw)
    except ValueError as exc:
        raise ValueError(f"${ENV}: {exc}") from None


def now() -> datetime:
    """The night's time now: the wall's, or the compressed clock's when one is set."""
    scale = current()
    return scale.now() if scale is not None else datetime.now(UTC)
