"""Where everything lives under `$NIGHTRUN_ROOT` (the seed's §6 layout)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

DEFAULT_ROOT = Path("marketing/night-runs")


def default_root() -> Path:
    return Path(os.environ.get("NIGHTRUN_ROOT") or DEFAULT_ROOT)


def volume_of(path: Path) -> Path:
    """The nearest existing folder at or above `path`: whose disk its files will land on."""
    return next((p for p in (path, *path.parents) if p.exists()), Path("/"))


class _At:
    """A file or folder at a fixed place under a tree folder's `path`: every name of the tree
    is spelled once, here."""

    def __init__(self, *parts: str, doc: str | None = None) -> None:
        self.parts = parts
        self.__doc__ = doc

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _At: ...
    @overload
    def __get__(self, obj: object, owner: type[Any] | None = None) -> Path: ...
    def __get__(self, obj: object | None, owner: type[Any] | None = None) -> Path | _At:
        if obj is None:
            return self
        return Path(obj.path).joinpath(*self.parts)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Tree:
    """The artifact tree rooted at `root`."""

    root: Path

    @property
    def path(self) -> Path:
        return self.root

    queue = _At("queue")
    rejected = _At("queue", "rejected")
    assets = _At("assets")
    ocr_cache = _At("cache", "ocr", doc="OCR results by image hash (scoring.ocr_cache).")
    library = _At("library", doc="The recipe library (learning.recipes), newest week's copy.")
    breaker_latch = _At(
        "ops", "breaker_latch.json", doc="The latched circuit breaker (store.ops_docs)."
    )
    breaker_history = _At("ops", "breaker_history.jsonl", doc="Every latch cleared, one a line.")
    retention_reports = _At("ops", "retention", doc="One retention report per day.")
    cost_model = _At(
        "costs",
        "cost_model.json",
        doc="Seconds per render, fitted from past nights (store.cost_docs).",
    )

    def retention_report(self, day: str) -> Path:
        return self.retention_reports / f"{day}.json"

    def night(self, night: str) -> Path:
        return self.root / "runs" / night

    def night_dir(self, night: str) -> NightDir:
        return NightDir(self.night(night))

    def night_plan(self, night: str) -> Path:
        return self.night_dir(night).night_plan

    def night_closed(self, night: str) -> Path:
        return self.night_dir(night).night_closed

    def job(self, night: str, job_key: str) -> JobDir:
        return JobDir(self.night(night) / f"job_{job_key}")


def as_night_dir(where: NightDir | Path) -> NightDir:
    return where if isinstance(where, NightDir) else NightDir(Path(where))


def as_job_dir(where: JobDir | Path) -> JobDir:
    return where if isinstance(where, JobDir) else JobDir(Path(where))


def as_variant_dir(where: VariantDir | Path) -> VariantDir:
    return where if isinstance(where, VariantDir) else VariantDir(Path(where))


@dataclass(frozen=True)
class NightDir:
    """`runs/<night>/`: the night's own records, next to its job folders."""

    path: Path

    night_plan = _At("night_plan.json")
    warmup = _At("warmup.json", doc="What the 22:45 warm-up found (see store.night_records).")
    night_summary = _At("night_summary.json", doc="The night at a glance, from the cool-down.")
    night_closed = _At("night_closed.json", doc="The 08:00 record of how the night ended.")
    cleanup = _At("cleanup.json", doc="The temp files the cool-down removed.")
    gpu_turn = _At("gpu_turn.json", doc="Which job's render run submits to the GPU now.")
    gpu_turn_lock = _At("gpu_turn.lock", doc="Held while gpu_turn.json is read and changed.")


@dataclass(frozen=True)
class VariantDir:
    """`job_<key>/variants/vNNNN/`: one variant's outputs and sidecars."""

    path: Path

    meta = _At("meta")
    out = _At("out")
    params = _At(
        "meta", "params.json", doc="The plan, then the render record (store.variant_docs)."
    )
    prompt = _At("meta", "prompt.json", doc="The exact graph sent to ComfyUI.")
    submitted = _At("meta", "submitted.json", doc="The prompt id on the server, until rendered.")
    comfy_history = _At("meta", "comfy_history.json", doc="ComfyUI's raw history of the prompt.")
    score = _At("meta", "score.json")
    retention = _At("meta", "retention.json", doc="The outputs retention pruned on purpose.")

    @property
    def variant_id(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class JobDir:
    """`runs/<night>/job_<key>/`."""

    path: Path

    inputs = _At("inputs")
    job_snapshot = _At("inputs", "job.json")
    inputs_manifest = _At("inputs", "manifest.json")
    variants = _At("variants")
    variants_index = _At("variants", "index.json")
    blocked = _At("blocked.json", doc="Present while the job cannot render; says which.")
    window_closed = _At("window_closed.json", doc="The render loop stopped at its window's end.")
    breaker = _At("breaker.json", doc="A circuit breaker stopped this job's render loop.")
    selection = _At("selection")
    shortlisted = _At("selection", "shortlisted.json", doc="The picks sent for review.")
    approved = _At("selection", "approved.json", doc="The decisions folded into a state per pick.")
    publish = _At("publish")

    def variant(self, variant_id: str) -> Path:
        return self.variants / variant_id

    def variant_dir(self, variant_id: str) -> VariantDir:
        return VariantDir(self.variant(variant_id))

    def params(self, variant_id: str) -> Path:
        return self.variant_dir(variant_id).params

    def meta(self, variant_id: str) -> Path:
        return self.variant_dir(variant_id).meta

    def out(self, variant_id: str) -> Path:
        return self.variant_dir(variant_id).out
