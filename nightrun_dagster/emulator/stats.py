"""What the emulator did, kept across simulated crashes (it describes the emulator, not ComfyUI)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any


class Stats:
    """Thread-safe counters; `snapshot()` is what `GET /emulator/stats` returns. `clock` gives
    epoch seconds (the night's clock of a compressed night)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self.clock = clock
        # Every execution: [start, end, prompt id, the client's extra_data "nightrun" tag].
        self.busy: list[list[Any]] = []
        self.executions = 0
        self.executions_by_prompt: Counter[str] = Counter()
        self.successes = 0
        self.successes_by_prefix: Counter[str] = Counter()
        self.errors = 0
        self.ooms = 0
        self.interrupted = 0
        self.stalls = 0
        self.crashes = 0
        self.restarts = 0
        self.prompts_posted = 0
        self.prompts_rejected = 0
        self.prompts_failed = 0
        self.frees = 0
        self.views = 0
        self.uploads = 0
        self.render_seconds = 0.0
        self.max_gap_seconds = 0.0
        self.first_start: float | None = None
        self.last_end: float | None = None

    def started(self, prompt_id: str, tag: Any = None, at: float | None = None) -> int:
        """Count an execution that began (`at`: when, on the clock; default now); returns its
        ordinal (1-based)."""
        with self._lock:
            self.executions += 1
            self.executions_by_prompt[prompt_id] += 1
            now = self.clock() if at is None else at
            self.busy.append([now, None, prompt_id, tag])
            if self.first_start is None:
                self.first_start = now
            elif self.last_end is not None:
                self.max_gap_seconds = max(self.max_gap_seconds, now - self.last_end)
            return self.executions

    def ended(self, seconds: float, outcome: str, prefixes: list[str]) -> None:
        """outcome: success, error, oom, interrupted or crashed."""
        with self._lock:
            self.render_seconds += seconds
            self.last_end = self.clock()
            if self.busy and self.busy[-1][1] is None:
                self.busy[-1][1] = self.last_end
            if outcome == "success":
                self.successes += 1
                for prefix in set(prefixes):
                    self.successes_by_prefix[prefix] += 1
            elif outcome == "oom":
                self.ooms += 1
            elif outcome == "interrupted":
                self.interrupted += 1
            elif outcome == "crashed":
                self.crashes += 1
            else:
                self.errors += 1

    def bump(self, name: str, by: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + by)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            wall = None
            busy = None
            if self.first_start is not None and self.last_end is not None:
                wall = max(0.0, self.last_end - self.first_start)
                busy = min(1.0, self.render_seconds / wall) if wall > 0 else 1.0
            return {
                "executions": self.executions,
                "executions_by_prompt": dict(self.executions_by_prompt),
                "successes": self.successes,
                "successes_by_prefix": dict(self.successes_by_prefix),
                "errors": self.errors,
                "ooms": self.ooms,
                "interrupted": self.interrupted,
                "stalls": self.stalls,
                "crashes": self.crashes,
                "restarts": self.restarts,
                "prompts_posted": self.prompts_posted,
                "prompts_rejected": self.prompts_rejected,
                "prompts_failed": self.prompts_failed,
                "frees": self.frees,
                "views": self.views,
                "uploads": self.uploads,
                "render_seconds": round(self.render_seconds, 6),
                "first_start": self.first_start,
                "last_end": self.last_end,
                "wall_seconds": wall,
                "busy_since_first": busy,
                "idle_seconds": None if wall is None else max(0.0, wall - self.render_seconds),
                "max_gap_seconds": round(self.max_gap_seconds, 6),
                "busy": [
                    {"prompt_id": p, "nightrun": tag, "start": a, "end": b}
                    for a, b, p, tag in self.busy
                ],
                "busy_seconds": round(sum(b - a for a, b, _, _ in self.busy if b is not None), 6),
            }
