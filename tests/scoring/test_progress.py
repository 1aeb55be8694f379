"""`ScoreProgress`: scoring logs n/N and an ETA every few seconds, the first call and the last."""

from nightrun_dagster.scoring.progress import ScoreProgress


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_scores_log_progress_and_an_eta_every_few_seconds() -> None:
    clock, lines = Clock(), []
    progress = ScoreProgress(lines.append, every_s=5.0, clock=clock)
    clock.now += 8.0  # the pool starts its workers: 8 s before the first chunk is done
    progress(8, 200)  # logged at once: 1/s so far, start-up included
    clock.now += 2.0
    progress(16, 200)  # within 5 s of the last line: not logged
    clock.now += 4.0
    progress(32, 200)  # 24 more in 6 s since the first chunk: 4/s, 168 left
    clock.now += 42.0
    progress(200, 200)  # the end is always logged
    assert lines == [
        "scores 8/200 (1.0/s), ETA 3.2 min",
        "scores 32/200 (4.0/s), ETA 0.7 min",
        "scores 200/200 in 56 s",
    ]
