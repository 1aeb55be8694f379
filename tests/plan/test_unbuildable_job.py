"""The warm-up's graphs: a job whose first graph cannot be built is blocked (as a job missing a
model is: the reason, no budget) and every other job keeps its graph and its budget."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.intake.queue import read_queue
from nightrun_dagster.intake.validate import Intake, ValidJob
from nightrun_dagster.night.clock import Phase, decide
from nightrun_dagster.plan.night_plan import plan_night
from nightrun_dagster.plan.probe import first_graphs
from nightrun_dagster.store.night_plan import NightPlan
from nightrun_dagster.store.paths import Tree

NIGHT = "2026-02-09"  # Monday: exploration
STATIC = "verde-yerba-static-2026-02"
UI = "mitienda-checkout-ui-2026-02"
VIDEO = "verde-teaser-reel-2026-02"
REASON = (
    "generation.workflow.inputs_map[\"copy.headline\"]: target '9.text': no node or role '9' "
    "in static_ad_v1 (template static_ad_v1)"
)


def with_unbuildable_static(jobs: list[ValidJob]) -> list[ValidJob]:
    """The queue's jobs, the static one's headline mapped onto a node its template lacks.
    Validation refuses that today; the warm-up must still survive a job it did not foresee."""
    out = []
    for found in jobs:
        if found.key == STATIC:
            job = found.job.model_copy(deep=True)
            job.generation.workflow.inputs_map = {"copy.headline": "9.text"}
            found = dataclasses.replace(found, job=job)
        out.append(found)
    return out


def test_an_unbuildable_job_is_blocked_and_the_others_render(
    tree: Tree, intake: Intake, queued_examples: list[Path]
) -> None:
    jobs = with_unbuildable_static(list(read_queue(tree, intake).values()))
    assert {j.key for j in jobs} == {STATIC, UI, VIDEO}

    graphs, blocked = first_graphs(jobs, NIGHT)
    assert set(graphs) == {UI, VIDEO}
    assert blocked == {STATIC: {"missing_models": [], "missing_nodes": [], "reason": REASON}}

    plan = plan_night(NIGHT, RunMode.exploration, jobs, 2000, blocked=blocked)
    by_key = {j["key"]: j for j in plan["jobs"]}
    assert by_key[STATIC]["budget"] == 0 and by_key[STATIC]["blocked"]["reason"] == REASON
    assert by_key[UI]["budget"] > 0 and by_key[VIDEO]["budget"] > 0
    # 23:00 starts every image job with a budget and says why the blocked one waits.
    decision = decide(Phase.window, NIGHT, plan=NightPlan.model_validate(plan), latch=None)
    assert [r.job_key for r in decision.requests] == [UI]
    assert f"{STATIC}: blocked (reason: {REASON})" in decision.notes
