"""The template registry: every `<template_id>.json` in the workflows folder."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

METADATA_KEY = "_workflow_metadata"
DEFAULT_WORKFLOWS_DIR = Path(__file__).resolve().parents[2] / "workflows"


class TemplateError(ValueError):
    """A workflow template file is unreadable or lacks its `_workflow_metadata`."""


@dataclass(frozen=True)
class Template:
    template_id: str
    path: Path
    sha256: str  # of the file's bytes: params.json records it so a render can be reproduced
    metadata: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", ""))

    @property
    def kind(self) -> str:
        return str(self.metadata.get("kind", "image"))

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self.metadata.get("defaults") or {})

    def graph(self) -> dict[str, Any]:
        """The API-format graph without `_workflow_metadata` (what ComfyUI receives)."""
        data = json.loads(self.path.read_bytes())
        data.pop(METADATA_KEY, None)
        return data


def load_template(path: Path) -> Template:
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}: not valid JSON: {exc}") from exc
    meta = data.get(METADATA_KEY) if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        raise TemplateError(f"{path}: {METADATA_KEY}: missing; every template must carry one")
    declared = meta.get("template_id", path.stem)
    if declared != path.stem:
        raise TemplateError(
            f"{path}: {METADATA_KEY}.template_id: {declared!r} differs from the file name"
        )
    return Template(path.stem, path, hashlib.sha256(raw).hexdigest(), meta)


def load_templates(workflows_dir: Path) -> dict[str, Template]:
    """Every template in `workflows_dir`, keyed by template id."""
    return {p.stem: load_template(p) for p in sorted(Path(workflows_dir).glob("*.json"))}


@cache
def _cached(workflows_dir: Path, stamp: tuple[tuple[str, int], ...]) -> dict[str, Template]:
    return load_templates(workflows_dir)


def template_registry(workflows_dir: Path) -> dict[str, Template]:
    """`load_templates`, cached until a file in the folder changes (sensors call it each tick)."""
    d = Path(workflows_dir).resolve()
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(d.glob("*.json")))
    return _cached(d, stamp)
