"""Append-only decisions ledger per job (`selection/decisions.jsonl`) and the artifact index."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from nightrun_dagster.store.atomic import atomic_write_json

log = logging.getLogger(__name__)

DECISIONS = "decisions.jsonl"
ARTIFACTS = "artifacts.json"
DECISION_VALUES = ("approve", "favorite", "reject")
REQUIRED = ("artifact", "night", "job_key", "variant_id", "decision", "by", "via", "at")


def decisions_path(job_dir: Path) -> Path:
    return Path(job_dir) / "selection" / DECISIONS


def artifacts_path(job_dir: Path) -> Path:
    return Path(job_dir) / "selection" / ARTIFACTS


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


def _parse(raw: bytes, path: Path) -> list[dict[str, Any]]:
    lines = raw.split(b"\n")
    # A final chunk without its newline is a torn append (crash mid-write): never trust it.
    complete = lines[:-1]
    out: list[dict[str, Any]] = []
    for n, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.warning("%s line %d is not JSON; ignored", path, n)
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def read(job_dir: Path) -> list[dict[str, Any]]:
    """Every complete decision line of the job, oldest first; [] when there is no ledger."""
    path = decisions_path(job_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    return _parse(raw, path)


def find(job_dir: Path, artifact: str) -> dict[str, Any] | None:
    """The decision that counts for `artifact` (the first one), or None."""
    return next((d for d in read(job_dir) if d.get("artifact") == artifact), None)


def seen_update(job_dir: Path, update_id: int) -> bool:
    return any(d.get("update_id") == update_id for d in read(job_dir))


def record(job_dir: Path, decision: dict[str, Any]) -> bool:
    """Append `decision` durably; False (nothing written) when its artifact is already decided."""
    missing = [k for k in REQUIRED if decision.get(k) in (None, "")]
    if missing:
        raise ValueError(f"decision lacks {', '.join(missing)}")
    if decision["decision"] not in DECISION_VALUES:
        raise ValueError(f"decision must be one of {DECISION_VALUES}")
    path = decisions_path(job_dir)
    with _locked_append(path) as fd:
        # Read under the lock so two writers cannot both see "undecided" (first decision wins).
        raw = path.read_bytes()
        if any(d.get("artifact") == decision["artifact"] for d in _parse(raw, path)):
            return False
        line = orjson.dumps(decision) + b"\n"
        if raw and not raw.endswith(b"\n"):
            # Close off a torn line so it stays one ignorable line instead of corrupting ours.
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    return True


def write_artifact_index(job_dir: Path, entries: dict[str, dict[str, str]]) -> None:
    """Merge `entries` (artifact id → {night, job_key, variant_id}) into `artifacts.json`."""
    path = artifacts_path(job_dir)
    current = _load_index(path)
    merged = {**current, **entries}
    if merged != current:
        atomic_write_json(path, merged)


def _load_index(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        log.warning("%s unreadable; treated as empty", path)
        return {}
    return data if isinstance(data, dict) else {}


# path → (mtime_ns, size, index): a sensor polling every 30 s should not reparse every night.
_index_cache: dict[Path, tuple[int, int, dict[str, dict[str, str]]]] = {}


def resolve(runs_dir: Path, artifact: str) -> tuple[str, str, str] | None:
    """(night, job_key, variant_id) of an artifact id, via runs/*/job_*/selection/artifacts.json."""
    for path in sorted(Path(runs_dir).glob(f"*/job_*/selection/{ARTIFACTS}"), reverse=True):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        cached = _index_cache.get(path)
        if cached is None or cached[:2] != (st.st_mtime_ns, st.st_size):
            cached = (st.st_mtime_ns, st.st_size, _load_index(path))
            _index_cache[path] = cached
        entry = cached[2].get(artifact)
        if isinstance(entry, dict):
            try:
                return entry["night"], entry["job_key"], entry["variant_id"]
            except KeyError:
                continue
    return None


def job_dir_for(runs_dir: Path, night: str, job_key: str) -> Path:
    return Path(runs_dir) / night / f"job_{job_key}"
