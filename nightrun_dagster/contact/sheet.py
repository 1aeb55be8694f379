"""Contact sheets: a self-contained HTML page per job and per night, written into the run folder.
This module gathers what a page shows; templates/ holds its markup, stylesheet and script."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nightrun_dagster.contact.page import embed_json, render
from nightrun_dagster.contact.rows import (
    COMPONENTS,
    collect_rows,
    summarize,
    variant_ids,
)
from nightrun_dagster.night.closing import cut_short_line, job_cut_short
from nightrun_dagster.store.atomic import atomic_write_bytes
from nightrun_dagster.store.night_plan import try_read_night_plan
from nightrun_dagster.store.night_records import try_read_blocked, try_read_night_summary
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.variant_docs import try_read_params
from nightrun_dagster.store.variants_index import VariantsIndex, try_read_variants_index

__all__ = [
    "SHEET_NAME",
    "collect_rows",
    "embed_json",
    "job_sheet_html",
    "night_sheet_html",
    "variant_ids",
    "write_job_sheet",
    "write_night_sheet",
]

SHEET_NAME = "contact_sheet.html"

COMPONENT_LABELS = {
    "sharpness": "sharpness",
    "text": "text",
    "brand_color": "brand colour",
    "ui_integrity": "UI integrity",
    "artifacts": "artifacts",
    "temporal": "temporal",
}
STATUS_LABELS = {
    "scored": "scored",
    "unscored": "unscored",
    "pending": "not rendered",
    "failed": "failed",
    "missing": "missing",
}


def _job_key(job_dir: Path) -> str:
    name = job_dir.name
    return name[4:] if name.startswith("job_") else name


def _job_info(
    job_dir: Path, rows: list[dict[str, Any]], planned_id: str | None = None
) -> dict[str, Any]:
    index = try_read_variants_index(job_dir) or VariantsIndex(variants=[])
    blocked = try_read_blocked(job_dir)
    job_id = index.job_id or planned_id
    if not isinstance(job_id, str):
        params = try_read_params(JobDir(job_dir).variant_dir(rows[0]["id"])) if rows else None
        job_id = (params.job_id if params else None) or _job_key(job_dir)
    return {
        "key": _job_key(job_dir),
        "job_id": str(job_id),
        "night": index.night or job_dir.parent.name,
        "mode": index.mode,
        "cap": index.cap,
        "sweep_size": index.sweep_size,
        "selection": index.selection,
        "blocked": (blocked.reason or "blocked") if blocked else None,
        "summary": summarize(rows),
    }


def _tag_rows(rows: list[dict[str, Any]], info: dict[str, Any], order: int) -> None:
    for row in rows:
        row["job"] = info["key"]
        row["job_id"] = info["job_id"]
        row["job_order"] = order


def _lora_sort_key(tag: str) -> tuple[str, float]:
    name, _, weight = tag.rpartition("@")
    try:
        return name, float(weight)
    except ValueError:
        return name, 0.0


def _toolbar(rows: list[dict[str, Any]], jobs: list[dict[str, Any]], night: bool) -> dict[str, Any]:
    """The toolbar's menus as (value, label) pairs; `jobs` (the job menu, and grouping by job)
    only on the night page."""
    present = {name for r in rows for name in r["components"]}
    components = [c for c in COMPONENTS if c in present or c != "temporal"]
    components += sorted(present - set(components))
    sort = [("total", "total score")]
    sort += [(c, COMPONENT_LABELS.get(c, c)) for c in components]
    sort += [("id", "variant id"), ("seed", "seed")]
    loras = sorted({t for r in rows for t in r["lora_tags"]}, key=_lora_sort_key)
    return {
        "sort": sort,
        "jobs": [(j["key"], j["job_id"]) for j in jobs] if night else None,
        "templates": [(t, t) for t in sorted({r["template"] for r in rows})],
        "loras": [(t, t) for t in loras],
        "statuses": [
            (s, STATUS_LABELS[s]) for s in STATUS_LABELS if any(r["status"] == s for r in rows)
        ],
        "count": len(rows),
    }


def _page(template: str, **context: Any) -> str:
    return render(template, status_labels=STATUS_LABELS, **context)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def job_sheet_html(job_dir: Path, *, link_night: bool = True) -> str:
    """The job page for `runs/<night>/job_<key>/` (URLs relative to that folder)."""
    rows = collect_rows(job_dir)
    info = _job_info(job_dir, rows)
    _tag_rows(rows, info, 0)
    plan = [f"night {info['night']}"]
    if info["mode"]:
        plan.append(str(info["mode"]))
    if info["cap"] is not None:
        plan.append(f"cap {info['cap']}")
    if info["sweep_size"] is not None:
        plan.append(f"sweep {info['sweep_size']}")
    if info["selection"]:
        plan.append(str(info["selection"]))
    job = {k: info[k] for k in ("key", "job_id", "blocked", "summary")} | {"href": None}
    return _page(
        "job.html.j2",
        job=job,
        plan=plan,
        cut_short=job_cut_short(JobDir(job_dir)),
        night_link=f"../{SHEET_NAME}" if link_night else None,
        written=_stamp(),
        toolbar=_toolbar(rows, [job], night=False),
        data={"kind": "job", "night": info["night"], "jobs": [job], "rows": rows},
    )


def write_job_sheet(job_dir: Path) -> Path:
    """Write `job_dir/contact_sheet.html` atomically and return its path."""
    night_page = job_dir.parent / SHEET_NAME
    path = job_dir / SHEET_NAME
    atomic_write_bytes(path, job_sheet_html(job_dir, link_night=night_page.exists()).encode())
    return path


_KEY = re.compile(r"[a-z0-9_-]{1,64}")


def job_dirs(night_dir: Path) -> list[Path]:
    """The night's jobs: every job of `night_plan.json` in its order (by priority), whether or
    not its folder exists yet, then any other `job_*` folder, by name."""
    found = {p.name: p for p in night_dir.glob("job_*") if p.is_dir()}
    plan = try_read_night_plan(night_dir)
    ordered: list[Path] = []
    for job in plan.jobs if plan else []:
        # A plan is read from disk: only a real job key may become a path.
        if _KEY.fullmatch(job.key):
            ordered.append(found.pop(f"job_{job.key}", night_dir / f"job_{job.key}"))
    return ordered + [found[n] for n in sorted(found)]


def _planned_ids(night_dir: Path) -> dict[str, str]:
    plan = try_read_night_plan(night_dir)
    return {j.key: j.job_id for j in plan.jobs if j.job_id} if plan else {}


def _night_cut_short(night_dir: Path) -> str | None:
    """From `night_summary.json` (the cool-down writes it just before the sheet)."""
    summary = try_read_night_summary(night_dir)
    record = summary.cut_short if summary else None
    if not record:
        return None
    try:
        return cut_short_line(record)
    except KeyError:
        return None


def night_sheet_html(night_dir: Path) -> str:
    """The night page for `runs/<night>/`: every job's summary, a link to its page, its cards."""
    rows: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    planned = _planned_ids(night_dir)
    for order, job_dir in enumerate(job_dirs(night_dir)):
        href = quote(f"{job_dir.name}/")
        job_rows = collect_rows(job_dir, href_prefix=href)
        info = _job_info(job_dir, job_rows, planned.get(_job_key(job_dir)))
        _tag_rows(job_rows, info, order)
        rows += job_rows
        job = {k: info[k] for k in ("key", "job_id", "blocked", "summary")}
        # A planned job whose folder is not there yet has no page to link to.
        jobs.append(job | {"href": f"{href}{SHEET_NAME}" if job_dir.is_dir() else None})
    plan = try_read_night_plan(night_dir)
    night = (plan.night if plan else None) or night_dir.name
    sub = [f"{len(jobs)} jobs"]
    if plan and plan.mode:
        sub.append(plan.mode)
    if plan and plan.total_budget is not None:
        most = "?" if plan.max_renders is None else plan.max_renders
        sub.append(f"{plan.total_budget} renders planned of {most}")
    return _page(
        "night.html.j2",
        sub=sub,
        written=_stamp(),
        cut_short=_night_cut_short(night_dir),
        summary=summarize(rows),
        toolbar=_toolbar(rows, jobs, night=True),
        data={"kind": "night", "night": night, "jobs": jobs, "rows": rows},
    )


def write_night_sheet(night_dir: Path, *, job_sheets: bool = True) -> Path:
    """Write `night_dir/contact_sheet.html` atomically and return its path. With `job_sheets`
    (the default) every job's own sheet is written first, so the night page's links all work
    and each job page links back to the night."""
    path = night_dir / SHEET_NAME
    html = night_sheet_html(night_dir)
    if job_sheets:
        for job_dir in (d for d in job_dirs(night_dir) if d.is_dir()):
            page = job_sheet_html(job_dir, link_night=True)
            atomic_write_bytes(job_dir / SHEET_NAME, page.encode())
    atomic_write_bytes(path, html.encode())
    return path
