"""The warm-up's rules against the emulator, without Dagster: a job missing a model is blocked,
the disk breaker stops the preload, and the backlog breaker trips over its limit only."""

from __future__ import annotations

from pathlib import Path

from nightrun_dagster.comfy.client import Timeouts
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.intake.queue import read_queue
from nightrun_dagster.intake.validate import Intake, ValidJob
from nightrun_dagster.night import breakers as b
from nightrun_dagster.plan.warmup import WarmupOutcome, warm_up_night
from nightrun_dagster.store.paths import Tree

NIGHT = "2026-02-09"  # a Monday: exploration
STATIC = "verde-yerba-static-2026-02"
UI = "mitienda-checkout-ui-2026-02"
VIDEO = "verde-teaser-reel-2026-02"
TIMEOUTS = Timeouts(connect=5.0, request=30.0, stall=120.0, poll=0.2, unavailable=1.0)


def queued(tree: Tree, intake: Intake, *keys: str) -> list[ValidJob]:
    return [j for k, j in read_queue(tree, intake).items() if k in keys]


def warm(tree: Tree, jobs: list[ValidJob], url: str, **thresholds: float) -> WarmupOutcome:
    config = b.BreakerConfig(**{"disk_free_min_gb": 0.0, **thresholds})
    return warm_up_night(
        tree,
        NIGHT,
        RunMode.exploration,
        jobs,
        urls=[url],
        timeouts=TIMEOUTS,
        config=config,
        max_renders=30,
    )


def test_a_job_missing_a_model_is_blocked_and_the_next_ready_job_preloads(
    tree: Tree, intake: Intake, queued_examples: list[Path], emulator_factory
) -> None:
    server = emulator_factory(missing_models={"verde_brand_style.safetensors"})
    outcome = warm(tree, queued(tree, intake, STATIC, UI, VIDEO), server.url)

    assert list(outcome.report.blocked) == [STATIC]
    assert outcome.report.blocked[STATIC]["missing_models"] == [
        "loras/verde_brand_style.safetensors"
    ]
    assert outcome.trip is None and not outcome.latched and b.read_latch(tree.root) is None
    (srv,) = outcome.reachable
    # The UI job waits for its screens, so the video job's graph is the one preloaded.
    assert srv.preload["ok"] and srv.preload["job"] == VIDEO
    # The blocked job wants no renders tonight: only the others count in the backlog.
    assert outcome.backlog == outcome.report.backlog.tonight > 0


def test_the_disk_breaker_latches_and_sends_no_preload(
    tree: Tree, intake: Intake, queued_examples: list[Path], emulator
) -> None:
    outcome = warm(tree, queued(tree, intake, STATIC), emulator.url, disk_free_min_gb=1e9)

    assert outcome.trip is not None and outcome.trip.breaker == b.DISK and outcome.latched
    assert outcome.report.breaker == outcome.trip.as_dict()
    assert b.read_latch(tree.root).breaker == b.DISK
    assert emulator.stats()["prompts_posted"] == 0
    assert "below" in outcome.servers[0].preload["skipped"]


def test_the_backlog_breaker_trips_over_its_limit_only_and_latches_once(
    tree: Tree, intake: Intake, queued_examples: list[Path], emulator
) -> None:
    jobs = queued(tree, intake, STATIC)
    fits = warm(tree, jobs, emulator.url, backlog_max=30)
    assert fits.trip is None and b.read_latch(tree.root) is None
    assert fits.backlog == fits.report.backlog.tonight == 30  # capped at the night's 30

    over = warm(tree, jobs, emulator.url, backlog_max=29)
    assert over.trip is not None and over.trip.breaker == b.BACKLOG and over.latched
    assert b.read_latch(tree.root).breaker == b.BACKLOG
    # The latch in force wins: a second trip is reported, but the team is not told again.
    again = warm(tree, jobs, emulator.url, backlog_max=29)
    assert again.trip is not None and not again.latched
