"""Retention (Sunday maintenance and on demand): prune old renders to each job's top K, archive
what was approved or published, sweep a night's temp files. Metadata is never touched."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from nightrun_dagster.selection.approvals import APPROVING
from nightrun_dagster.store.atomic import atomic_copy
from nightrun_dagster.store.hashing import sha256_file
from nightrun_dagster.store.ops_docs import (
    RetentionDay,
    try_read_retention_day,
    write_retention_day,
)
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.publish_docs import try_read_package_manifest
from nightrun_dagster.store.selection_docs import try_read_approvals, try_read_shortlist
from nightrun_dagster.store.variant_docs import (
    PrunedFile,
    RenderStatus,
    RetentionMarker,
    try_read_params,
    try_read_retention_marker,
    try_read_score,
    write_retention_marker,
)
from nightrun_dagster.telegram import ledger

REPORT_VERSION = 1
DEFAULT_KEEP_TOP_K = 20
DEFAULT_KEEP_DAYS = 7
NIGHT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Temp names our writers use: atomic writes `.<name>.<pid>.tmp`, harvest `.<name>.tmp`, client
# downloads `.<name>.download`, publish staging `.<variant>.tmp-<hex8>` / `.<variant>.old-<hex8>`.
TEMP_RE = re.compile(r"^\..+(\.tmp|\.download|\.(tmp|old)-[0-9a-f]{8})$")


class RetentionError(Exception):
    """Retention refused or failed; nothing after the failing step was deleted."""


class ArchiveMismatch(RetentionError):
    """An archived copy does not hash like its source (the source is then kept, of course)."""


class UnsafePath(RetentionError):
    """A path in a plan is not a render output of an old night under the plan's root."""


@dataclass
class JobRetention:
    """What retention does to one job of one night."""

    night: str
    job_key: str
    rendered: int = 0
    kept_top: list[str] = field(default_factory=list)
    # variant id -> why its outputs stay whatever its rank: approved, published, shortlisted
    protected: dict[str, list[str]] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)  # variants losing at least one output file
    files: int = 0
    bytes: int = 0
    kept_files: int = 0
    archive: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "night": self.night,
            "job_key": self.job_key,
            "rendered": self.rendered,
            "kept_top": self.kept_top,
            "protected": self.protected,
            "pruned": self.pruned,
            "files": self.files,
            "bytes": self.bytes,
            "kept_files": self.kept_files,
            "archive": self.archive,
        }


@dataclass
class RetentionPlan:
    """Files to delete and copies to make; computed without changing anything."""

    root: Path
    today: date
    keep_top_k: int
    keep_days: int
    nights: list[str] = field(default_factory=list)  # nights old enough to prune
    delete: list[Path] = field(default_factory=list)
    archive: list[tuple[Path, Path]] = field(default_factory=list)
    kept: int = 0  # output files of old nights that stay in place
    bytes_freed: int = 0
    jobs: list[JobRetention] = field(default_factory=list)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "today": self.today.isoformat(),
            "keep_top_k": self.keep_top_k,
            "keep_days": self.keep_days,
            "nights": self.nights,
            "delete": [self.rel(p) for p in self.delete],
            "archive": [[self.rel(s), self.rel(d)] for s, d in self.archive],
            "kept": self.kept,
            "bytes_freed": self.bytes_freed,
            "jobs": [j.to_json() for j in self.jobs],
        }


@dataclass
class RetentionReport:
    """What `apply_retention` did (or, in a dry run, would do)."""

    plan: RetentionPlan
    dry_run: bool
    deleted: list[Path] = field(default_factory=list)
    archived: list[tuple[Path, Path]] = field(default_factory=list)
    bytes_freed: int = 0
    markers: int = 0  # variants whose meta/retention.json was written
    report_path: Path | None = None
    finished_at: str = ""

    def to_json(self) -> dict[str, Any]:
        rel = self.plan.rel
        return {
            "report_version": REPORT_VERSION,
            "dry_run": self.dry_run,
            "finished_at": self.finished_at,
            "deleted": [rel(p) for p in self.deleted],
            "archived": [[rel(s), rel(d)] for s, d in self.archived],
            "bytes_freed": self.bytes_freed,
            "markers": self.markers,
            "plan": self.plan.to_json(),
        }


def _files(folder: Path) -> list[Path]:
    """Plain files (symlinks too, never followed) directly or deeper under `folder`."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_symlink() or p.is_file())


def _approved(job_dir: JobDir) -> set[str]:
    """Variants an approval refers to: any approve/favorite line in the ledger, or the folded
    `selection/approved.json` (a ledger line may predate the fold, and the other way round)."""
    ids = {
        str(d["variant_id"])
        for d in ledger.read(job_dir.path)
        if d.get("decision") in APPROVING and d.get("variant_id")
    }
    doc = try_read_approvals(job_dir)
    ids.update(e.variant_id for e in (doc.approved if doc else []) if e.variant_id)
    return ids


def _published(job_dir: JobDir) -> dict[str, Path]:
    """Variant id -> its `publish/<variant>/` folder, for every package (its manifest names the
    variant; a folder without a readable manifest still protects the variant it is named after)."""
    found: dict[str, Path] = {}
    if not job_dir.publish.is_dir():
        return found
    for folder in sorted(job_dir.publish.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue  # dot-folders are publish staging leftovers, swept as temp files
        manifest = try_read_package_manifest(folder)
        vid = manifest.variant_id if manifest else None
        found[str(vid or folder.name)] = folder
    return found


def _shortlisted(job_dir: JobDir) -> set[str]:
    # A pick may still be approved after its buttons expire (`nightrun approve` has no expiry);
    # its package needs the original, so the shortlist's picks are never pruned either.
    doc = try_read_shortlist(job_dir)
    return {vid for vid in (doc.pick_ids() if doc else []) if vid}


def _score_total(variant: Path) -> float | None:
    doc = try_read_score(variant)
    total = doc.total if doc else None
    if total is None or total != total:
        return None
    return total


def _rendered_ok(variant: Path) -> bool:
    params = try_read_params(variant)
    return params is not None and params.status is RenderStatus.OK


def rank(variants: Iterable[tuple[str, float | None]]) -> list[str]:
    """Best total first; unscored variants last; ties by variant id."""
    return [vid for vid, _ in sorted(variants, key=lambda v: (v[1] is None, -(v[1] or 0.0), v[0]))]


def _archived(src: Path, dst: Path) -> bool:
    """True when `dst` is a copy made since `src` last changed. Each copy was verified by sha256
    when made; old nights' files never change, so the weekly run need not hash them again."""
    try:
        s, d = src.stat(), dst.stat()
    except OSError:
        return False
    return s.st_size == d.st_size and d.st_mtime_ns >= s.st_mtime_ns


def _plan_job(plan: RetentionPlan, night: str, job_dir: JobDir) -> JobRetention:
    job = JobRetention(night=night, job_key=job_dir.path.name.removeprefix("job_"))
    variants = (
        sorted(p for p in job_dir.variants.iterdir() if p.is_dir() and not p.name.startswith("."))
        if job_dir.variants.is_dir()
        else []
    )
    rendered = [(v.name, _score_total(v)) for v in variants if _rendered_ok(v)]
    job.rendered = len(rendered)
    job.kept_top = rank(rendered)[: plan.keep_top_k]
    approved, published = _approved(job_dir), _published(job_dir)
    for vid in sorted(approved | set(published) | _shortlisted(job_dir)):
        held = (("approved", vid in approved), ("published", vid in published))
        job.protected[vid] = [reason for reason, yes in held if yes] or ["shortlisted"]
    archive_root = plan.root / "archive" / night / job_dir.path.name
    keep = set(job.kept_top) | set(job.protected)
    for variant in variants:
        outputs = _files(variant / "out")
        if variant.name in keep:
            job.kept_files += len(outputs)
        else:
            for path in outputs:
                job.files += 1
                job.bytes += path.lstat().st_size
                plan.delete.append(path)
            if outputs:
                job.pruned.append(variant.name)
        if {"approved", "published"} & set(job.protected.get(variant.name, [])):
            sources = [(p, p.relative_to(variant)) for p in outputs if not p.name.startswith(".")]
            package = published.get(variant.name)
            if package is not None:
                sources += [(p, Path("publish") / p.relative_to(package)) for p in _files(package)]
            for src, rel in sources:
                dst = archive_root / variant.name / rel
                if not _archived(src, dst):
                    plan.archive.append((src, dst))
                    job.archive += 1
    plan.kept += job.kept_files
    plan.bytes_freed += job.bytes
    return job


def plan_retention(
    root: Path,
    today: date,
    keep_top_k: int = DEFAULT_KEEP_TOP_K,
    keep_days: int = DEFAULT_KEEP_DAYS,
) -> RetentionPlan:
    """What retention would do on `today`: for every night older than `keep_days` (night date
    before today - keep_days), each job keeps the outputs of its `keep_top_k` best-scored
    rendered variants and of every variant that is approved, published or shortlisted; every
    other file under `variants/*/out/` goes. Approved and published outputs (and their package)
    are also copied to `archive/<night>/job_<key>/<variant>/`. Nothing is changed here."""
    if keep_top_k < 0 or keep_days < 0:
        raise ValueError(f"keep_top_k and keep_days must be ≥ 0 (got {keep_top_k}, {keep_days})")
    tree = Tree(Path(root).absolute())
    plan = RetentionPlan(root=tree.root, today=today, keep_top_k=keep_top_k, keep_days=keep_days)
    cutoff = today - timedelta(days=keep_days)
    runs = tree.root / "runs"
    nights = sorted(p.name for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    for night in nights:
        day = _night_date(night)
        if day is None or day >= cutoff:
            continue
        plan.nights.append(night)
        for job_path in sorted(tree.night(night).glob("job_*")):
            if job_path.is_dir():
                plan.jobs.append(_plan_job(plan, night, JobDir(job_path)))
    return plan


def _night_date(name: str) -> date | None:
    """The date a `runs/` folder is named after, or None for anything else in there."""
    if not NIGHT_RE.match(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def _check_deletable(plan: RetentionPlan, path: Path) -> tuple[Path, str]:
    """(variant folder, path relative to it) of a render output of an old night, or raise."""
    try:
        parts = path.relative_to(plan.root / "runs").parts
    except ValueError:
        raise UnsafePath(f"{path} is not under {plan.root / 'runs'}") from None
    # <night>/job_<key>/variants/<vid>/out/<file…>
    if (
        len(parts) < 6
        or parts[0] not in plan.nights
        or not parts[1].startswith("job_")
        or parts[2] != "variants"
        or parts[4] != "out"
        or ".." in parts
    ):
        raise UnsafePath(f"{path} is not a render output of a night older than the cutoff")
    variant = plan.root / "runs" / Path(*parts[:4])
    return variant, Path(*parts[4:]).as_posix()


def _archive(src: Path, dst: Path) -> None:
    expected = sha256_file(src)
    atomic_copy(src, dst)
    if sha256_file(dst) != expected:
        dst.unlink(missing_ok=True)
        raise ArchiveMismatch(f"archived copy of {src} does not match it (sha256); nothing deleted")


def _mark_pruned(variant: Path, removed: dict[str, int], policy: dict[str, Any]) -> None:
    """Record in `meta/retention.json`, before the files go, which outputs retention removes:
    `is_complete` then still knows the variant rendered, and nothing renders it again."""
    doc = try_read_retention_marker(variant)
    files = dict(doc.files) if doc else {}
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    new = {rel: PrunedFile(bytes=size, pruned_at=stamp) for rel, size in removed.items()}
    if all(rel in files for rel in new):
        return
    write_retention_marker(
        variant,
        RetentionMarker(retention_version=REPORT_VERSION, policy=policy, files={**new, **files}),
    )


def _write_report(report: RetentionReport) -> Path:
    """Append this run to `ops/retention/<today>.json` (one file per day, every run in it)."""
    tree, day = Tree(report.plan.root), report.plan.today.isoformat()
    doc = try_read_retention_day(tree, day)
    runs = doc.runs if doc else []
    report.report_path = write_retention_day(
        tree, RetentionDay(date=day, runs=[*runs, report.to_json()])
    )
    return report.report_path


def apply_retention(plan: RetentionPlan, dry_run: bool) -> RetentionReport:
    """Carry out `plan`. A dry run changes nothing (no archive, no marker, no report file) and
    returns what would happen. Otherwise archive first (each copy verified by sha256), then per
    variant record `meta/retention.json` and delete; the report is appended to
    `<root>/ops/retention/<today>.json`. Running it again deletes nothing more."""
    report = RetentionReport(plan=plan, dry_run=dry_run)
    by_variant: dict[Path, list[tuple[Path, str]]] = {}
    for path in plan.delete:
        variant, rel = _check_deletable(plan, path)  # every path checked before anything changes
        by_variant.setdefault(variant, []).append((path, rel))
    if dry_run:
        report.deleted = list(plan.delete)
        report.archived = list(plan.archive)
        report.bytes_freed = plan.bytes_freed
        report.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        return report
    for src, dst in plan.archive:
        if src.is_file() and not _archived(src, dst):
            _archive(src, dst)
            report.archived.append((src, dst))
    policy = {"keep_top_k": plan.keep_top_k, "keep_days": plan.keep_days}
    for variant, items in by_variant.items():
        present = {
            rel: path.lstat().st_size for path, rel in items if path.is_symlink() or path.exists()
        }
        outputs = {rel: size for rel, size in present.items() if not Path(rel).name.startswith(".")}
        if outputs:
            _mark_pruned(variant, outputs, policy)
            report.markers += 1
        for path, rel in items:
            if rel in present:
                path.unlink(missing_ok=True)
                report.deleted.append(path)
                report.bytes_freed += present[rel]
    report.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    _write_report(report)
    return report


def _is_temp(path: Path, night_dir: Path) -> bool:
    if TEMP_RE.match(path.name):
        return True
    # In `job_<key>/variants/<vid>/out/` every dot-file is a partial download (as
    # clear_partial_downloads has it).
    rel = path.relative_to(night_dir).parts
    return (
        path.name.startswith(".")
        and len(rel) == 5
        and rel[0].startswith("job_")
        and rel[1] == "variants"
        and rel[3] == "out"
    )


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for sub in path.rglob("*"):
            newest = max(newest, sub.lstat().st_mtime)
    return newest


def sweep_temp(
    night_dir: Path, older_than_s: float = 600, *, now: float | None = None
) -> list[Path]:
    """Remove the temp files and staging folders writers left under `night_dir` (a killed run's
    atomic-write siblings, partial downloads, publish staging) untouched for `older_than_s`
    seconds; younger ones may belong to a writer still at work. Returns what was removed."""
    now = time.time() if now is None else now
    night_dir = Path(night_dir)
    removed: list[Path] = []
    if not night_dir.is_dir():
        return removed
    for folder, dirs, files in os.walk(night_dir):
        here = Path(folder)
        for name in [*dirs, *files]:
            path = here / name
            if not _is_temp(path, night_dir):
                continue
            try:
                if now - _newest_mtime(path) < older_than_s:
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except FileNotFoundError:
                continue  # its writer finished (renamed it) meanwhile
            removed.append(path)
        # Never walk into what was just removed (or into a temp folder kept for being young).
        dirs[:] = [d for d in dirs if not _is_temp(here / d, night_dir)]
    return sorted(removed)


def retain(
    root: Path, today: date, keep_top_k: int, keep_days: int, *, dry_run: bool
) -> RetentionReport:
    """Plan retention for `today` and carry it out (or, with `dry_run`, say what it would do):
    what `nightrun clean` and the maintenance asset each run."""
    return apply_retention(plan_retention(root, today, keep_top_k, keep_days), dry_run=dry_run)
