"""A job's `variants/index.json`: which variants the night's plan made, in order, and how."""

from __future__ import annotations

from pathlib import Path

from nightrun_dagster.store.models import DocumentAt, JobDocument
from nightrun_dagster.store.paths import JobDir, as_job_dir


class VariantsIndex(JobDocument):
    mode: str | None = None
    cap: int | None = None
    sweep_size: int | None = None
    selection: str | None = None
    # The bandit's per-arm budgets the selection followed (None: one selection overall).
    arm_budgets: dict[str, int] | None = None
    count: int = 0
    variants: list[str]  # the variant ids, in render order


VARIANTS_INDEX = DocumentAt[VariantsIndex, JobDir | Path](
    VariantsIndex, lambda where: as_job_dir(where).variants_index
)
# FileNotFoundError when the job is not planned yet, DocumentError when the index is damaged.
read_variants_index = VARIANTS_INDEX.read
try_read_variants_index = VARIANTS_INDEX.try_read
write_variants_index = VARIANTS_INDEX.write
# The index file's bytes, for a `variants/` folder written all at once.
variants_index_bytes = VARIANTS_INDEX.file.bytes
