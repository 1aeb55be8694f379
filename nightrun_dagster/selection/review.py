"""A job's review folded into `selection/approved.json`: its shortlist, the candidates sent to
Telegram, the decisions ledger and each pick's parameters."""

from __future__ import annotations

from datetime import datetime, timedelta

from nightrun_dagster.selection.approvals import fold
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.selection_docs import (
    ApprovalsDocument,
    ShortlistDocument,
    write_approvals,
)
from nightrun_dagster.store.telegram_docs import read_telegram_sent
from nightrun_dagster.store.variant_docs import read_params
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.signing import artifact_id


def sent_for_review(job_dir: JobDir, night: str, job_key: str, picks: list[str]) -> set[str]:
    """The picks whose buttoned message went to the review chat. DocumentError when the send
    record is damaged."""
    try:
        sent = read_telegram_sent(job_dir).candidate_artifacts()
    except FileNotFoundError:
        return set()
    return {v for v in picks if artifact_id(night, job_key, v) in sent}


def record_approvals(
    job_dir: JobDir, night: str, job_key: str, shortlist: ShortlistDocument, review_days: float
) -> ApprovalsDocument:
    """Fold the job's decisions into states (the review closes `review_days` after the
    selection) and write `approved.json`; the document written."""
    picks = shortlist.pick_ids()
    sent = sent_for_review(job_dir, night, job_key, picks)
    params = {v: read_params(job_dir, v).as_dict() for v in picks}
    closes = datetime.fromisoformat(str(shortlist.selected_at)) + timedelta(days=review_days)
    doc = fold(shortlist, ledger.read(job_dir.path), sent, params, review_closes_at=closes)
    write_approvals(job_dir, doc)
    return doc
