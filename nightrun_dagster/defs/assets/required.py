"""A tree document an asset needs from an earlier one: read it, or fail naming the file and
what to materialize; or, when the earlier asset may not have run, None."""

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dagster as dg

from nightrun_dagster.store.models import DocumentError
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.variants_index import VariantsIndex, read_variants_index

T = TypeVar("T")


def required(read: Callable[[], T], path: Path, made_by: str) -> T:
    """`read()`; a missing file fails with "materialize `made_by` first", a damaged one with
    its file, field and reason and "materialize `made_by` again"."""
    found = optional(read, made_by)
    if found is None:
        raise dg.Failure(f"{path} is missing: materialize {made_by} first")
    return found


def optional(read: Callable[[], T], made_by: str) -> T | None:
    """`read()`, or None when its file is missing; a damaged one fails with its file, field
    and reason and "materialize `made_by` again"."""
    try:
        return read()
    except FileNotFoundError:
        return None
    except DocumentError as exc:
        raise dg.Failure(f"{exc}: materialize {made_by} again") from None


def variants_of(job_dir: JobDir) -> VariantsIndex:
    """The job's `variants/index.json`, which the `variants` asset writes."""
    return required(lambda: read_variants_index(job_dir), job_dir.variants_index, "variants")
