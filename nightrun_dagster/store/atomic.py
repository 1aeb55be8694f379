"""Writes that never leave a half-written file: write a temporary sibling, then rename."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any


def _tmp_name(path: Path) -> Path:
    # Dot-prefixed and pid-tagged: never mistaken for a real artifact, never shared by writers.
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def dump_json(payload: Any) -> bytes:
    return (json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, dump_json(payload))


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
