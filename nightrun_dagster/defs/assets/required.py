"""A tree document an asset needs from an earlier one: read it, or fail naming the file and
what to materialize."""

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dagster as dg

from nightrun_dagster.store.models import DocumentError

T = TypeVar("T")


def required(read: Callable[[], T], path: Path, made_by: str) -> T:
    """`read()`; a missing file fails with "materialize `made_by` first", a damaged one with
    its file, field and reason and "materialize `made_by` again"."""
    try:
        return read()
    except FileNotFoundError:
        raise dg.Failure(f"{path} is missing: materialize {made_by} first") from None
    except DocumentError as exc:
        raise dg.Failure(f"{exc}: materialize {made_by} again") from None
