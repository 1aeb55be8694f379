"""How a night ended: per job what was rendered, what failed, what is left and why it stopped."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from nightrun_dagster.ops.breakers import Latch
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.variant_state import is_complete, read_params, try_read_json


def job_state(job_dir: JobDir) -> dict[str, Any]:
    index = try_read_json(job_dir.variants_index) or {}
    ids = list(index.get("variants", []))
    rendered = failed = 0
    left: list[str] = []
    for vid in ids:
        try:
            params = read_params(job_dir, vid)
        except (OSError, ValueError):
            left.append(vid)
            continue
        if is_complete(job_dir, vid, params):
            rendered += 1
        elif (params.get("render") or {}).get("status") == "failed":
            failed += 1
        else:
            left.append(vid)
    stopped = try_read_json(job_dir.breaker) or try_read_json(job_dir.window_closed)
    blocked = try_read_json(job_dir.blocked)
    return {
        "job": job_dir.path.name.removeprefix("job_"),
        "variants": len(ids),
        "rendered": rendered,
        "failed": failed,
        "left": len(left),
        "left_variants": left,
        "stopped_by": (stopped or {}).get("kind") or ("blocked" if blocked else None),
        "stop_reason": (stopped or {}).get("reason") or (blocked or {}).get("reason"),
    }


def close_record(tree: Tree, night: str, latch: Latch | None) -> dict[str, Any]:
    """The night-closed document: every job folder of the night, plus the latch if any."""
    night_dir = tree.night(night)
    jobs = (
        [job_state(JobDir(p)) for p in sorted(night_dir.glob("job_*")) if p.is_dir()]
        if night_dir.is_dir()
        else []
    )
    return {
        "night": night,
        "closed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "jobs": jobs,
        "left_for_next_night": {j["job"]: j["left"] for j in jobs if j["left"]},
        "breaker": asdict(latch) if latch is not None else None,
    }


def carried_over(tree: Tree, previous_night: str) -> dict[str, int]:
    """Variants each job left unrendered at the previous night's close (0 if it closed clean
    or never ran)."""
    record = try_read_json(tree.night(previous_night) / "night_closed.json") or {}
    return {str(k): int(v) for k, v in (record.get("left_for_next_night") or {}).items()}
