"""Files the way ComfyUI names and finds them: save counters, PNG metadata, uploads, /view."""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

_COUNTER = re.compile(r"^(\d+)_")


@dataclass(frozen=True)
class Folders:
    output: Path
    input: Path
    temp: Path

    def by_type(self, kind: str | None) -> Path | None:
        return {"output": self.output, "input": self.input, "temp": self.temp}.get(kind or "output")


def save_path(prefix: str, root: Path) -> tuple[Path, str, int, str]:
    """folder_paths.get_save_image_path: (folder, file stem, next counter, subfolder).

    `a/b/c` saves into subfolder `a/b` as `c_00001_.png`; the counter continues from the files
    already there, so a restarted server never overwrites earlier outputs."""
    normalised = Path(os.path.normpath(prefix))
    subfolder = "" if normalised.parent == Path() else str(normalised.parent)
    stem = normalised.name
    folder = (root / subfolder).resolve()
    if os.path.commonpath((str(root.resolve()), str(folder))) != str(root.resolve()):
        raise ValueError(
            "**** ERROR: Saving image outside the output folder is not allowed.\n"
            f" full_output_folder: {folder}\n         output_dir: {root}"
        )
    counter = 1
    if folder.is_dir():
        for entry in (path.name for path in folder.iterdir()):
            if entry[: len(stem) + 1].lower() != f"{stem}_".lower():
                continue
            match = _COUNTER.match(entry[len(stem) + 1 :])
            if match:
                counter = max(counter, int(match.group(1)) + 1)
    else:
        folder.mkdir(parents=True, exist_ok=True)
    return folder, stem, counter, subfolder


def png_bytes(
    pixels: np.ndarray,
    prompt: dict[str, Any] | None = None,
    extra_pnginfo: dict[str, Any] | None = None,
    compress_level: int = 1,
) -> bytes:
    """PNG with ComfyUI's `prompt` (and extra_pnginfo) text chunks; level 1 keeps it fast."""
    info = None
    if prompt is not None or extra_pnginfo:
        info = PngInfo()
        if prompt is not None:
            info.add_text("prompt", json.dumps(prompt))
        for key, value in (extra_pnginfo or {}).items():
            info.add_text(key, json.dumps(value))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", pnginfo=info, compress_level=compress_level)
    return buffer.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    tmp.replace(path)


def split_annotation(name: str) -> tuple[str, str | None]:
    """`x.png [output]` → (`x.png`, `output`), as folder_paths.annotated_filepath."""
    for kind in ("output", "input", "temp"):
        suffix = f" [{kind}]"
        if name.endswith(suffix):
            return name[: -len(suffix)], kind
    return name, None


def resolve_input(name: str, folders: Folders) -> Path | None:
    """An uploaded file LoadImage may name (`sub/x.png`, `x.png [output]`), if it exists."""
    plain, kind = split_annotation(name)
    root = folders.by_type(kind or "input")
    if root is None or not plain:
        return None
    path = (root / plain).resolve()
    if os.path.commonpath((str(root.resolve()), str(path))) != str(root.resolve()):
        return None
    return path if path.is_file() else None


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> dict[str, Part]:
    """multipart/form-data without python-multipart (not a dependency of the project)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ValueError("no multipart boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts: dict[str, Part] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n")
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        data = data.removesuffix(b"\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _param(disposition, "name")
        if name is None:
            continue
        parts[name] = Part(name, _param(disposition, "filename"), headers.get("content-type"), data)
    return parts


def _param(header: str, key: str) -> str | None:
    match = re.search(rf'(?:^|;)\s*{key}="([^"]*)"', header) or re.search(
        rf"(?:^|;)\s*{key}=([^;]+)", header
    )
    return match.group(1).strip() if match else None
