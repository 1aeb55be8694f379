"""Folding the decisions ledger into artifact states and `selection/approved.json`.

States (seed §7): `shortlisted` → `awaiting_approval` (sent for review) → `approved`
(favorites are approved too, flagged) | `rejected`, or `archived` when the review window closed
without a decision. The first decision per artifact is the one that counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from nightrun_dagster.store.selection_docs import (
    ApprovalEntry,
    ApprovalsDocument,
    ShortlistDocument,
)
from nightrun_dagster.store.variant_state import RENDER_KEYS

APPROVING = {"approve", "favorite"}


def fold(
    shortlist: ShortlistDocument,
    decisions: Iterable[Mapping[str, Any]],
    sent: set[str],
    params: Mapping[str, Mapping[str, Any]],
    *,
    review_closes_at: datetime | None = None,
    now: datetime | None = None,
) -> ApprovalsDocument:
    """The approvals document of one job: a state per shortlisted variant, the approved ones
    with who approved them and when, and the parameters that reproduce each."""
    first: dict[str, Mapping[str, Any]] = {}
    for d in decisions:
        first.setdefault(str(d["variant_id"]), d)
    now = now or datetime.now(UTC)
    closed = review_closes_at is not None and now >= review_closes_at
    states: dict[str, str] = {}
    approved: list[ApprovalEntry] = []
    log: list[ApprovalEntry] = []
    for pick in shortlist.picks:
        vid = pick.variant_id
        decision = first.get(vid)
        if decision is not None:
            kind = str(decision["decision"])
            states[vid] = "approved" if kind in APPROVING else "rejected"
            entry = ApprovalEntry(
                variant_id=vid,
                artifact=decision.get("artifact"),
                decision=kind,
                favorite=kind == "favorite",
                by=decision.get("by"),
                via=decision.get("via"),
                at=decision.get("at"),
                job_id=shortlist.job_id,
                rank=pick.rank,
                total=pick.total,
                file=pick.file,
                params={k: v for k, v in params.get(vid, {}).items() if k not in RENDER_KEYS},
            )
            log.append(entry)
            if kind in APPROVING:
                approved.append(entry)
        elif vid in sent:
            states[vid] = "archived" if closed else "awaiting_approval"
        else:
            states[vid] = "archived" if closed else "shortlisted"
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    return ApprovalsDocument(
        night=shortlist.night,
        job_id=shortlist.job_id,
        job_key=shortlist.job_key,
        states=states,
        counts=counts,
        approved=approved,
        log=log,
    )
