"""A job's `variants/index.json`: which variants the night's plan made, in order, and how."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

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
    extra: int = 0  # exploration extras (new seeds) the time plan gave the job
    # The last ids: more of the sweep, rendered only in time the job's share has spare; not
    # "left" at the close when they stay unrendered.
    reserve: list[str] = Field(default_factory=list)

    def planned(self) -> list[str]:
        """The variants the plan promised (all but the reserve), in render order."""
        spare = set(self.reserve)
        return [v for v in self.variants if v not in spare]


VARIANTS_INDEX = DocumentAt[VariantsIndex, JobDir | Path](
    VariantsIndex, lambda where: as_job_dir(where).variants_index
)
# FileNotFoundError when the job is not planned yet, DocumentError when the index is damaged.
read_variants_index = VARIANTS_INDEX.read
try_read_variants_index = VARIANTS_INDEX.try_read
write_variants_index = VARIANTS_INDEX.write
# The index file's bytes, for a `variants/` folder written all at once.
variants_index_bytes = VARIANTS_INDEX.file.bytes
