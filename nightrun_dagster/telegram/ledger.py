"""Append-only decisions ledger per job (`selection/decisions.jsonl`) and the artifact index."""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from nightrun_dagster.store.paths import as_job_dir
from nightrun_dagster.store.telegram_docs import (
    ARTIFACTS,
    ARTIFACTS_DOC,
    DECISIONS,
    ArtifactIndex,
    ArtifactRef,
    artifact_index_path,
    parse_decision_lines,
)
from nightrun_dagster.store.telegram_docs import write_artifact_index as write_index

log = logging.getLogger(__name__)

TORN_SUFFIX = ".torn"  # decisions.jsonl.torn: unterminated tails moved out of the ledger
DECISION_VALUES = ("approve", "favorite", "reject")
REQUIRED = ("artifact", "night", "job_key", "variant_id", "decision", "by", "via", "at")


def decisions_path(job_dir: Path) -> Path:
    return as_job_dir(job_dir).selection / DECISIONS


def torn_path(job_dir: Path) -> Path:
    return decisions_path(job_dir).with_name(DECISIONS + TORN_SUFFIX)


def artifacts_path(job_dir: Path) -> Path:
    return artifact_index_path(job_dir)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked_append(path: Path) -> Iterator[int]:
    """An O_APPEND descriptor holding an exclusive lock (sensor and CLI may write together)."""
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if created:
            # The new directory entry must survive a crash as well as the bytes.
            _fsync_dir(path.parent)
        yield fd
    finally:
        os.close(fd)  # also releases the lock


def read(job_dir: Path) -> list[dict[str, Any]]:
    """Every complete decision line of the job, oldest first; [] when there is no ledger."""
    path = decisions_path(job_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    return parse_decision_lines(raw, path)


def find(job_dir: Path, artifact: str) -> dict[str, Any] | None:
    """The decision that counts for `artifact` (the first one), or None."""
    return next((d for d in read(job_dir) if d.get("artifact") == artifact), None)


def seen_update(job_dir: Path, update_id: int) -> bool:
    return by_update(job_dir, update_id) is not None


def by_update(job_dir: Path, update_id: int) -> dict[str, Any] | None:
    """The decision recorded from Telegram update `update_id`, or None."""
    return next((d for d in read(job_dir) if d.get("update_id") == update_id), None)


def _write_all_once(fd: int, data: bytes, path: Path) -> None:
    # One write per line: a short write leaves a torn tail that the next append repairs, and
    # raising keeps the caller from answering as if the line were durable.
    written = os.write(fd, data)
    if written != len(data):
        raise OSError(f"{path}: short write ({written} of {len(data)} bytes)")
    os.fsync(fd)


def _repair_tail(fd: int, raw: bytes, path: Path) -> bytes:
    """Move an unterminated last line (a crash mid-append) into the `.torn` side file and cut it
    from the ledger, so it can never become a decision by a later newline; the repaired bytes."""
    if not raw or raw.endswith(b"\n"):
        return raw
    keep = raw.rfind(b"\n") + 1
    tail = raw[keep:]
    side = path.with_name(path.name + TORN_SUFFIX)
    # The fragment is kept (not dropped) so a person can see what was lost; it is copied out
    # before the ledger is cut, so a crash in between loses nothing.
    created = not side.exists()
    side_fd = os.open(side, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        _write_all_once(side_fd, tail + b"\n", side)
    finally:
        os.close(side_fd)
    if created:
        _fsync_dir(path.parent)
    os.ftruncate(fd, keep)
    os.fsync(fd)
    log.warning("%s ended in an unterminated line (%d bytes); moved to %s", path, len(tail), side)
    return raw[:keep]


def record(job_dir: Path, decision: dict[str, Any]) -> bool:
    """Append `decision` durably; False (nothing written) when its artifact is already decided."""
    missing = [k for k in REQUIRED if decision.get(k) in (None, "")]
    if missing:
        raise ValueError(f"decision lacks {', '.join(missing)}")
    if decision["decision"] not in DECISION_VALUES:
        raise ValueError(f"decision must be one of {DECISION_VALUES}")
    line = orjson.dumps(decision) + b"\n"
    path = decisions_path(job_dir)
    with _locked_append(path) as fd:
        # Read under the lock so two writers cannot both see "undecided" (first decision wins).
        raw = _repair_tail(fd, path.read_bytes(), path)
        if any(d.get("artifact") == decision["artifact"] for d in parse_decision_lines(raw, path)):
            return False
        _write_all_once(fd, line, path)
    return True


def write_artifact_index(job_dir: Path, entries: dict[str, dict[str, str]]) -> None:
    """Merge `entries` (artifact id → {night, job_key, variant_id}) into `artifacts.json`."""
    index = ARTIFACTS_DOC.read_or_empty(artifacts_path(job_dir))
    known = index.artifacts()
    fresh = {art: ArtifactRef.model_validate(e) for art, e in entries.items()}
    if any(known.get(art) != ref for art, ref in fresh.items()):
        known.update(fresh)
        write_index(job_dir, index)


# runs dir → {artifacts.json path → (mtime_ns, size, index)}: a sensor polling every 30 s
# should not reparse (or even stat) every job of every night for each tap.
_Cached = tuple[int, int, ArtifactIndex]
_index_cache: dict[Path, dict[Path, _Cached]] = {}


def _lookup(cached: dict[Path, _Cached], artifact: str) -> tuple[str, str, str] | None:
    for path, (_, _, index) in cached.items():
        entry = index.artifacts().get(artifact)
        # An id names one candidate forever, so a cached hit stays right while its file
        # exists (retention may have removed the night since).
        if entry is not None and path.exists():
            return entry.night, entry.job_key, entry.variant_id
    return None


def resolve(runs_dir: Path, artifact: str) -> tuple[str, str, str] | None:
    """(night, job_key, variant_id) of an artifact id, via runs/*/job_*/selection/artifacts.json."""
    cached = _index_cache.setdefault(Path(runs_dir), {})
    hit = _lookup(cached, artifact)
    if hit is not None:
        return hit
    # Not known yet: reread what is new or changed, newest night first, forget what is gone.
    fresh: dict[Path, _Cached] = {}
    for path in sorted(Path(runs_dir).glob(f"*/job_*/selection/{ARTIFACTS}"), reverse=True):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        known = cached.get(path)
        if known is None or known[:2] != (st.st_mtime_ns, st.st_size):
            known = (st.st_mtime_ns, st.st_size, ARTIFACTS_DOC.read_or_empty(path))
        fresh[path] = known
    cached.clear()
    cached.update(fresh)
    return _lookup(cached, artifact)


def job_dir_for(runs_dir: Path, night: str, job_key: str) -> Path:
    return Path(runs_dir) / night / f"job_{job_key}"
