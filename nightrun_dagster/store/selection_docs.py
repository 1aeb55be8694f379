"""A job's `selection/` documents: `shortlisted.json` (the picks) and `approved.json` (the
decisions folded into states and the approval log)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import Field

from nightrun_dagster.store.models import DocumentAt, JobDocument, Part
from nightrun_dagster.store.paths import JobDir, as_job_dir


class ShortlistPick(Part):
    rank: int = 0
    variant_id: str
    file: str | None = None
    preview: str | None = None
    total: float | None = None
    cluster: str | None = None
    dup_group: str | None = None
    components: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None


class MissingPictures(Part):
    ranked: list[str] = Field(default_factory=list)
    left_out: list[str] = Field(default_factory=list)


class Skipped(Part):
    cluster_full: int = 0
    near_duplicate: int = 0


class ShortlistDocument(JobDocument):
    """`selection/shortlisted.json`: the picks, best first, and why each is there."""

    k: int | None = None
    n: int | None = None
    duplicate_distance: int | None = None
    variants: int = 0
    candidates: int = 0
    picks: list[ShortlistPick] = Field(default_factory=list)
    clusters: dict[str, list[str]] = Field(default_factory=dict)
    duplicate_groups: dict[str, list[str]] = Field(default_factory=dict)
    skipped: Skipped = Field(default_factory=Skipped)
    missing_pictures: MissingPictures = Field(default_factory=MissingPictures)
    # Variant id -> pHash (16 hex digits): ranks a variant again after its picture is pruned.
    phashes: dict[str, str] = Field(default_factory=dict)
    selected_at: str | None = None

    def pick_ids(self) -> list[str]:
        return [p.variant_id for p in self.picks]

    def recorded_phashes(self) -> dict[str, int]:
        """Variant id -> pHash, for every readable recorded one."""
        found: dict[str, int] = {}
        for vid, value in self.phashes.items():
            try:
                found[vid] = int(value, 16)
            except ValueError:
                continue
        return found


class ApprovalEntry(Part):
    """One decided pick: the decision, who made it and the parameters that reproduce it."""

    variant_id: str
    artifact: str | None = None
    decision: str
    favorite: bool = False
    by: str | int | None = None
    via: str | None = None
    at: str | None = None
    job_id: str | None = None
    rank: int | None = None
    total: float | None = None
    file: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class ApprovalsDocument(JobDocument):
    """`selection/approved.json`: a state per pick, the approved ones and every decision."""

    states: dict[str, str] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    approved: list[ApprovalEntry] = Field(default_factory=list)
    log: list[ApprovalEntry] = Field(default_factory=list)


# Durable: it holds the pHashes of pictures retention may prune, and review buttons refer to
# its picks.
SHORTLIST = DocumentAt[ShortlistDocument, JobDir | Path](
    ShortlistDocument, lambda where: as_job_dir(where).shortlisted, durable=True
)
# Not durable: it is folded again from the decisions ledger whenever approvals run.
APPROVALS = DocumentAt[ApprovalsDocument, JobDir | Path](
    ApprovalsDocument, lambda where: as_job_dir(where).approved
)
# FileNotFoundError when absent, DocumentError when damaged.
read_shortlist = SHORTLIST.read
try_read_shortlist = SHORTLIST.try_read
write_shortlist_document = SHORTLIST.write
read_approvals = APPROVALS.read
try_read_approvals = APPROVALS.try_read
write_approvals = APPROVALS.write


def read_shortlist_with_digest(job_dir: JobDir | Path) -> tuple[ShortlistDocument, str]:
    """The shortlist and the SHA-256 of its file: the digest names this exact shortlist (a
    new selection is a new digest, and is sent for review again)."""
    path = as_job_dir(job_dir).shortlisted
    raw = path.read_bytes()  # once: the digest and the document are of the same bytes
    return SHORTLIST.file.parse(path, raw), hashlib.sha256(raw).hexdigest()
