"""The template registry: every `<template_id>.json` in the workflows folder, the good ones and
the broken ones with their reasons (a broken file affects only the jobs that name it)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

METADATA_KEY = "_workflow_metadata"
DEFAULT_WORKFLOWS_DIR = Path(__file__).resolve().parents[2] / "workflows"
TEMPLATE_SUFFIX = ".json"
IMPORT_HINT = "import it with `nightrun template add FILE --id ID`"
TEMPLATE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# defaults key -> (accepted types, how to say it)
DEFAULT_TYPES: Mapping[str, tuple[type | tuple[type, ...], str]] = {
    "width": (int, "a whole number"),
    "height": (int, "a whole number"),
    "steps": (int, "a whole number"),
    "frames": (int, "a whole number"),
    "cfg": ((int, float), "a number"),
    "denoise": ((int, float), "a number"),
    "sampler": (str, "a sampler name"),
}


class TemplateKind(StrEnum):
    """What a template renders; video templates run in the night's video slice."""

    image = "image"
    video = "video"


class PlacedError(ValueError):
    """A problem in user input, said as one line `<where>: <reason>`; `reason` alone is kept for
    messages that name the place their own way."""

    def __init__(self, where: object, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class TemplateError(PlacedError):
    """A workflow template file is unreadable, not a template, or inconsistent."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(path, reason)


@dataclass(frozen=True)
class Template:
    template_id: str
    path: Path
    sha256: str  # of the file's bytes: params.json records it so a render can be reproduced
    metadata: dict[str, Any]
    # role -> (node id, class_type) for every role that names a node, checked at load time.
    role_nodes: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", ""))

    @property
    def kind(self) -> TemplateKind:
        return TemplateKind(self.metadata.get("kind", TemplateKind.image))

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self.metadata.get("defaults") or {})

    def graph(self) -> dict[str, Any]:
        """The API-format graph without `_workflow_metadata` (what ComfyUI receives)."""
        data = json.loads(self.path.read_bytes())
        data.pop(METADATA_KEY, None)
        return data


@dataclass(frozen=True)
class BrokenTemplate:
    """A file in the workflows folder that is not a usable template, and why."""

    template_id: str  # the file's stem: the id a job would name it by
    path: Path
    reason: str
    declared_id: str | None = None  # `_workflow_metadata.template_id` when it differs

    def line(self) -> str:
        """`workflows/foo.json is broken: <reason>` (the path as the user sees it)."""
        return f"{display_path(self.path)} is broken: {self.reason}"


@dataclass(frozen=True)
class TemplateRegistry:
    """The workflows folder, read: good templates and broken files, both by template id."""

    workflows_dir: Path
    templates: Mapping[str, Template]
    broken: Mapping[str, BrokenTemplate]

    def broken_by_id(self) -> dict[str, BrokenTemplate]:
        """Every id a job may use to mean a broken file: its file name, and the id its
        metadata declares when no good template has that id."""
        found = dict(self.broken)
        for b in self.broken.values():
            if b.declared_id is not None and b.declared_id not in self.templates:
                found.setdefault(b.declared_id, b)
        return found


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it is inside it (`workflows/foo.json`),
    else as it is."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def load_template(path: Path) -> Template:
    """One template file, checked; raises TemplateError naming the file and the reason."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TemplateError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TemplateError(path, f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(path, f"not a JSON object but a {type(data).__name__}")
    meta = data.get(METADATA_KEY)
    if meta is None:
        raise TemplateError(
            path, f"{METADATA_KEY} is missing: a plain ComfyUI export; {IMPORT_HINT}"
        )
    if not isinstance(meta, dict):
        raise TemplateError(path, f"{METADATA_KEY} must be an object")
    graph = {k: v for k, v in data.items() if k != METADATA_KEY}
    _check_graph(path, graph)
    _check_metadata(path, meta)
    _check_references(path, meta, graph)
    return Template(
        path.stem, path, hashlib.sha256(raw).hexdigest(), meta, _roles(path, meta, graph)
    )


def _check_graph(path: Path, graph: Mapping[str, Any]) -> None:
    if not graph:
        raise TemplateError(path, "has no nodes besides its metadata")
    for node_id, node in graph.items():
        if not (isinstance(node, dict) and isinstance(node.get("class_type"), str)):
            # A UI-format save ("nodes", "links", …) lands here: it needs converting first.
            raise TemplateError(
                path, f"entry {node_id!r} is not an API-format node (no class_type); {IMPORT_HINT}"
            )
        if not isinstance(node.get("inputs", {}), dict):
            raise TemplateError(path, f"node {node_id}: inputs must be an object")


def _check_metadata(path: Path, meta: Mapping[str, Any]) -> None:
    declared = meta.get("template_id", path.stem)
    if declared != path.stem:
        raise TemplateError(
            path,
            f"{METADATA_KEY}.template_id {declared!r} differs from the file name "
            f"(rename the file to {declared}{TEMPLATE_SUFFIX} or fix the id)",
        )
    kind = meta.get("kind", TemplateKind.image)
    if kind not in tuple(k.value for k in TemplateKind):
        known = ", ".join(k.value for k in TemplateKind)
        raise TemplateError(path, f"{METADATA_KEY}.kind {kind!r} is unknown (known: {known})")
    if not TEMPLATE_ID.match(path.stem):
        raise TemplateError(
            path,
            "a template id (its file name) uses letters, digits, '_', '-' or '.', starting with "
            "a letter or digit",
        )
    for key in ("nodes", "defaults", "prompt_inputs"):
        value = meta.get(key)
        if value is not None and not isinstance(value, dict):
            raise TemplateError(path, f"{METADATA_KEY}.{key} must be an object")
    for key, value in (meta.get("defaults") or {}).items():
        wanted = DEFAULT_TYPES.get(key)
        if value is None or wanted is None:
            continue
        if isinstance(value, bool) or not isinstance(value, wanted[0]):
            raise TemplateError(
                path, f"{METADATA_KEY}.defaults.{key} must be {wanted[1]}, got {value!r}"
            )


def _check_references(path: Path, meta: Mapping[str, Any], graph: Mapping[str, Any]) -> None:
    """Second passes and prompt inputs name nodes and inputs the graph has."""
    passes = meta.get("second_passes") or []
    if not isinstance(passes, list):
        raise TemplateError(path, f"{METADATA_KEY}.second_passes must be a list of node ids")
    for node_id in passes:
        if str(node_id) not in graph:
            raise TemplateError(
                path, f"{METADATA_KEY}.second_passes names node {node_id}, not in the graph"
            )
    for role, slots in (meta.get("prompt_inputs") or {}).items():
        where = f"{METADATA_KEY}.prompt_inputs.{role}"
        if not isinstance(slots, list):
            raise TemplateError(path, f"{where} must be a list of [node, input] pairs")
        for slot in slots:
            if not (isinstance(slot, list) and len(slot) == 2):
                raise TemplateError(path, f"{where}: {slot!r} is not a [node, input] pair")
            node = graph.get(str(slot[0]))
            if node is None or not isinstance((node.get("inputs") or {}).get(slot[1]), str):
                raise TemplateError(path, f"{where}: node {slot[0]} has no text input {slot[1]!r}")


def _roles(
    path: Path, meta: Mapping[str, Any], graph: Mapping[str, Any]
) -> dict[str, tuple[str, str]]:
    roles: dict[str, tuple[str, str]] = {}
    for role, node_id in (meta.get("nodes") or {}).items():
        if node_id is None:
            continue
        if isinstance(node_id, bool) or not isinstance(node_id, str | int):
            raise TemplateError(
                path, f"{METADATA_KEY}.nodes.{role} must be a node id, got {node_id!r}"
            )
        if str(node_id) not in graph:
            raise TemplateError(
                path, f"{METADATA_KEY}.nodes.{role} names node {node_id}, which is not in the graph"
            )
        roles[role] = (str(node_id), graph[str(node_id)]["class_type"])
    return roles


def template_files(workflows_dir: Path) -> list[Path]:
    """The candidate template files: `*.json`, without hidden and temporary files."""
    d = Path(workflows_dir)
    if not d.is_dir():
        return []
    return sorted(p for p in d.glob(f"*{TEMPLATE_SUFFIX}") if not p.name.startswith("."))


def scan_templates(workflows_dir: Path) -> TemplateRegistry:
    """Every file in `workflows_dir`, each either a template or a broken file with its reason;
    one bad file never hides the others."""
    d = Path(workflows_dir)
    good: dict[str, Template] = {}
    broken: dict[str, BrokenTemplate] = {}
    for path in template_files(d):
        try:
            good[path.stem] = load_template(path)
        except TemplateError as exc:
            broken[path.stem] = BrokenTemplate(path.stem, path, exc.reason, _declared_id(path))
    return TemplateRegistry(d, good, broken)


def _declared_id(path: Path) -> str | None:
    # Best effort, for the message of a job naming the id the file declares.
    try:
        meta = json.loads(path.read_bytes()).get(METADATA_KEY)
        declared = meta.get("template_id")
    except (OSError, ValueError, AttributeError):
        return None
    return declared if isinstance(declared, str) and declared != path.stem else None


def load_templates(workflows_dir: Path) -> dict[str, Template]:
    """The good templates in `workflows_dir`, keyed by template id (broken files left out;
    `scan_templates` says why)."""
    return dict(scan_templates(workflows_dir).templates)


@lru_cache(maxsize=16)
def _cached(workflows_dir: Path, stamp: tuple[tuple[str, int, int], ...]) -> TemplateRegistry:
    return scan_templates(workflows_dir)


def template_registry(workflows_dir: Path) -> TemplateRegistry:
    """`scan_templates`, cached until a file in the folder changes (sensors call it each tick)."""
    d = Path(workflows_dir).resolve()
    stamp = []
    for p in template_files(d):
        try:
            st = p.stat()
        except OSError:
            continue  # removed while we looked: the scan will not see it either
        stamp.append((p.name, st.st_mtime_ns, st.st_size))
    return _cached(d, tuple(stamp))


WORKFLOWS_DIR_ENV = "NIGHTRUN_WORKFLOWS_DIR"


def default_workflows_dir() -> Path:
    """The workflows folder when none is given: `$NIGHTRUN_WORKFLOWS_DIR` when set (a team keeps
    its own templates outside the project), else the project's `workflows/`. Read at call time,
    so the demo and Dagster code locations started with the variable see it."""
    import os  # kept local: this one function is all of the registry that reads the environment

    value = os.environ.get(WORKFLOWS_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else DEFAULT_WORKFLOWS_DIR
