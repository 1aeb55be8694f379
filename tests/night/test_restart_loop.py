"""The restart_loop breaker counts ComfyUI outages in a window, not failed calls."""

from pathlib import Path

from nightrun_dagster.comfy.render_loop import LoopEvent
from nightrun_dagster.night import breakers as b
from nightrun_dagster.night.guard import NightGuard, StopKind


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_more_than_restart_max_outages_in_the_window_trip() -> None:
    clock = Clock()
    m = b.BreakerMonitor(b.BreakerConfig(restart_max=3, restart_window_s=1800), clock=clock)
    for _ in range(3):
        assert m.on_outage() is None
        clock.t += 599
    trip = m.on_outage()
    assert trip is not None and trip.breaker == b.RESTART_LOOP
    assert (trip.value, trip.threshold) == (4, 3)
    assert trip.reason.startswith("4 outages in 30 min (more than 3)")


def test_outages_older_than_the_window_do_not_count() -> None:
    clock = Clock()
    m = b.BreakerMonitor(b.BreakerConfig(restart_max=3, restart_window_s=1800), clock=clock)
    for _ in range(10):  # one every 11 minutes: never four in 30 min
        assert m.on_outage() is None
        clock.t += 660


def test_the_guard_maps_outage_events(tmp_path: Path) -> None:
    g = NightGuard(tmp_path, night="2026-02-09", job="j", config=b.BreakerConfig(restart_max=1))
    assert g.observe(LoopEvent.OUTAGE_STARTED) is None
    assert g.observe(LoopEvent.OUTAGE_ENDED, 12.0) is None  # an ended outage adds nothing
    halt = g.observe(LoopEvent.OUTAGE_TOO_LONG, 600.0)
    assert halt is not None and halt.kind == StopKind.BREAKER
    assert halt.detail["breaker"] == b.RESTART_LOOP
    assert "longer than the outage patience (600 s)" in halt.reason
    assert b.read_latch(tmp_path).breaker == b.RESTART_LOOP
