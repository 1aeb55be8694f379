"""The queue folder: valid jobs stay and become partitions; bad files go to `rejected/`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nightrun_dagster.creative_job.errors import JobSpecInvalid, SpecError
from nightrun_dagster.intake.validate import Intake, ValidJob, validate_file
from nightrun_dagster.store.atomic import atomic_write_json, move_without_clobber
from nightrun_dagster.store.paths import Tree


@dataclass(frozen=True)
class Rejection:
    source: str  # the queue file's name
    moved_to: Path
    report: Path
    errors: tuple[SpecError, ...]


@dataclass
class QueueScan:
    valid: dict[str, ValidJob] = field(default_factory=dict)  # by job key
    rejected: list[Rejection] = field(default_factory=list)
    settling: list[Path] = field(default_factory=list)  # too fresh: maybe still being written
    unmovable: list[tuple[Path, str]] = field(default_factory=list)  # bad, but cannot be moved


def queue_files(tree: Tree) -> list[Path]:
    if not tree.queue.is_dir():
        return []
    stamped = []
    for p in tree.queue.glob("*.json"):
        if p.name.startswith("."):
            continue  # our own temporary names, and hidden files of editors
        try:
            stamped.append((p.stat().st_mtime_ns, p.name, p))
        except FileNotFoundError:
            continue  # removed while we looked
    # First come, first served: when two files claim one job key, the older file keeps it.
    return [p for _, _, p in sorted(stamped) if p.is_file()]


def scan_queue(
    tree: Tree, intake: Intake, settle_seconds: float = 5.0, now: float | None = None
) -> QueueScan:
    """Validate every queue file; move each bad one (bytes untouched) to `queue/rejected/`
    beside `<name>.error.json`. Files younger than `settle_seconds` wait for the next scan."""
    scan = QueueScan()
    now = time.time() if now is None else now
    for path in queue_files(tree):
        try:
            if now - path.stat().st_mtime < settle_seconds:
                scan.settling.append(path)
                continue
            verdict = judge(path, intake, scan.valid)
        except FileNotFoundError:
            continue  # removed by someone else mid-scan: nothing to do
        if isinstance(verdict, ValidJob):
            scan.valid[verdict.key] = verdict
        else:
            _reject_into(scan, tree, path, verdict)
    return scan


def judge(path: Path, intake: Intake, valid: dict[str, ValidJob]) -> ValidJob | list[SpecError]:
    """One queue file: the valid job, or why the sensor rejects it (`valid` holds the files
    judged before it, which keep their job keys)."""
    try:
        found = validate_file(path, intake, label=path.name)
    except JobSpecInvalid as exc:
        return exc.errors
    holder = valid.get(found.key)
    if holder is not None:
        reason = f"job key {found.key!r} is already used by {holder.source.name}"
        return [SpecError(path.name, "job_id", reason)]
    return found


def _reject_into(scan: QueueScan, tree: Tree, path: Path, errors: list[SpecError]) -> None:
    try:
        scan.rejected.append(reject(tree, path, errors))
    except OSError as exc:
        # A file we cannot move (permissions, a vanished file) stays put: the tick goes on and
        # the next one tries again.
        scan.unmovable.append((path, str(exc)))


def reject(tree: Tree, path: Path, errors: list[SpecError]) -> Rejection:
    """Move a bad job file into `rejected/` and write why beside it."""
    moved = move_without_clobber(path, tree.rejected)
    report = moved.with_name(moved.name + ".error.json")
    atomic_write_json(
        report,
        {
            "file": path.name,
            "rejected_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "moved_to": str(moved),
            "errors": [
                {"field": e.field, "json_path": e.json_path, "reason": e.reason} for e in errors
            ],
        },
    )
    return Rejection(path.name, moved, report, tuple(errors))


@dataclass
class QueueReview:
    """What the sensor will do with each queue file, found without moving anything."""

    valid: dict[str, ValidJob] = field(default_factory=dict)  # by job key
    invalid: list[tuple[Path, list[SpecError]]] = field(default_factory=list)


def review_queue(tree: Tree, intake: Intake) -> QueueReview:
    """Every queue file judged as the sensor judges it, moving nothing (runs and doctor read;
    only the sensor rejects)."""
    review = QueueReview()
    for path in queue_files(tree):
        try:
            verdict = judge(path, intake, review.valid)
        except FileNotFoundError:
            continue
        if isinstance(verdict, ValidJob):
            review.valid[verdict.key] = verdict
        else:
            review.invalid.append((path, verdict))
    return review


def read_queue(tree: Tree, intake: Intake) -> dict[str, ValidJob]:
    """The queue's valid jobs by key, moving nothing."""
    return review_queue(tree, intake).valid


def find_job(tree: Tree, intake: Intake, key: str) -> ValidJob:
    """The queue's valid file for a job key."""
    found = read_queue(tree, intake).get(key)
    if found is None:
        raise KeyError(f"no valid job file with key {key!r} in {tree.queue}")
    return found
