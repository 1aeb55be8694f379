"""The tree's documents above the nights: the breaker latch and its history (`ops/`), the daily
retention reports, the recipe library and the OCR cache's entries."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import Field

from nightrun_dagster.store.models import (
    Document,
    DocumentAt,
    DocumentFile,
    dump_document,
    parse_document,
)
from nightrun_dagster.store.paths import Tree


class BreakerLatch(Document):
    """`ops/breaker_latch.json`: the circuit breaker that stopped the nights, until a person
    clears it (night.breakers)."""

    breaker: str = "unknown"
    reason: str = ""
    value: float = 0.0
    threshold: float = 0.0
    night: str | None = None
    job: str | None = None
    tripped_at: str = "?"
    extra: dict[str, Any] = Field(default_factory=dict)


class BreakerHistoryEntry(BreakerLatch):
    """A line of `ops/breaker_history.jsonl`: a cleared latch, with who cleared it and when."""

    resumed_at: str | None = None
    resumed_by: str | None = None


LATCH = DocumentAt[BreakerLatch, Tree](BreakerLatch, lambda tree: tree.breaker_latch)
read_breaker_latch = LATCH.read  # FileNotFoundError when nothing is latched
write_breaker_latch = LATCH.write  # the latch in force, rewritten (how the team was told)


def create_breaker_latch(tree: Tree, latch: BreakerLatch) -> bool:
    """Write the latch unless one exists; True when this call created it. The file appears
    whole (linked from a complete temporary file) and exactly one of racing trippers wins."""
    path = tree.breaker_latch
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(LATCH.file.bytes(latch))
    try:
        os.link(tmp, path)  # fails when the latch exists
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def clear_breaker_latch(tree: Tree) -> None:
    tree.breaker_latch.unlink(missing_ok=True)


def append_breaker_history(tree: Tree, entry: BreakerHistoryEntry) -> None:
    """One line, written and fsynced: the history is the only record of who resumed."""
    path = tree.breaker_history
    path.parent.mkdir(parents=True, exist_ok=True)
    # json's spacing, sorted keys: the lines read as they did before the history was typed.
    line = json.dumps(dump_document(entry), sort_keys=True).encode() + b"\n"
    with path.open("ab") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_breaker_history(tree: Tree) -> list[BreakerHistoryEntry]:
    """Every readable line, oldest first ([] when none was cleared; damaged lines skipped)."""
    path = tree.breaker_history
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        try:
            entries.append(parse_document(path, line, BreakerHistoryEntry))
        except ValueError:
            continue
    return entries


class RetentionDay(Document):
    """`ops/retention/<date>.json`: every retention run of the day, in order."""

    date: str  # the report's day, as its file is named
    runs: list[dict[str, Any]] = Field(default_factory=list)


RETENTION_DAY = DocumentFile(RetentionDay)


def try_read_retention_day(tree: Tree, day: str) -> RetentionDay | None:
    return RETENTION_DAY.try_read(tree.retention_report(day))


def write_retention_day(tree: Tree, report: RetentionDay) -> Path:
    """Write the report of `report.date` (one file per day)."""
    return RETENTION_DAY.write(tree.retention_report(report.date), report)


class RecipeLibrary(Document):
    """`library/recipes.json` (and each week's copy): per product, the approved recipes and
    each arm's approval record (learning.recipes)."""

    library_version: int | None = None
    since_night: str | None = None
    until_night: str | None = None
    reviewed_nights: list[str] = Field(default_factory=list)
    products: dict[str, Any] = Field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True)
        data.pop("schema", None)
        return data


RECIPES_JSON = "recipes.json"
RECIPES_MD = "recipes.md"
# The folder is the tree's `library/` or one week's copy under it.
RECIPE_LIBRARY = DocumentAt[RecipeLibrary, Path](
    RecipeLibrary, lambda folder: Path(folder) / RECIPES_JSON
)
try_read_recipe_library = RECIPE_LIBRARY.try_read
write_recipe_library = RECIPE_LIBRARY.write


class OcrEntry(Document):
    """One OCR cache file (`cache/ocr/<xx>/<key>.json`): the words each pass read."""

    image_sha256: str
    langs: str
    prep_version: int
    passes: dict[str, Any]


OCR_ENTRY = DocumentFile(OcrEntry)
