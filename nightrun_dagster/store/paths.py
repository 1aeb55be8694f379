"""Where everything lives under `$NIGHTRUN_ROOT` (the seed's §6 layout)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("marketing/night-runs")


def default_root() -> Path:
    return Path(os.environ.get("NIGHTRUN_ROOT") or DEFAULT_ROOT)


def volume_of(path: Path) -> Path:
    """The nearest existing folder at or above `path`: whose disk its files will land on."""
    return next((p for p in (path, *path.parents) if p.exists()), Path("/"))


@dataclass(frozen=True)
class Tree:
    """The artifact tree rooted at `root`."""

    root: Path

    @property
    def queue(self) -> Path:
        return self.root / "queue"

    @property
    def rejected(self) -> Path:
        return self.queue / "rejected"

    @property
    def assets(self) -> Path:
        return self.root / "assets"

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


@dataclass(frozen=True)
class NightDir:
    """`runs/<night>/`: the night's own records, next to its job folders."""

    path: Path

    @property
    def night_plan(self) -> Path:
        return self.path / "night_plan.json"

    @property
    def warmup(self) -> Path:
        """What the 22:45 warm-up found (see store.night_records)."""
        return self.path / "warmup.json"

    @property
    def night_summary(self) -> Path:
        """The night at a glance, written by the cool-down (see store.night_records)."""
        return self.path / "night_summary.json"

    @property
    def night_closed(self) -> Path:
        """The 08:00 record of how the night ended (see store.night_records)."""
        return self.path / "night_closed.json"


@dataclass(frozen=True)
class JobDir:
    """`runs/<night>/job_<key>/`."""

    path: Path

    @property
    def inputs(self) -> Path:
        return self.path / "inputs"

    @property
    def job_snapshot(self) -> Path:
        return self.inputs / "job.json"

    @property
    def inputs_manifest(self) -> Path:
        return self.inputs / "manifest.json"

    @property
    def variants(self) -> Path:
        return self.path / "variants"

    @property
    def variants_index(self) -> Path:
        return self.variants / "index.json"

    def variant(self, variant_id: str) -> Path:
        return self.variants / variant_id

    def params(self, variant_id: str) -> Path:
        return self.variant(variant_id) / "meta" / "params.json"

    def meta(self, variant_id: str) -> Path:
        return self.variant(variant_id) / "meta"

    def out(self, variant_id: str) -> Path:
        return self.variant(variant_id) / "out"

    @property
    def blocked(self) -> Path:
        """Present while the job cannot render (missing model or node); says which."""
        return self.path / "blocked.json"

    @property
    def window_closed(self) -> Path:
        """Written when the render loop stopped at its window's end: what was left."""
        return self.path / "window_closed.json"

    @property
    def breaker(self) -> Path:
        """Written when a circuit breaker stopped this job's render loop."""
        return self.path / "breaker.json"

    @property
    def selection(self) -> Path:
        return self.path / "selection"

    @property
    def shortlisted(self) -> Path:
        """The shortlist: the picks sent for review (see store.selection_docs)."""
        return self.selection / "shortlisted.json"

    @property
    def approved(self) -> Path:
        """The decisions folded into a state per pick and the approval log."""
        return self.selection / "approved.json"

    @property
    def publish(self) -> Path:
        return self.path / "publish"
