"""The recipe library and the bandit's evidence, read from a tree of past reviewed nights whose
params, inputs and decisions were written by the pipeline's own writers."""

import json
from pathlib import Path

import pytest

from nightrun_dagster.expand.arms import params_arm_key
from nightrun_dagster.expand.variants import expand_job
from nightrun_dagster.intake.queue import find_job
from nightrun_dagster.intake.validate import Intake
from nightrun_dagster.learning.bandit import ArmStats, arm_evidence
from nightrun_dagster.learning.recipes import (
    build_library,
    read_library,
    recipe_of,
    render_markdown,
    write_library,
)
from nightrun_dagster.night.window import WARMUP, at, mode_for_night
from nightrun_dagster.plan.inputs import snapshot_inputs
from nightrun_dagster.plan.variants import write_variants
from nightrun_dagster.store.atomic import atomic_write_json
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.signing import artifact_id

UI = "mitienda-checkout-ui-2026-02"  # full product every night: v0001 is the same recipe
OTHER = "otra-marca-static-2026-02"
SKU = "VRD-YM-500"
MON, TUE, WED = "2026-02-02", "2026-02-03", "2026-02-04"
SCORES = {"v0001": 0.7, "v0002": 0.9, "v0055": 0.8}


def queue_other_product(tree: Tree, queued: list[Path]) -> None:
    doc = json.loads(next(p for p in queued if p.name == "static_sdxl_ad.json").read_bytes())
    doc["job_id"] = OTHER
    doc["product"] = {**doc["product"], "sku": "OTRA-1", "name": "Otra Yerba"}
    (tree.queue / "otra.json").write_text(json.dumps(doc), encoding="utf-8")


def reviewed_night(
    tree: Tree,
    intake: Intake,
    night: str,
    key: str,
    picks: list[str],
    decisions: dict[str, tuple[str, str]],  # variant id -> (decision, at)
) -> Path:
    """Plan the job for `night` as the planning assets do, shortlist `picks`, score them and
    record the decisions in the ledger."""
    found = find_job(tree, intake, key)
    job_dir = tree.job(night, key)
    snapshot_inputs(found, intake.assets_root, job_dir)
    mode = mode_for_night(night)
    expansion = expand_job(found.job, mode, night, found.cap, found.template.defaults)
    write_variants(found, expansion, job_dir)
    for vid in picks:
        total = SCORES.get(vid, 0.5)
        atomic_write_json(
            job_dir.meta(vid) / "score.json",
            {"variant_id": vid, "outputs": [{"file": "out/img_0001.png", "total": total}]}
            | {"total": total, "best": 0},
        )
    shortlist = {
        "night": night,
        "job_id": found.job.job_id,
        "job_key": key,
        "picks": [{"rank": n, "variant_id": vid} for n, vid in enumerate(picks, 1)],
    }
    atomic_write_json(job_dir.selection / "shortlisted.json", shortlist)
    for vid, (decision, when) in decisions.items():
        assert ledger.record(
            job_dir.path,
            {
                "artifact": artifact_id(night, key, vid),
                "night": night,
                "job_key": key,
                "variant_id": vid,
                "decision": decision,
                "by": "ana",
                "via": "cli",
                "at": when,
            },
        )
    return job_dir.path


@pytest.fixture
def history(tree: Tree, intake: Intake, queued_examples: list[Path]) -> Tree:
    queue_other_product(tree, queued_examples)
    mon_picks = ["v0001", "v0002", "v0003", "v0055", "v0056", "v0060"]
    reviewed_night(
        tree,
        intake,
        MON,
        UI,
        mon_picks,
        {
            "v0001": ("favorite", "2026-02-03T09:00:00+00:00"),
            "v0002": ("approve", "2026-02-03T09:01:00+00:00"),
            "v0003": ("reject", "2026-02-03T09:02:00+00:00"),
            "v0055": ("approve", "2026-02-03T09:03:00+00:00"),
            # decided late, after Wednesday's warm-up (2026-02-05T01:45Z)
            "v0056": ("approve", "2026-02-05T12:00:00+00:00"),
        },
    )
    reviewed_night(
        tree,
        intake,
        TUE,
        UI,
        ["v0001", "v0004", "v0055", "v0057"],
        {
            "v0001": ("approve", "2026-02-04T09:00:00+00:00"),
            "v0057": ("reject", "2026-02-04T09:01:00+00:00"),
        },
    )
    reviewed_night(
        tree, intake, MON, OTHER, ["v0001", "v0002"], {"v0002": ("approve", "2026-02-03T10:00Z")}
    )
    # Shortlisted but nobody looked: no evidence either way.
    reviewed_night(tree, intake, TUE, OTHER, ["v0003", "v0004"], {})
    return tree


def params(tree: Tree, night: str, key: str, vid: str) -> dict:
    return json.loads(tree.job(night, key).params(vid).read_bytes())


def test_library_ranks_approved_recipes_per_product(history: Tree, intake: Intake) -> None:
    library = build_library(history.root / "runs", WED)
    assert library["reviewed_nights"] == [MON, TUE]
    assert set(library["products"]) == {SKU, "OTRA-1"}
    verde = library["products"][SKU]
    assert verde["jobs"] == [UI] and verde["reviewed"] == 2
    assert verde["shown"] == 6 + 4 and verde["approved"] == 4 + 1
    first, second, third = verde["recipes"][:3]
    # v0001 was approved on both nights: two approvals beat v0002's higher score.
    assert first["approvals"] == 2 and first["favorites"] == 1
    assert first["nights"] == [MON, TUE] and first["nights_seen"] == 2
    p1 = params(history, MON, UI, "v0001")
    assert {k: first[k] for k in recipe_of(p1)} == recipe_of(p1)
    found = find_job(history, intake, UI)
    assert first["template"] == {
        "id": "ui_anchored_v1",
        "version": found.template.version,
        "sha256": found.template.sha256,
        "model": found.template.metadata.get("model"),
    }
    assert first["seed"] == p1["seed"] and first["denoise"] == p1["denoise"]
    assert first["controlnet"] == p1["controlnet"] and first["best_score"] == 0.7
    assert [e["variant_id"] for e in first["examples"]] == ["v0001", "v0001"]
    assert second["approvals"] == 1 and second["best_score"] == 0.9
    assert second["prompt"] == params(history, MON, UI, "v0002")["prompt"]
    assert third["best_score"] == 0.8  # v0055, ranked by score among single approvals
    other = library["products"]["OTRA-1"]
    assert other["name"] == "Otra Yerba" and other["reviewed"] == 1
    assert [r["seed"] for r in other["recipes"]] == [params(history, MON, OTHER, "v0002")["seed"]]
    assert other["recipes"][0]["loras"] == recipe_of(params(history, MON, OTHER, "v0002"))["loras"]


def test_library_arms_and_until_night(history: Tree) -> None:
    library = build_library(history.root / "runs", WED)
    arms = {a["arm"]: a for a in library["products"][SKU]["arms"]}
    p1 = params_arm_key(params(history, MON, UI, "v0001"))
    p2 = params_arm_key(params(history, MON, UI, "v0055"))
    assert (arms[p1]["shown"], arms[p1]["approved"]) == (5, 3)
    assert (arms[p2]["shown"], arms[p2]["approved"]) == (5, 2)
    assert arms[p1]["label"] == "ui_anchored_v1 p1 no-lora"
    assert library["products"][SKU]["arms"][0]["arm"] == p1  # best posterior first
    monday_only = build_library(history.root / "runs", MON)
    assert monday_only["products"][SKU]["recipes"][0]["approvals"] == 1
    assert build_library(history.root / "runs", WED, lookback_nights=1)["reviewed_nights"] == []


def test_library_files_are_atomic_and_reproducible(history: Tree, tmp_path: Path) -> None:
    library = build_library(history.root / "runs", WED)
    folder = history.root / "library"
    path = write_library(folder, library)
    data = path.read_bytes()
    assert read_library(folder) == library
    assert not list(folder.glob(".*.tmp"))
    md = (folder / "recipes.md").read_text(encoding="utf-8")
    assert md == render_markdown(library) and "## Yerba Mate Verde 500 g (VRD-YM-500)" in md
    write_library(folder, build_library(history.root / "runs", WED))
    assert path.read_bytes() == data  # no timestamps: the same nights give the same bytes
    assert build_library(tmp_path / "nothing", WED)["products"] == {}


def test_arm_evidence_by_product_job_and_cutoff(history: Tree) -> None:
    runs = history.root / "runs"
    p1 = params_arm_key(params(history, MON, UI, "v0001"))
    p2 = params_arm_key(params(history, MON, UI, "v0055"))
    everything = arm_evidence(runs, WED, product=SKU)
    assert everything == {p1: ArmStats(5, 3), p2: ArmStats(5, 2)}
    cutoff = arm_evidence(runs, WED, product=SKU, as_of=at(WED, WARMUP))
    assert cutoff[p2] == ArmStats(5, 1)  # v0056's approval came after Wednesday's warm-up
    assert arm_evidence(runs, TUE, product=SKU) == {p1: ArmStats(3, 2), p2: ArmStats(3, 2)}
    assert arm_evidence(runs, WED, 1, product=SKU) == {p1: ArmStats(2, 1), p2: ArmStats(2, 0)}
    other = arm_evidence(runs, WED, job_key=OTHER)
    assert sum(s.shown for s in other.values()) == 2  # Tuesday was never reviewed
    assert sum(s.approved for s in other.values()) == 1
    assert arm_evidence(runs, WED, product="NOPE") == {}
