"""A job's review folded into `approved.json`: what was sent, what was decided, what closed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from nightrun_dagster.selection.review import record_approvals, sent_for_review
from nightrun_dagster.store.models import DocumentError
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.selection_docs import (
    ShortlistDocument,
    ShortlistPick,
    read_approvals,
)
from nightrun_dagster.store.telegram_docs import SentShortlist, TelegramSent, write_telegram_sent
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.signing import artifact_id

NIGHT, KEY = "2026-02-10", "shoes"
PICKS = ["v0001", "v0002", "v0003"]


def _job(tree: Tree, selected_at: datetime) -> tuple[JobDir, ShortlistDocument]:
    job_dir = tree.job(NIGHT, KEY)
    for i, vid in enumerate(PICKS):
        job_dir.meta(vid).mkdir(parents=True)
        params = {"variant_id": vid, "seed": 100 + i, "render": {"status": "ok"}}
        job_dir.params(vid).write_text(json.dumps(params))
    job_dir.selection.mkdir(parents=True)
    shortlist = ShortlistDocument(
        night=NIGHT,
        job_key=KEY,
        picks=[
            ShortlistPick(rank=i + 1, variant_id=v, total=0.9 - i / 10) for i, v in enumerate(PICKS)
        ],
        selected_at=selected_at.isoformat(),
    )
    return job_dir, shortlist


def _send(job_dir: JobDir, *variants: str) -> None:
    doc = TelegramSent()
    doc.shortlists()["digest"] = SentShortlist(
        chat_id=1, candidates={artifact_id(NIGHT, KEY, v): 10 + n for n, v in enumerate(variants)}
    )
    write_telegram_sent(job_dir, doc)


def test_sent_decided_and_waiting_picks_fold_into_their_states(tree: Tree) -> None:
    job_dir, shortlist = _job(tree, datetime.now(UTC))
    assert sent_for_review(job_dir, NIGHT, KEY, PICKS) == set()  # nothing sent yet
    _send(job_dir, "v0001", "v0002")
    assert sent_for_review(job_dir, NIGHT, KEY, PICKS) == {"v0001", "v0002"}
    ledger.record(
        job_dir.path,
        {
            "artifact": artifact_id(NIGHT, KEY, "v0001"),
            "night": NIGHT,
            "job_key": KEY,
            "variant_id": "v0001",
            "decision": "favorite",
            "by": "@ana",
            "via": "telegram",
            "at": "2026-02-11T09:00:00+00:00",
        },
    )
    doc = record_approvals(job_dir, NIGHT, KEY, shortlist, review_days=7)
    assert doc.states == {"v0001": "approved", "v0002": "awaiting_approval", "v0003": "shortlisted"}
    [entry] = doc.approved
    assert (
        entry.favorite
        and entry.by == "@ana"
        and entry.params == {"variant_id": "v0001", "seed": 100}
    )
    assert read_approvals(job_dir).states == doc.states


def test_undecided_picks_are_archived_once_the_review_closed(tree: Tree) -> None:
    job_dir, shortlist = _job(tree, datetime.now(UTC) - timedelta(days=8))
    _send(job_dir, "v0001")
    doc = record_approvals(job_dir, NIGHT, KEY, shortlist, review_days=7)
    assert doc.counts == {"archived": 3} and doc.approved == []


def test_a_damaged_send_record_names_its_file(tree: Tree) -> None:
    job_dir, shortlist = _job(tree, datetime.now(UTC))
    (job_dir.selection / "telegram_sent.json").write_text("[1, 2]")
    with pytest.raises(DocumentError, match=r"telegram_sent\.json"):
        record_approvals(job_dir, NIGHT, KEY, shortlist, review_days=7)
