"""recipe_library and the bandit in night_plan / variants, materialized on PostgreSQL over a tree
whose past nights were reviewed: one arm of the static job approved every time."""

import json
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from nightrun_dagster.defs.assets.learning import recipe_library, week_nights, week_partitions
from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.partitions import night_job_key
from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.expand.arms import params_arm_key
from nightrun_dagster.expand.variants import expand_job
from nightrun_dagster.intake.queue import find_job
from nightrun_dagster.intake.validate import Intake
from nightrun_dagster.night.window import mode_for_night
from nightrun_dagster.plan.inputs import snapshot_inputs
from nightrun_dagster.plan.night_plan import job_arm_budgets
from nightrun_dagster.plan.variants import write_variants
from nightrun_dagster.store.atomic import atomic_write_json
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.signing import artifact_id

STATIC = "verde-yerba-static-2026-02"
PAST = ["2026-02-02", "2026-02-03", "2026-02-04"]  # Mon–Wed of the week opened 2026-02-01
WEEK = "2026-02-01"
NIGHT = "2026-02-09"  # the Monday after
WINNER = "p3 verde_brand_style@0.7"


def review_past_night(tree: Tree, intake: Intake, night: str) -> str:
    """Plan, score and review the static job's night: ten picks of the winning arm, all
    approved; one pick from each of ten other arms, three of them rejected. Returns the
    winning arm's key."""
    found = find_job(tree, intake, STATIC)
    job_dir = tree.job(night, STATIC)
    snapshot_inputs(found, intake.assets_root, job_dir)
    expansion = expand_job(
        found.job, mode_for_night(night), night, found.cap, found.template.defaults
    )
    write_variants(found, expansion, job_dir)
    by_arm: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    for v in expansion.variants:
        params = json.loads(job_dir.params(v.variant_id).read_bytes())
        arm = params_arm_key(params)
        by_arm.setdefault(arm, []).append(v.variant_id)
        lora = v.loras[0]
        state = f"{lora.name}@{lora.weight:g}" if lora.enabled else f"{lora.name}-off"
        labels[arm] = f"p{v.prompt_index + 1} {state}"
    winner = next(a for a, label in labels.items() if label == WINNER)
    wins = by_arm[winner][:10]
    others = [ids[0] for arm, ids in sorted(by_arm.items()) if arm != winner][:10]
    picks = wins + others
    for n, vid in enumerate(picks):
        total = 0.9 - n / 100
        atomic_write_json(
            job_dir.meta(vid) / "score.json",
            {"variant_id": vid, "outputs": [{"file": "out/img_0001.png", "total": total}]}
            | {"total": total, "best": 0},
        )
    atomic_write_json(
        job_dir.selection / "shortlisted.json",
        {
            "night": night,
            "job_key": STATIC,
            "picks": [{"rank": n, "variant_id": vid} for n, vid in enumerate(picks, 1)],
        },
    )
    decisions = [(vid, "favorite" if n == 0 else "approve") for n, vid in enumerate(wins)]
    decisions += [(vid, "reject") for vid in others[:3]]
    for vid, decision in decisions:
        ledger.record(
            job_dir.path,
            {
                "artifact": artifact_id(night, STATIC, vid),
                "night": night,
                "job_key": STATIC,
                "variant_id": vid,
                "decision": decision,
                "by": "ana",
                "via": "telegram",
                "at": f"{night}T12:00:00+00:00",  # the morning after the night
            },
        )
    return winner


@pytest.fixture
def reviewed(tree: Tree, intake: Intake, queued_examples: list[Path]) -> str:
    winners = {review_past_night(tree, intake, night) for night in PAST}
    assert len(winners) == 1
    return winners.pop()


def test_weeks_open_on_sunday_and_cover_its_six_render_nights() -> None:
    assert week_partitions.get_partition_keys()[0] == "2026-01-04"
    assert week_nights(WEEK) == ("2026-02-01", "2026-02-07")
    window = week_partitions.time_window_for_partition_key(WEEK)
    assert (window.start.hour, window.start.minute, window.start.weekday()) == (22, 45, 6)


def test_recipe_library_collects_the_weeks_winning_recipes(
    pg_instance: dg.DagsterInstance, tree: Tree, nightrun: NightrunResource, reviewed: str
) -> None:
    result = dg.materialize(
        [recipe_library],
        instance=pg_instance,
        partition_key=WEEK,
        resources={"nightrun": nightrun},
    )
    assert result.success
    meta = result.asset_materializations_for_node("recipe_library")[0].metadata
    assert meta["products"].value == 1 and meta["recipes"].value == 20
    assert meta["approved"].value == 30 and meta["shown"].value == 60
    assert meta["until_night"].value == "2026-02-07" and meta["latest"].value is True
    assert f"| VRD-YM-500 | static_ad_v1 {WINNER} | 30 | 30 |" in meta["top_arms"].value
    week_file = tree.root / "library" / "weeks" / WEEK / "recipes.json"
    assert meta["path"].value == str(week_file)
    library = json.loads((tree.root / "library" / "recipes.json").read_bytes())
    assert library == json.loads(week_file.read_bytes())
    product = library["products"]["VRD-YM-500"]
    assert {r["arm"] for r in product["recipes"]} == {reviewed}
    # The sequence seeds repeat, so a recipe can win on several nights: those rank first.
    ranks = [(-r["approvals"], -r["best_score"]) for r in product["recipes"]]
    assert ranks == sorted(ranks) and product["recipes"][0]["nights_seen"] >= 2
    assert sum(r["favorites"] for r in product["recipes"]) >= 1
    assert product["arms"][0]["arm"] == reviewed
    assert (tree.root / "library" / "recipes.md").is_file()
    # Backfilling an earlier week keeps the newest library where the team reads it.
    earlier = dg.materialize(
        [recipe_library],
        instance=pg_instance,
        partition_key="2026-01-25",
        resources={"nightrun": nightrun},
    )
    assert (
        earlier.asset_materializations_for_node("recipe_library")[0].metadata["latest"].value
        is False
    )
    assert json.loads((tree.root / "library" / "recipes.json").read_bytes()) == library
    assert (
        json.loads((tree.root / "library" / "weeks" / "2026-01-25" / "recipes.json").read_bytes())[
            "products"
        ]
        == {}
    )


def test_night_plan_budgets_arms_by_evidence_and_variants_follow(
    pg_instance: dg.DagsterInstance, tree: Tree, reviewed: str
) -> None:
    pg_instance.add_dynamic_partitions("job", [STATIC])
    nightrun = NightrunResource(
        root=str(tree.root), max_renders_per_night=100, queue_settle_seconds=0
    )
    resources = {"nightrun": nightrun}
    plan_run = dg.materialize(
        [night_plan], instance=pg_instance, partition_key=NIGHT, resources=resources
    )
    assert plan_run.success
    plan = json.loads(tree.night_plan(NIGHT).read_bytes())
    entry = plan["jobs"][0]
    assert entry["key"] == STATIC and entry["budget"] == 100
    # 60 reviewed picks: exploration is halfway from 80 % to the 20 % floor.
    assert entry["exploration_share"] == 0.5
    budgets = job_arm_budgets(plan, STATIC)
    assert budgets is not None and len(budgets) == 20 and sum(budgets.values()) == 100
    # The winner takes most of the exploitation half; untried arms still win a few draws.
    assert budgets[reviewed] >= 35
    assert all(budgets[reviewed] > 5 * n for arm, n in budgets.items() if arm != reviewed)
    assert min(budgets.values()) >= int(100 * 0.5 / 20)  # no arm starves
    row = next(a for a in entry["arms"] if a["arm"] == reviewed)
    assert (row["shown"], row["approved"], row["label"]) == (30, 30, WINNER)
    meta = plan_run.asset_materializations_for_node("night_plan")[0].metadata
    assert f"| {STATIC} | 50% | {WINNER} |" in meta["arms"].value

    key = night_job_key(NIGHT, STATIC)
    run = dg.materialize(
        [job_spec, variants], instance=pg_instance, partition_key=key, resources=resources
    )
    assert run.success
    job_dir = tree.job(NIGHT, STATIC)
    written = [json.loads(p.read_bytes()) for p in job_dir.variants.glob("v*/meta/params.json")]
    assert Counter(params_arm_key(p) for p in written) == {
        arm: n for arm, n in budgets.items() if n
    }
    vmeta = run.asset_materializations_for_node("variants")[0].metadata
    assert vmeta["count"].value == 100 and "per-arm" in vmeta["selection"].value
    assert vmeta["arm_budgets"].value == budgets
    assert json.loads(job_dir.variants_index.read_bytes())["arm_budgets"] == budgets
    # Planning the night again later sees the same evidence and rewrites nothing.
    assert dg.materialize(
        [night_plan], instance=pg_instance, partition_key=NIGHT, resources=resources
    ).success
    assert job_arm_budgets(json.loads(tree.night_plan(NIGHT).read_bytes()), STATIC) == budgets
    again = dg.materialize([variants], instance=pg_instance, partition_key=key, resources=resources)
    assert again.asset_materializations_for_node("variants")[0].metadata["written"].value == 0
