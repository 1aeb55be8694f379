"""Contact sheets: a self-contained HTML page per job and per night, written into the run folder."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nightrun_dagster.contact.rows import (
    COMPONENTS,
    collect_rows,
    summarize,
    variant_ids,
)
from nightrun_dagster.contact.static import CSS, JS
from nightrun_dagster.ops.closing import cut_short_line, job_cut_short
from nightrun_dagster.store.atomic import atomic_write_bytes
from nightrun_dagster.store.paths import JobDir

__all__ = [
    "SHEET_NAME",
    "collect_rows",
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


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# Only our own inline script and stylesheet may run (their hashes), so markup smuggled in
# through job text could not execute even if it escaped escaping; media load only from file:,
# and nothing may be fetched over the network.
CSP = "; ".join(
    [
        "default-src 'none'",
        "img-src file: data:",
        "media-src file:",
        f"style-src {_csp_hash(CSS)}",
        f"script-src {_csp_hash(JS)}",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)


def embed_json(payload: Any) -> str:
    """JSON safe inside `<script type="application/json">`: `<`, `>` and `&` become \\u escapes,
    so no `</script>` or `<!--` in job text can end the block or start markup."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _job_key(job_dir: Path) -> str:
    name = job_dir.name
    return name[4:] if name.startswith("job_") else name


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _job_info(
    job_dir: Path, rows: list[dict[str, Any]], planned_id: str | None = None
) -> dict[str, Any]:
    index = _read(job_dir / "variants" / "index.json")
    index = index if isinstance(index, dict) else {}
    blocked = _read(job_dir / "blocked.json")
    job_id = index.get("job_id") or planned_id
    if not isinstance(job_id, str):
        params = (
            _read(job_dir / "variants" / rows[0]["id"] / "meta" / "params.json") if rows else {}
        )
        job_id = (params if isinstance(params, dict) else {}).get("job_id") or _job_key(job_dir)
    return {
        "key": _job_key(job_dir),
        "job_id": str(job_id),
        "night": str(index.get("night") or job_dir.parent.name),
        "mode": index.get("mode"),
        "cap": index.get("cap"),
        "sweep_size": index.get("sweep_size"),
        "selection": index.get("selection"),
        "blocked": (str(blocked.get("reason") or "blocked") if isinstance(blocked, dict) else None),
        "summary": summarize(rows),
    }


def _tag_rows(rows: list[dict[str, Any]], info: dict[str, Any], order: int) -> None:
    for row in rows:
        row["job"] = info["key"]
        row["job_id"] = info["job_id"]
        row["job_order"] = order


def _options(pairs: list[tuple[str, str]], selected: str = "") -> str:
    return "".join(
        f'<option value="{escape(v)}"{" selected" if v == selected else ""}>{escape(label)}'
        "</option>"
        for v, label in pairs
    )


def _lora_sort_key(tag: str) -> tuple[str, float]:
    name, _, weight = tag.rpartition("@")
    try:
        return name, float(weight)
    except ValueError:
        return name, 0.0


def _toolbar(rows: list[dict[str, Any]], jobs: list[dict[str, Any]], night: bool) -> str:
    present = {name for r in rows for name in r["components"]}
    components = [c for c in COMPONENTS if c in present or c != "temporal"]
    components += sorted(present - set(components))
    sort_opts = [("total", "total score")]
    sort_opts += [(c, COMPONENT_LABELS.get(c, c)) for c in components]
    sort_opts += [("id", "variant id"), ("seed", "seed")]
    templates = sorted({r["template"] for r in rows})
    loras = sorted({t for r in rows for t in r["lora_tags"]}, key=_lora_sort_key)
    statuses = [s for s in STATUS_LABELS if any(r["status"] == s for r in rows)]
    parts = [
        '<nav class="toolbar" aria-label="sort and filter">',
        f'<label>sort <select id="sort-key">{_options(sort_opts, "total")}</select></label>',
        '<select id="sort-dir" aria-label="sort direction">'
        f"{_options([('desc', 'descending'), ('asc', 'ascending')], 'desc')}</select>",
    ]
    if night:
        job_opts = [("", "all jobs")] + [(j["key"], j["job_id"]) for j in jobs]
        parts.append(f'<label>job <select id="f-job">{_options(job_opts)}</select></label>')
    parts += [
        '<label>template <select id="f-template">'
        f"{_options([('', 'all'), *((t, t) for t in templates)])}</select></label>",
        '<label>LoRA <select id="f-lora">'
        f"{_options([('', 'any'), ('none', 'none'), *((t, t) for t in loras)])}</select></label>",
        '<label>status <select id="f-status">'
        f"{_options([('', 'all'), *((s, STATUS_LABELS[s]) for s in statuses)])}</select></label>",
        '<label>score <input id="f-min" type="number" min="0" max="1" step="0.01" '
        'placeholder="min" aria-label="minimum total score"> – '
        '<input id="f-max" type="number" min="0" max="1" step="0.01" placeholder="max" '
        'aria-label="maximum total score"></label>',
        '<label><input id="f-short" type="checkbox"> shortlisted only</label>',
    ]
    if night:
        parts.append('<label><input id="f-group" type="checkbox" checked> group by job</label>')
    parts += [
        '<input id="f-search" type="search" placeholder="search prompts" '
        'aria-label="search prompts">',
        f'<span id="count" aria-live="polite">showing {len(rows)} of {len(rows)}</span>',
        "</nav>",
    ]
    return "\n".join(parts)


def _counts(summary: dict[str, Any]) -> str:
    items = [(summary["variants"], "variants")]
    items += [(summary[s], STATUS_LABELS[s]) for s in ("scored", "unscored", "pending", "failed")]
    items += [(summary["missing"], "missing")] if summary["missing"] else []
    items += [(summary["shortlisted"], "shortlisted")]
    items += [(summary["pruned"], "pruned")] if summary["pruned"] else []
    items += [(_fmt(summary["best"]), "best")]
    return (
        '<ul class="counts">'
        + "".join(f"<li><b>{escape(str(n))}</b> {escape(label)}</li>" for n, label in items)
        + "</ul>"
    )


def _lightbox() -> str:
    return (
        '<div id="lightbox" class="lightbox" hidden role="dialog" aria-modal="true" '
        'aria-label="full size output">'
        '<div id="lb-stage" class="lb-stage"></div><div id="lb-caption" class="lb-caption"></div>'
        '<button id="lb-close" type="button" aria-label="close (Escape)">×</button>'
        '<button id="lb-prev" type="button" aria-label="previous (←)">‹</button>'
        '<button id="lb-next" type="button" aria-label="next (→)">›</button></div>'
    )


def _page(title: str, header: str, toolbar: str, main: str, data: dict[str, Any]) -> str:
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP, quote=False)}">',
            '<meta name="referrer" content="no-referrer">',
            f"<title>{escape(title)}</title>",
            # A data: icon: otherwise the browser asks for /favicon.ico.
            '<link rel="icon" href="data:,">',
            f"<style>{CSS}</style>",
            "</head>",
            f'<body data-kind="{escape(data["kind"])}">',
            header,
            toolbar,
            main,
            _lightbox(),
            f'<script type="application/json" id="sheet-data">{embed_json(data)}</script>',
            "<noscript><p>Sorting, filtering and the cards need JavaScript.</p></noscript>",
            f"<script>{JS}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def job_sheet_html(job_dir: Path, *, link_night: bool = True) -> str:
    """The job page for `runs/<night>/job_<key>/` (URLs relative to that folder)."""
    rows = collect_rows(job_dir)
    info = _job_info(job_dir, rows)
    _tag_rows(rows, info, 0)
    s = info["summary"]
    plan = [f"night {info['night']}"]
    if info["mode"]:
        plan.append(str(info["mode"]))
    if info["cap"] is not None:
        plan.append(f"cap {info['cap']}")
    if info["sweep_size"] is not None:
        plan.append(f"sweep {info['sweep_size']}")
    if info["selection"]:
        plan.append(str(info["selection"]))
    links = f'<a href="../{SHEET_NAME}">night sheet</a> · ' if link_night else ""
    header = "\n".join(
        [
            "<header>",
            f"<h1>{escape(info['job_id'])}</h1>",
            f'<p class="sub">{escape(" · ".join(plan))}</p>',
            _counts(s),
            f'<p class="blocked">blocked: {escape(info["blocked"])}</p>' if info["blocked"] else "",
            _cut_short_note(job_cut_short(JobDir(job_dir))),
            f'<p class="meta-line">{links}templates {escape(", ".join(s["templates"]) or "–")}'
            f" · written {escape(_stamp())}</p>",
            "</header>",
        ]
    )
    empty = "" if rows else '<p class="empty">No variants planned for this job tonight.</p>'
    main = (
        f'<main id="sheet">{empty}<div class="grid" id="grid-{escape(info["key"])}"></div></main>'
    )
    job = {k: info[k] for k in ("key", "job_id", "blocked", "summary")} | {"href": None}
    data = {"kind": "job", "night": info["night"], "jobs": [job], "rows": rows}
    title = f"{info['job_id']} · {info['night']} · contact sheet"
    return _page(title, header, _toolbar(rows, [job], night=False), main, data)


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
    plan = _read(night_dir / "night_plan.json")
    ordered: list[Path] = []
    for job in plan.get("jobs", []) if isinstance(plan, dict) else []:
        key = job.get("key") if isinstance(job, dict) else None
        # A plan is read from disk: only a real job key may become a path.
        if isinstance(key, str) and _KEY.fullmatch(key):
            ordered.append(found.pop(f"job_{key}", night_dir / f"job_{key}"))
    return ordered + [found[n] for n in sorted(found)]


def _planned_ids(night_dir: Path) -> dict[str, str]:
    plan = _read(night_dir / "night_plan.json")
    jobs = plan.get("jobs", []) if isinstance(plan, dict) else []
    return {
        j["key"]: j["job_id"]
        for j in jobs
        if isinstance(j, dict)
        and isinstance(j.get("key"), str)
        and isinstance(j.get("job_id"), str)
    }


def _cut_short_note(line: str | None) -> str:
    """The banner of a night a circuit breaker cut short (its text escaped like every other)."""
    if not line:
        return ""
    return f'<p class="blocked cut-short" role="status">⛔ {escape(line)}</p>'


def _night_cut_short(night_dir: Path) -> str | None:
    """From `night_summary.json` (the cool-down writes it just before the sheet)."""
    summary = _read(night_dir / "night_summary.json")
    record = summary.get("cut_short") if isinstance(summary, dict) else None
    if not isinstance(record, dict):
        return None
    try:
        return cut_short_line(record)
    except KeyError:
        return None


def _job_link(job: dict[str, Any], text: str | None = None) -> str:
    label = escape(text or job["job_id"])
    if job["href"] is None:
        return f'{label if text is None else ""} <span class="note">not started</span>'
    return f'<a href="{escape(job["href"])}">{label}</a>'


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
    plan = _read(night_dir / "night_plan.json")
    plan = plan if isinstance(plan, dict) else {}
    night = str(plan.get("night") or night_dir.name)
    night_sum = summarize(rows)

    sub = [f"{len(jobs)} jobs"]
    if plan.get("mode"):
        sub.append(str(plan["mode"]))
    if plan.get("total_budget") is not None:
        sub.append(f"{plan['total_budget']} renders planned of {plan.get('max_renders', '?')}")
    cols = ("variants", "scored", "unscored", "pending", "failed", "shortlisted")
    head = "".join(f"<th>{escape(STATUS_LABELS.get(c, c))}</th>" for c in cols)
    body = []
    for job in jobs:
        s = job["summary"]
        cells = "".join(f"<td>{s[c]}</td>" for c in cols)
        note = ' <span class="blocked">blocked</span>' if job["blocked"] else ""
        body.append(
            f'<tr data-job="{escape(job["key"])}"><td>{_job_link(job)}{note}</td>'
            f"<td>{escape(', '.join(s['templates']) or '–')}</td>{cells}"
            f"<td>{_fmt(s['best'])}</td></tr>"
        )
    total_cells = "".join(f"<td>{night_sum[c]}</td>" for c in cols)
    body.append(
        f"<tr><td><b>night</b></td><td></td>{total_cells}<td>{_fmt(night_sum['best'])}</td></tr>"
    )
    table = (
        f'<table class="jobs"><thead><tr><th>job</th><th>template</th>{head}<th>best</th>'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
    header = "\n".join(
        [
            "<header>",
            f"<h1>Night {escape(night)}</h1>",
            f'<p class="sub">{escape(" · ".join(sub))} · written {escape(_stamp())}</p>',
            _cut_short_note(_night_cut_short(night_dir)),
            table,
            "</header>",
        ]
    )
    sections = []
    for job in jobs:
        s = job["summary"]
        blocked = (
            f'<span class="blocked">blocked: {escape(job["blocked"])}</span>'
            if job["blocked"]
            else ""
        )
        empty = "" if s["variants"] else '<p class="empty">No variants planned.</p>'
        sections.append(
            f'<section class="job" id="job-{escape(job["key"])}" data-job="{escape(job["key"])}" '
            f'data-variants="{s["variants"]}"><div class="job-head">'
            f"<h2>{escape(job['job_id'])}</h2>"
            f"{_job_link(job, 'job sheet')}"
            f'<span class="job-count">showing {s["variants"]} of {s["variants"]}</span>'
            f"{blocked}</div>{empty}"
            f'<div class="grid" id="grid-{escape(job["key"])}"></div></section>'
        )
    if not jobs:
        sections.append('<p class="empty">No jobs in this night.</p>')
    main = f'<main id="sheet">{"".join(sections)}<div class="grid" id="flat" hidden></div></main>'
    data = {"kind": "night", "night": night, "jobs": jobs, "rows": rows}
    return _page(
        f"Night {night} · contact sheet", header, _toolbar(rows, jobs, night=True), main, data
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
