"""Writes that never leave a half-written file: write a temporary sibling, then rename."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson


def _tmp_name(path: Path) -> Path:
    # Dot-prefixed and pid-tagged: never mistaken for a real artifact, never shared by writers.
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write `data` to `path` through a temporary sibling. `durable`: flush the data and the
    rename to disk before returning, for records a power cut must not take back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename lives in the folder's entry table: without this a power cut may undo it.
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def dump_json(payload: Any) -> bytes:
    """Indented UTF-8 JSON with a final newline (orjson: ~20x faster than json with indent)."""
    return orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def atomic_write_json(path: Path, payload: Any, *, durable: bool = False) -> None:
    atomic_write_bytes(path, dump_json(payload), durable=durable)


def atomic_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(dst)
    try:
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def move_without_clobber(src: Path, dst_dir: Path) -> Path:
    """Move `src` into `dst_dir`, adding `.1`, `.2`, … before the suffix if the name is taken."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / src.name
    n = 0
    while dst.exists():
        n += 1
        dst = dst_dir / f"{src.stem}.{n}{src.suffix}"
    src.replace(dst)
    return dst


def write_new_tree(final: Path, files: Iterable[tuple[str, bytes]]) -> None:
    """Create the folder `final` holding `files` (relative path, bytes) all at once: the tree
    is built under a temporary sibling and renamed into place, so `final` is complete or absent.
    Paths are resolved against an open folder handle, which keeps 10,000 small files fast."""
    if final.exists():
        raise FileExistsError(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = _tmp_name(final)
    staging.mkdir()
    made: set[str] = set()
    fd_root = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for rel, data in files:
            parent = rel.rpartition("/")[0]
            _mkdirs(parent, fd_root, made)
            fd = os.open(rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd_root)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        os.close(fd_root)


def _mkdirs(rel: str, fd_root: int, made: set[str]) -> None:
    if not rel or rel in made:
        return
    _mkdirs(rel.rpartition("/")[0], fd_root, made)
    os.mkdir(rel, dir_fd=fd_root)
    made.add(rel)
