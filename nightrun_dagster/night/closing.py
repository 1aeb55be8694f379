"""How a night ended: per job what was rendered, what failed, what is left and why it stopped."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nightrun_dagster.night.breakers import Latch, read_latch
from nightrun_dagster.store.night_plan import try_read_night_plan
from nightrun_dagster.store.night_records import (
    JobClosed,
    NightClosed,
    try_read_blocked,
    try_read_breaker_record,
    try_read_night_closed,
    try_read_warmup,
    try_read_window_closed,
)
from nightrun_dagster.store.ops_docs import read_breaker_history
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.variant_state import (
    RenderStatus,
    is_complete,
    read_params,
    render_status,
)
from nightrun_dagster.store.variants_index import try_read_variants_index


def job_state(job_dir: JobDir) -> JobClosed:
    index = try_read_variants_index(job_dir)
    ids = index.variants if index else []
    spare = set(index.reserve) if index else set()
    rendered = failed = reserve_left = 0
    left: list[str] = []
    for vid in ids:
        try:
            params = read_params(job_dir, vid)
        except (OSError, ValueError):
            left.append(vid)
            continue
        if is_complete(job_dir, vid, params):
            rendered += 1
        elif render_status(params) is RenderStatus.FAILED:
            failed += 1
        elif vid in spare:
            reserve_left += 1  # the plan never promised it: not left for the next night
        else:
            left.append(vid)
    stopped = try_read_breaker_record(job_dir) or try_read_window_closed(job_dir)
    blocked = try_read_blocked(job_dir)
    return JobClosed(
        job=job_dir.path.name.removeprefix("job_"),
        variants=len(ids),
        rendered=rendered,
        failed=failed,
        left=len(left),
        left_variants=left,
        reserve_left=reserve_left,
        stopped_by=(stopped.kind if stopped else None) or ("blocked" if blocked else None),
        stop_reason=(stopped.reason if stopped else None) or (blocked.reason if blocked else None),
    )


def close_record(tree: Tree, night: str, latch: Latch | None) -> NightClosed:
    """The night-closed document: every job folder of the night, plus the latch if any."""
    night_dir = tree.night(night)
    jobs = (
        [job_state(JobDir(p)) for p in sorted(night_dir.glob("job_*")) if p.is_dir()]
        if night_dir.is_dir()
        else []
    )
    return NightClosed(
        night=night,
        closed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        jobs=jobs,
        left_for_next_night={j.job: j.left for j in jobs if j.left},
        breaker=asdict(latch) if latch is not None else None,
    )


def carried_over(tree: Tree, previous_night: str) -> dict[str, int]:
    """Variants each job left unrendered at the previous night's close (0 if it closed clean
    or never ran)."""
    record = try_read_night_closed(tree, previous_night)
    return dict(record.left_for_next_night) if record else {}


def _tripped_tonight(root: Path, night: str) -> dict[str, Any] | None:
    """The breaker that stopped `night`: the latch in force, else the last one resumed (from
    the history), as {breaker, reason, tripped_at, job, still_latched}."""
    current = read_latch(root)
    if current is not None and current.night in (night, None):
        return {
            "breaker": current.breaker,
            "reason": current.reason,
            "tripped_at": current.tripped_at,
            "job": current.job,
            "still_latched": True,
        }
    found = None
    for entry in read_breaker_history(Tree(root)):
        if entry.night == night:
            found = entry
    if found is None:
        return None
    return {
        "breaker": found.breaker,
        "reason": found.reason,
        "tripped_at": found.tripped_at,
        "job": found.job,
        "still_latched": False,
        "resumed_by": found.resumed_by,
    }


def _left_by_job(tree: Tree, night: str) -> dict[str, int]:
    """Variants not rendered per job of the night: a planned job that never wrote its variants
    left its whole budget; without a plan, what the warm-up counted as tonight's demand."""
    night_dir = tree.night(night)
    left: dict[str, int] = {}
    plan = try_read_night_plan(tree.night_dir(night))
    planned = plan.jobs if plan else []
    for entry in planned:
        if entry.blocked:
            continue
        if entry.budget > 0 and not tree.job(night, entry.key).variants_index.is_file():
            left[entry.key] = entry.budget
    for path in sorted(night_dir.glob("job_*")) if night_dir.is_dir() else []:
        state = job_state(JobDir(path))
        if state.variants:
            left[state.job] = state.left
    if not planned and not left:
        warmup = try_read_warmup(tree.night_dir(night))
        tonight = warmup.backlog.tonight if warmup else 0
        if tonight:
            left["(not planned)"] = tonight
    return {k: v for k, v in left.items() if v}


def cut_short(tree: Tree, night: str) -> dict[str, Any] | None:
    """Whether a circuit breaker cut `night` short: which one, when, on which job, why, and
    how many variants it left unrendered (None when no breaker tripped that night)."""
    tripped = _tripped_tonight(tree.root, night)
    if tripped is None:
        return None
    left = _left_by_job(tree, night)
    return {**tripped, "left": sum(left.values()), "left_by_job": left}


def cut_short_line(record: dict[str, Any]) -> str:
    """One sentence for the summary, the sheet and Telegram."""
    where = f", job {record['job']}" if record.get("job") else ""
    tail = (
        "still latched: renders wait for `nightrun resume`"
        if record.get("still_latched")
        else f"resumed by {record.get('resumed_by') or '?'}"
    )
    return (
        f"Night cut short: circuit breaker {record['breaker']} tripped at "
        f"{record['tripped_at']}{where} ({record['reason']}); {record['left']} variant(s) left "
        f"unrendered; {tail}."
    )


def job_cut_short(job_dir: JobDir) -> str | None:
    """The job's render loop stopped on a circuit breaker (its `breaker.json`): one sentence
    with the breaker, when and how many variants it left; None when it was not cut short."""
    record = try_read_breaker_record(job_dir)
    if record is None or record.kind not in ("breaker", "latched"):
        return None
    breaker = record.detail.get("breaker") or "?"
    left = f"{record.pending} variant(s) left unrendered"
    at = record.at or "?"
    if record.kind == "latched":  # tripped elsewhere: the reason is the latch's own text
        return (
            f"Night cut short: circuit breaker {breaker} was latched when this job's renders "
            f"started ({at}); {left}."
        )
    return f"Night cut short: circuit breaker {breaker} tripped at {at} ({record.reason}); {left}."
