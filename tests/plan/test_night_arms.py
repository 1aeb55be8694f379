"""plan_night with arm evidence: every job's budget split over its arms by the bandit."""

from pathlib import Path

from nightrun_dagster.expand.arms import sweep_arms
from nightrun_dagster.expand.axes import build_axes
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.intake.queue import read_queue
from nightrun_dagster.intake.validate import Intake, ValidJob
from nightrun_dagster.learning.bandit import ArmStats, BanditConfig
from nightrun_dagster.plan.night_plan import job_arm_budgets, plan_night
from nightrun_dagster.store.paths import Tree

NIGHT = "2026-02-09"  # Monday: exploration
STATIC = "verde-yerba-static-2026-02"


def jobs(tree: Tree, intake: Intake) -> list[ValidJob]:
    return list(read_queue(tree, intake).values())


def static_arms(found: list[ValidJob], mode: RunMode = RunMode.exploration) -> list[str]:
    job = next(j for j in found if j.key == STATIC)
    axes = build_axes(job.job, mode, NIGHT, job.template.defaults)
    return [a.key for a in sweep_arms(axes, job.template.template_id)]


def test_without_evidence_the_plan_has_no_split(
    tree: Tree, intake: Intake, queued_examples: list[Path]
) -> None:
    plan = plan_night(NIGHT, RunMode.exploration, jobs(tree, intake), 2000)
    for entry in plan["jobs"]:
        assert entry["arms"] is None and entry["exploration_share"] is None
    assert job_arm_budgets(plan, STATIC) is None


def test_no_evidence_splits_80_20_over_every_arm(
    tree: Tree, intake: Intake, queued_examples: list[Path]
) -> None:
    found = jobs(tree, intake)
    plan = plan_night(NIGHT, RunMode.exploration, found, 2000, evidence={})
    for entry in plan["jobs"]:
        assert entry["exploration_share"] == 0.8
        assert sum(a["budget"] for a in entry["arms"]) == entry["budget"]
    static = next(e for e in plan["jobs"] if e["key"] == STATIC)
    assert [a["arm"] for a in static["arms"]] == static_arms(found)
    assert len(static["arms"]) == 5 * 4  # five prompts × LoRA off, 0.4, 0.7, 1.0
    assert static["arms"][0]["label"] == "p1 verde_brand_style-off"
    assert all(35 <= a["budget"] <= 45 for a in static["arms"])  # 800 over 20, nearly even
    assert {a["shown"] for a in static["arms"]} == {0}
    again = plan_night(NIGHT, RunMode.exploration, found, 2000, evidence={})
    assert again == plan


def test_evidence_moves_the_budget_and_keeps_the_floor(
    tree: Tree, intake: Intake, queued_examples: list[Path]
) -> None:
    found = jobs(tree, intake)
    arms = static_arms(found)
    winner = arms[6]
    evidence = {STATIC: {a: ArmStats(4, 0) for a in arms} | {winner: ArmStats(12, 10)}}
    plan = plan_night(NIGHT, RunMode.exploration, found, 300, evidence=evidence)
    static = next(e for e in plan["jobs"] if e["key"] == STATIC)
    budgets = job_arm_budgets(plan, STATIC)
    assert budgets is not None and sum(budgets.values()) == static["budget"]
    shown = 4 * 19 + 12
    assert static["exploration_share"] == round(0.2 + 0.6 * 60 / (60 + shown), 4)
    assert budgets[winner] == max(budgets.values()) and budgets[winner] > 5 * budgets[arms[0]]
    slice_ = int(static["budget"] * static["exploration_share"] / len(arms))
    assert min(budgets.values()) >= slice_ > 0
    row = next(a for a in static["arms"] if a["arm"] == winner)
    assert (row["shown"], row["approved"]) == (12, 10)
    # Other jobs had no evidence: their split is the 80/20 prior.
    assert all(e["exploration_share"] == 0.8 for e in plan["jobs"] if e["key"] != STATIC)
    strict = plan_night(
        NIGHT,
        RunMode.exploration,
        found,
        300,
        evidence=evidence,
        bandit=BanditConfig(exploration_floor=0.5, start_exploration=0.5),
    )
    assert next(e for e in strict["jobs"] if e["key"] == STATIC)["exploration_share"] == 0.5


def test_exploitation_blocked_and_maintenance(
    tree: Tree, intake: Intake, queued_examples: list[Path]
) -> None:
    found = jobs(tree, intake)
    friday = plan_night("2026-02-13", RunMode.exploitation, found, 2000, evidence={})
    assert all(e["exploration_share"] == 0.2 for e in friday["jobs"])
    static = next(e for e in friday["jobs"] if e["key"] == STATIC)
    assert len(static["arms"]) == 5 * 2  # LoRA off or its middle weight
    blocked = plan_night(NIGHT, RunMode.exploration, found, 2000, {STATIC: {}}, evidence={})
    static = next(e for e in blocked["jobs"] if e["key"] == STATIC)
    assert static["budget"] == 0 and {a["budget"] for a in static["arms"]} == {0}
    sunday = plan_night("2026-02-15", RunMode.maintenance, found, 2000, evidence={})
    assert all(e["arms"] == [] and e["budget"] == 0 for e in sunday["jobs"])


def test_a_small_budget_still_covers_every_prompt_and_lora_state(
    tree: Tree, intake: Intake, queued_examples: list[Path]
) -> None:
    found = jobs(tree, intake)
    for night in ("2026-02-09", "2026-02-10", "2026-02-11"):
        plan = plan_night(night, RunMode.exploration, found, 20, evidence={})
        static = next(e for e in plan["jobs"] if e["key"] == STATIC)
        assert 5 <= static["budget"] < 20  # fewer variants than arms
        funded = [a["label"] for a in static["arms"] if a["budget"]]
        assert len(funded) == static["budget"]
        assert {label.split()[0] for label in funded} == {"p1", "p2", "p3", "p4", "p5"}
        if static["budget"] >= 8:
            assert len({label.split()[1] for label in funded}) == 4
