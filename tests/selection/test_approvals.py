"""Folding decisions into artifact states: first decision wins, favorites approve, time archives."""

from datetime import UTC, datetime, timedelta

from nightrun_dagster.selection.approvals import fold
from nightrun_dagster.store.selection_docs import ShortlistDocument

SHORT = ShortlistDocument.model_validate(
    {
        "night": "2026-02-09",
        "job_id": "job-1",
        "job_key": "job-1",
        "picks": [
            {
                "rank": i + 1,
                "variant_id": f"v000{i + 1}",
                "total": 0.9 - i / 10,
                "file": "out/img_0001.png",
            }
            for i in range(5)
        ],
    }
)
PARAMS = {f"v000{i}": {"seed": i, "prompt": "p", "render": {"status": "ok"}} for i in range(1, 6)}


def d(vid: str, decision: str, by: str, at: str) -> dict:
    return {
        "variant_id": vid,
        "artifact": f"a{vid}",
        "decision": decision,
        "by": by,
        "via": "cli",
        "at": at,
    }


def test_states_and_approved_log() -> None:
    decisions = [
        d("v0001", "approve", "ana", "2026-02-10T01:00:00+00:00"),
        d("v0001", "reject", "beto", "2026-02-10T01:05:00+00:00"),  # too late: first wins
        d("v0002", "favorite", "ana", "2026-02-10T01:10:00+00:00"),
        d("v0003", "reject", "ana", "2026-02-10T01:11:00+00:00"),
    ]
    doc = fold(SHORT, decisions, sent={"v0001", "v0002", "v0003", "v0004"}, params=PARAMS)
    assert doc.states == {
        "v0001": "approved",
        "v0002": "approved",
        "v0003": "rejected",
        "v0004": "awaiting_approval",
        "v0005": "shortlisted",
    }
    assert [a.variant_id for a in doc.approved] == ["v0001", "v0002"]
    first = doc.approved[0]
    assert (
        first.by == "ana" and first.job_id == "job-1" and first.params == {"seed": 1, "prompt": "p"}
    )
    assert doc.approved[1].favorite is True
    assert [e.decision for e in doc.log] == ["approve", "favorite", "reject"]
    assert doc.counts == {"approved": 2, "rejected": 1, "awaiting_approval": 1, "shortlisted": 1}


def test_review_window_closed_archives_the_undecided() -> None:
    closes = datetime(2026, 2, 16, tzinfo=UTC)
    doc = fold(
        SHORT,
        [d("v0001", "approve", "ana", "x")],
        sent={"v0002"},
        params=PARAMS,
        review_closes_at=closes,
        now=closes + timedelta(seconds=1),
    )
    assert doc.states["v0001"] == "approved"
    assert doc.states["v0002"] == "archived" and doc.states["v0005"] == "archived"
