"""Reads every document of the old night's tree through the store's functions and checks each
against the file's own JSON: what the test of old trees asserts document by document."""

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

from nightrun_dagster.intake.validate import Intake
from nightrun_dagster.night.breakers import read_latch
from nightrun_dagster.plan.inputs import load_snapshot
from nightrun_dagster.store.models import SCHEMA, Document, document_bytes, read_document
from nightrun_dagster.store.night_plan import NightPlan, read_night_plan, try_read_night_plan
from nightrun_dagster.store.night_records import (
    BlockedRecord,
    CleanupRecord,
    NightClosed,
    NightSummary,
    StopRecord,
    WarmupReport,
    read_blocked,
    read_warmup,
    try_read_blocked,
    try_read_breaker_record,
    try_read_cleanup,
    try_read_night_closed,
    try_read_night_summary,
    try_read_warmup,
    try_read_window_closed,
)
from nightrun_dagster.store.ops_docs import (
    BreakerLatch,
    RecipeLibrary,
    RetentionDay,
    read_breaker_history,
    read_breaker_latch,
    try_read_recipe_library,
    try_read_retention_day,
)
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.publish_docs import InputsManifest, try_read_inputs_manifest
from nightrun_dagster.store.selection_docs import (
    ApprovalsDocument,
    ShortlistDocument,
    read_approvals,
    read_shortlist,
    read_shortlist_with_digest,
    try_read_approvals,
    try_read_shortlist,
)
from nightrun_dagster.store.telegram_docs import (
    ArtifactIndex,
    OriginalsSent,
    SummaryStamp,
    TelegramSent,
    artifact_index_path,
    originals_sent_path,
    read_artifact_index,
    read_originals_sent,
    read_telegram_sent,
    summary_stamp_path,
    telegram_sent_path,
    try_read_summary_stamp,
)
from nightrun_dagster.store.variant_docs import (
    ComfyHistory,
    RenderStatus,
    RetentionMarker,
    ScoreDocument,
    Submitted,
    VariantParams,
    read_comfy_history,
    read_params,
    read_prompt,
    read_variant_params,
    try_read_params,
    try_read_retention_marker,
    try_read_score,
    try_read_submitted,
)
from nightrun_dagster.store.variant_state import is_complete, pruned_outputs, submitted_record
from nightrun_dagster.store.variants_index import (
    VariantsIndex,
    read_variants_index,
    try_read_variants_index,
)
from nightrun_dagster.telegram import ledger

D = TypeVar("D", bound=Document)

PRODUCT = "VRD-YM-500"
RETENTION_DAY = "2026-12-02"  # the old retention report's day
LIBRARY_WEEK, LIBRARY_UNTIL = "2026-11-22", "2026-11-28"  # the old recipe library's week


def raw(path: Path) -> Any:
    return json.loads(path.read_bytes())


def kept(old: Any, new: Any) -> bool:
    """Every key and value of `old` is in `new` (which may add defaults), at any depth."""
    if isinstance(old, dict):
        return isinstance(new, dict) and all(k in new and kept(v, new[k]) for k, v in old.items())
    if isinstance(old, list):
        return isinstance(new, list) and len(old) == len(new) and all(map(kept, old, new))
    return old == new and type(old) is type(new)


class Reader:
    """Reads documents strictly (a DocumentError names the file and the field) and keeps the
    paths it read."""

    def __init__(self) -> None:
        self.read: set[Path] = set()

    def doc(self, path: Path, model: type[D]) -> D:
        doc = read_document(path, model)
        old = raw(path)
        # Written before documents carried a schema number: read as schema 1.
        assert "schema" not in old and doc.schema_version == 1 <= SCHEMA, path
        # Written again by today's code: stamped with today's schema, nothing of it lost.
        again = json.loads(document_bytes(doc))
        assert again["schema"] == SCHEMA, path
        assert kept(old, again), f"{path}: {old} became {again}"
        self.read.add(path)
        return doc


def read_night(r: Reader, tree: Tree, night: str, keys: tuple[str, ...]) -> None:
    nd = tree.night_dir(night)
    plan = r.doc(nd.night_plan, NightPlan)
    assert read_night_plan(nd) == plan == try_read_night_plan(nd)
    assert plan.night == night and plan.mode == raw(nd.night_plan)["mode"]
    assert sorted(j.key for j in plan.jobs) == sorted(keys)
    assert all(j.budget == 1 and j.arms for j in plan.jobs)
    assert plan.job(keys[-1]) is not None

    warmup = r.doc(nd.warmup, WarmupReport)
    assert read_warmup(nd) == warmup == try_read_warmup(nd)
    assert [s["endpoint"] for s in warmup.servers] == [
        s["endpoint"] for s in raw(nd.warmup)["servers"]
    ]
    assert warmup.backlog.tonight == 3 and warmup.blocked == {} and warmup.breaker is None

    summary = r.doc(nd.night_summary, NightSummary)
    assert try_read_night_summary(nd) == summary
    assert {j.job: j.best_total for j in summary.jobs} == {
        j["job"]: j["best_total"] for j in raw(nd.night_summary)["jobs"]
    }

    closed = r.doc(nd.night_closed, NightClosed)
    assert try_read_night_closed(tree, night) == closed
    assert {j.job: (j.rendered, j.left) for j in closed.jobs} == {k: (1, 0) for k in keys}

    cleanup = r.doc(nd.cleanup, CleanupRecord)
    assert try_read_cleanup(nd) == cleanup and cleanup.night == night

    stamp = r.doc(summary_stamp_path(nd), SummaryStamp)
    assert try_read_summary_stamp(nd) == stamp
    assert (stamp.sha256, stamp.message_id) == tuple(raw(summary_stamp_path(nd)).values())


def read_job(r: Reader, job_dir: JobDir, key: str) -> None:
    found = load_snapshot(job_dir, Intake(assets_root=job_dir.inputs / "assets"))
    assert found.key == key
    r.read.add(job_dir.job_snapshot)
    manifest = r.doc(job_dir.inputs_manifest, InputsManifest)
    assert try_read_inputs_manifest(job_dir) == manifest
    snapshot = hashlib.sha256(job_dir.job_snapshot.read_bytes()).hexdigest()
    assert manifest.job_file["sha256"] == snapshot
    assert [a["stored"] for a in manifest.assets] == [
        a["stored"] for a in raw(job_dir.inputs_manifest)["assets"]
    ]

    index = r.doc(job_dir.variants_index, VariantsIndex)
    assert read_variants_index(job_dir) == index == try_read_variants_index(job_dir)
    assert index.variants == ["v0001"]

    shortlist = r.doc(job_dir.shortlisted, ShortlistDocument)
    assert read_shortlist(job_dir) == shortlist == try_read_shortlist(job_dir)
    assert shortlist.pick_ids() == ["v0001"]
    phash = raw(job_dir.shortlisted)["phashes"]["v0001"]
    assert shortlist.recorded_phashes() == {"v0001": int(phash, 16)}

    approvals = r.doc(job_dir.approved, ApprovalsDocument)
    assert read_approvals(job_dir) == approvals == try_read_approvals(job_dir)
    assert approvals.states == {"v0001": "approved"}
    assert [(a.variant_id, a.decision, a.by) for a in approvals.approved] == [
        ("v0001", "approve", "demo")
    ]

    if telegram_sent_path(job_dir).is_file():
        read_telegram_docs(r, job_dir, key)

    decisions = ledger.decisions_path(job_dir.path)
    lines = [json.loads(line) for line in decisions.read_bytes().splitlines()]
    assert ledger.read(job_dir.path) == lines and lines[0]["variant_id"] == "v0001"
    r.read.add(decisions)

    for path, reader in (
        (job_dir.breaker, try_read_breaker_record),
        (job_dir.window_closed, try_read_window_closed),
    ):
        if path.is_file():
            stop = r.doc(path, StopRecord)
            assert reader(job_dir) == stop
            assert (stop.job, stop.kind, stop.reason) == (
                key,
                raw(path)["kind"],
                raw(path)["reason"],
            )
    if job_dir.blocked.is_file():
        blocked = r.doc(job_dir.blocked, BlockedRecord)
        assert read_blocked(job_dir) == blocked == try_read_blocked(job_dir)
        assert blocked.missing_models == ["sdxl_base_1.0.safetensors"]

    for vid in index.variants:
        read_variant(r, job_dir, vid)


def read_telegram_docs(r: Reader, job_dir: JobDir, key: str) -> None:
    """What the old review sent: the shortlist (by its file's digest), the artifact index its
    buttons resolve through, and the approved original."""
    sent = r.doc(telegram_sent_path(job_dir), TelegramSent)
    assert read_telegram_sent(job_dir) == sent
    _, digest = read_shortlist_with_digest(job_dir)
    shortlist = sent.shortlists()[digest]
    assert shortlist.complete and shortlist.job_key == key
    (artifact,) = shortlist.candidates

    index = r.doc(artifact_index_path(job_dir), ArtifactIndex)
    assert read_artifact_index(artifact_index_path(job_dir)) == index
    ref = index.artifacts()[artifact]
    assert (ref.job_key, ref.variant_id) == (key, "v0001")

    originals = r.doc(originals_sent_path(job_dir), OriginalsSent)
    assert read_originals_sent(job_dir) == originals
    original = originals.originals()[artifact]
    assert (original.variant_id, original.decision) == ("v0001", "approve")


def read_variant(r: Reader, job_dir: JobDir, vid: str) -> None:
    variant = job_dir.variant_dir(vid)
    params = r.doc(variant.params, VariantParams)
    assert read_params(job_dir, vid) == params == read_variant_params(variant)
    assert try_read_params(variant) == params
    assert params.variant_id == vid and params.status is RenderStatus.OK
    assert params.render is not None
    assert [o.file for o in params.render.outputs] == [
        o["file"] for o in raw(variant.params)["render"]["outputs"]
    ]
    assert is_complete(job_dir, vid)

    prompt = raw(variant.prompt)
    assert read_prompt(variant) == prompt
    r.read.add(variant.prompt)

    submitted = r.doc(variant.submitted, Submitted)
    assert try_read_submitted(variant) == submitted == submitted_record(job_dir, vid)
    assert submitted.prompt_id == raw(variant.submitted)["prompt_id"]

    history = r.doc(variant.comfy_history, ComfyHistory)
    assert read_comfy_history(variant) == history
    assert list(history.prompts()) == [submitted.prompt_id]

    score = r.doc(variant.score, ScoreDocument)
    assert try_read_score(variant) == score
    assert score.total == raw(variant.score)["total"] and score.best_output() is not None

    if variant.retention.is_file():
        marker = r.doc(variant.retention, RetentionMarker)
        assert try_read_retention_marker(variant) == marker
        assert pruned_outputs(job_dir, vid) == set(raw(variant.retention)["files"])


def read_ops(r: Reader, tree: Tree) -> None:
    latch = r.doc(tree.breaker_latch, BreakerLatch)
    assert read_breaker_latch(tree) == latch
    assert (latch.breaker, latch.extra["notified"]) == ("failure_rate", "telegram")
    current = read_latch(tree.root)
    assert current is not None and (current.breaker, current.job) == (latch.breaker, latch.job)

    history = read_breaker_history(tree)
    lines = [json.loads(line) for line in tree.breaker_history.read_bytes().splitlines()]
    assert [(h.breaker, h.resumed_by) for h in history] == [
        (h["breaker"], h["resumed_by"]) for h in lines
    ]
    r.read.add(tree.breaker_history)

    report = r.doc(tree.retention_report(RETENTION_DAY), RetentionDay)
    assert try_read_retention_day(tree, RETENTION_DAY) == report
    assert report.date == RETENTION_DAY and [run["dry_run"] for run in report.runs] == [False]

    for folder in (tree.library, tree.library / "weeks" / LIBRARY_WEEK):
        library = r.doc(folder / "recipes.json", RecipeLibrary)
        assert try_read_recipe_library(folder) == library
        assert library.until_night == LIBRARY_UNTIL and list(library.products) == [PRODUCT]


def read_every_document(tree: Tree, night: str, keys: tuple[str, ...]) -> set[Path]:
    """Read the whole tree; returns the path of every document read."""
    r = Reader()
    read_night(r, tree, night, keys)
    for key in keys:
        read_job(r, tree.job(night, key), key)
    read_ops(r, tree)
    return r.read
