"""Scoring progress for a log: `scores n/N (r/s), ETA m min` every few seconds and at the end."""

import time
from collections.abc import Callable

LOG_EVERY_S = 5.0


class ScoreProgress:
    """`on_progress(done, total)` for `score_variants`: logs at most every `every_s` seconds,
    always the first call and the last. The rate is measured from the first call on, so the
    pool's start-up (spawning workers, loading OCR) does not inflate the ETA."""

    def __init__(
        self,
        log: Callable[[str], None],
        every_s: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log, self.every_s, self.clock = log, every_s, clock
        self.started = clock()
        self.first: tuple[float, int] | None = None  # (when, done) at the first call
        self.last: float | None = None

    def rate(self, now: float, done: int) -> float:
        """Variants per second: since the first call, or since the start on the first call."""
        since, before = self.first if self.first is not None else (self.started, 0)
        if now <= since or done <= before:
            since, before = self.started, 0
        return (done - before) / (now - since) if now > since else 0.0

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        rate = self.rate(now, done)
        if self.first is None:
            self.first = (now, done)
        if done < total and self.last is not None and now - self.last < self.every_s:
            return
        self.last = now
        line = f"scores {done}/{total}"
        if done < total and rate > 0:
            line += f" ({rate:.1f}/s), ETA {(total - done) / rate / 60:.1f} min"
        elif done == total:
            line += f" in {now - self.started:.0f} s"
        self.log(line)
