"""A job's `variants/index.json`: which variants the night's plan made, in order, and how."""

from __future__ import annotations

from pathlib import Path

from nightrun_dagster.store.models import (
    Document,
    document_bytes,
    read_document,
    try_read_document,
    write_document,
)
from nightrun_dagster.store.paths import JobDir, as_job_dir


class VariantsIndex(Document):
    job_id: str | None = None
    night: str | None = None
    mode: str | None = None
    cap: int | None = None
    sweep_size: int | None = None
    selection: str | None = None
    # The bandit's per-arm budgets the selection followed (None: one selection overall).
    arm_budgets: dict[str, int] | None = None
    count: int = 0
    variants: list[str]  # the variant ids, in render order


def read_variants_index(job_dir: JobDir | Path) -> VariantsIndex:
    """The job's index; FileNotFoundError when not planned yet, DocumentError when damaged."""
    return read_document(as_job_dir(job_dir).variants_index, VariantsIndex)


def try_read_variants_index(job_dir: JobDir | Path) -> VariantsIndex | None:
    return try_read_document(as_job_dir(job_dir).variants_index, VariantsIndex)


def write_variants_index(job_dir: JobDir | Path, index: VariantsIndex) -> None:
    write_document(as_job_dir(job_dir).variants_index, index)


def variants_index_bytes(index: VariantsIndex) -> bytes:
    """The index file's bytes, for a `variants/` folder written all at once."""
    return document_bytes(index)
