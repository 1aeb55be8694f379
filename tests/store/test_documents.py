"""The tree's typed documents: they round-trip, older nights' files still read, and a write
that fails at the rename leaves the old file and no temporary one."""

import os
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.store.atomic import atomic_copy, atomic_write_json
from nightrun_dagster.store.models import SCHEMA, DocumentError
from nightrun_dagster.store.night_plan import (
    NightPlan,
    PlannedJob,
    read_night_plan,
    write_night_plan,
)
from nightrun_dagster.store.night_records import (
    Backlog,
    JobClosed,
    JobDigest,
    NightClosed,
    NightSummary,
    StopRecord,
    WarmupReport,
    read_warmup,
    try_read_breaker_record,
    try_read_night_closed,
    try_read_night_summary,
    try_read_window_closed,
    write_breaker_record,
    write_night_closed,
    write_night_summary,
    write_warmup,
    write_window_closed,
)
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.store.selection_docs import (
    ApprovalEntry,
    ApprovalsDocument,
    ShortlistDocument,
    ShortlistPick,
    read_approvals,
    read_shortlist,
    try_read_shortlist,
    write_approvals,
    write_shortlist_document,
)
from nightrun_dagster.store.variants_index import (
    VariantsIndex,
    read_variants_index,
    write_variants_index,
)

NIGHT = "2026-02-09"


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "night-runs")


def shortlist_doc() -> ShortlistDocument:
    return ShortlistDocument(
        night=NIGHT,
        job_id="mate-1",
        job_key="mate",
        k=1,
        n=3,
        variants=4,
        candidates=3,
        picks=[
            ShortlistPick(
                rank=1,
                variant_id="v0002",
                file="out/img_0001.png",
                total=0.91,
                cluster="p1",
                dup_group="d1",
                components={"sharpness": 0.8, "text": None},
                reason="#1 of 2 in cluster p1",
            )
        ],
        clusters={"p1": ["v0002", "v0003"]},
        phashes={"v0002": "00ff00ff00ff00ff", "v0003": "not hex"},
        selected_at="2026-02-10T06:00:00+00:00",
    )


def approvals_doc() -> ApprovalsDocument:
    entry = ApprovalEntry(
        variant_id="v0002",
        artifact="a1",
        decision="favorite",
        favorite=True,
        by=12345,
        via="telegram",
        at="2026-02-10T07:00:00+00:00",
        params={"seed": 7},
    )
    return ApprovalsDocument(
        night=NIGHT,
        job_key="mate",
        states={"v0002": "approved"},
        counts={"approved": 1},
        approved=[entry],
        log=[entry],
    )


def test_shortlist_round_trips_with_its_schema(tree: Tree) -> None:
    job_dir = tree.job(NIGHT, "mate")
    doc = shortlist_doc()
    write_shortlist_document(job_dir, doc)
    assert read_shortlist(job_dir) == doc
    assert read_shortlist(job_dir.path).picks[0].components == {"sharpness": 0.8, "text": None}
    raw = job_dir.shortlisted.read_text()
    assert raw.startswith('{\n  "schema": 1,') and SCHEMA == 1
    # Only readable recorded pHashes rank a pruned picture again.
    assert read_shortlist(job_dir).recorded_phashes() == {"v0002": 0x00FF00FF00FF00FF}


def test_approvals_round_trip_and_keep_the_reviewer_id_a_number(tree: Tree) -> None:
    job_dir = tree.job(NIGHT, "mate")
    write_approvals(job_dir, approvals_doc())
    back = read_approvals(job_dir)
    assert back == approvals_doc()
    assert back.approved[0].by == 12345 and back.approved[0].favorite is True


def test_an_older_nights_files_read_and_keep_unknown_keys(tree: Tree) -> None:
    # As written before documents carried a schema: no `schema`, fewer fields, and a key
    # this version does not know.
    job_dir = tree.job(NIGHT, "mate")
    old_short: dict[str, Any] = {
        "night": NIGHT,
        "job_key": "mate",
        "picks": [{"rank": 1, "variant_id": "v0001", "total": 0.5, "legacy": "x"}],
        "reviewer_note": "kept",
    }
    atomic_write_json(job_dir.shortlisted, old_short)
    short = read_shortlist(job_dir)
    assert short.pick_ids() == ["v0001"] and short.phashes == {} and short.selected_at is None
    assert short.picks[0].file is None

    atomic_write_json(
        job_dir.approved, {"approved": [{"variant_id": "v0001", "decision": "approve"}]}
    )
    assert [e.variant_id for e in read_approvals(job_dir).approved] == ["v0001"]

    # A read-modify-write keeps what this version does not know, and stamps the schema.
    short.candidates = 1
    write_shortlist_document(job_dir, short)
    again = read_shortlist(job_dir).model_dump(mode="json", by_alias=True)
    assert again["reviewer_note"] == "kept" and again["picks"][0]["legacy"] == "x"
    assert again["schema"] == SCHEMA and again["candidates"] == 1


def test_a_damaged_document_names_its_file_and_field(tree: Tree) -> None:
    job_dir = tree.job(NIGHT, "mate")
    atomic_write_json(job_dir.shortlisted, {"picks": [{"rank": 1}]})
    with pytest.raises(DocumentError, match=r"shortlisted\.json: picks\.0\.variant_id"):
        read_shortlist(job_dir)
    assert try_read_shortlist(job_dir) is None
    job_dir.shortlisted.write_text("{not json")
    with pytest.raises(DocumentError, match=r"shortlisted\.json"):
        read_shortlist(job_dir)
    with pytest.raises(FileNotFoundError):
        read_approvals(job_dir)


class RenameFailed(OSError):
    pass


def fail_rename(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Make every rename fail after the temporary file is complete; record what was renamed."""
    tried: list[tuple[str, str]] = []

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        tried.append((os.fspath(src), os.fspath(dst)))
        raise RenameFailed("disk gone")

    monkeypatch.setattr(os, "replace", replace)
    return tried


def test_a_write_that_fails_at_the_rename_keeps_the_old_document(
    tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_dir = tree.job(NIGHT, "mate")
    write_shortlist_document(job_dir, shortlist_doc())
    before = job_dir.shortlisted.read_bytes()
    tried = fail_rename(monkeypatch)
    changed = shortlist_doc()
    changed.picks = []
    with pytest.raises(RenameFailed):
        write_shortlist_document(job_dir, changed)
    # The write went through a temporary sibling, not straight to the final path.
    assert tried and Path(tried[0][1]) == job_dir.shortlisted and tried[0][0] != tried[0][1]
    assert job_dir.shortlisted.read_bytes() == before
    assert sorted(p.name for p in job_dir.selection.iterdir()) == ["shortlisted.json"]


def test_a_copy_that_fails_at_the_rename_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = tmp_path / "new.png", tmp_path / "kept" / "img.png"
    src.write_bytes(b"new picture")
    dst.parent.mkdir()
    dst.write_bytes(b"old picture")
    tried = fail_rename(monkeypatch)
    with pytest.raises(RenameFailed):
        atomic_copy(src, dst)
    assert tried and Path(tried[0][1]) == dst
    assert dst.read_bytes() == b"old picture"
    assert sorted(p.name for p in dst.parent.iterdir()) == ["img.png"]


def test_the_shortlist_is_flushed_to_disk_and_the_approvals_need_not_be(
    tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_dir = tree.job(NIGHT, "mate")
    job_dir.selection.mkdir(parents=True)
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    # The approvals are folded again from the ledger on every run: no flush needed.
    write_approvals(job_dir, approvals_doc())
    assert synced == []
    # The shortlist holds the pHashes of pictures retention may prune: the file's data and
    # the folder entry that names it are both flushed.
    write_shortlist_document(job_dir, shortlist_doc())
    assert len(synced) == 2
    assert read_shortlist(job_dir) == shortlist_doc()


def test_night_and_job_records_round_trip_with_their_schema(tree: Tree) -> None:
    night_dir, job_dir = tree.night_dir(NIGHT), tree.job(NIGHT, "mate")
    stop = StopRecord(night=NIGHT, job="mate", kind="breaker", reason="4 OOMs", pending=3)
    write_breaker_record(job_dir, stop)
    assert try_read_breaker_record(job_dir) == stop
    window = StopRecord(night=NIGHT, job="mate", kind="window", pending_variants=["v0009"])
    write_window_closed(job_dir, window)
    assert try_read_window_closed(job_dir) == window
    closed = NightClosed(
        night=NIGHT,
        jobs=[JobClosed(job="mate", variants=4, rendered=3, left=1, left_variants=["v0004"])],
        left_for_next_night={"mate": 1},
    )
    write_night_closed(tree, closed)
    assert try_read_night_closed(tree, NIGHT) == closed
    summary = NightSummary(night=NIGHT, jobs=[JobDigest(job="mate", best_total=0.9, best="v1")])
    write_night_summary(night_dir, summary)
    assert try_read_night_summary(night_dir) == summary
    warmup = WarmupReport(night=NIGHT, backlog=Backlog(tonight=40, carried_over={"mate": 1}))
    write_warmup(night_dir, warmup)
    assert read_warmup(night_dir) == warmup
    plan = NightPlan(night=NIGHT, mode="exploration", jobs=[PlannedJob(key="mate", budget=40)])
    write_night_plan(night_dir, plan)
    assert read_night_plan(night_dir) == plan
    index = VariantsIndex(night=NIGHT, count=2, variants=["v0001", "v0002"])
    write_variants_index(job_dir, index)
    assert read_variants_index(job_dir) == index
    for path in (
        job_dir.breaker,
        job_dir.window_closed,
        night_dir.night_closed,
        night_dir.night_summary,
        night_dir.warmup,
        night_dir.night_plan,
        job_dir.variants_index,
    ):
        assert path.read_text().startswith('{\n  "schema": 1,'), path


def test_older_night_and_job_records_read(tree: Tree) -> None:
    # Each as a night before documents carried a schema wrote it (fields as they were then).
    night_dir, job_dir = tree.night_dir(NIGHT), tree.job(NIGHT, "mate")
    atomic_write_json(job_dir.breaker, {"kind": "latched", "detail": {"breaker": "gpu_oom"}})
    atomic_write_json(tree.night_closed(NIGHT), {"night": NIGHT, "left_for_next_night": {"a": 2}})
    atomic_write_json(night_dir.night_summary, {"night": NIGHT, "jobs": [], "cut_short": None})
    atomic_write_json(night_dir.warmup, {"backlog": {"tonight": 5}, "blocked": {}})
    atomic_write_json(night_dir.night_plan, {"mode": "exploitation", "jobs": [{"key": "mate"}]})
    atomic_write_json(job_dir.variants_index, {"count": 1, "variants": ["v0001"]})
    assert try_read_breaker_record(job_dir).detail == {"breaker": "gpu_oom"}
    assert try_read_night_closed(tree, NIGHT).left_for_next_night == {"a": 2}
    assert try_read_night_summary(night_dir).cut_short is None
    assert read_warmup(night_dir).backlog.carried_over == {}
    assert read_night_plan(night_dir).job("mate").budget == 0
    assert read_variants_index(job_dir).variants == ["v0001"]
    # A missing record of a night that did not get that far reads as absent.
    assert try_read_window_closed(job_dir) is None
    assert try_read_night_summary(tree.night_dir("2026-01-01")) is None


def test_the_night_closed_record_is_flushed_to_disk(
    tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The next night's warm-up carries over what it says was left.
    tree.night(NIGHT).mkdir(parents=True)
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    write_night_closed(tree, NightClosed(night=NIGHT, left_for_next_night={"mate": 2}))
    assert len(synced) == 2
    assert try_read_night_closed(tree, NIGHT).left_for_next_night == {"mate": 2}
