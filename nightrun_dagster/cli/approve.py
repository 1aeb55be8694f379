"""`nightrun approve|favorite|reject ARTIFACT --by NAME`: record a decision without Telegram."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from nightrun_dagster.cli.user_input import (
    UserInputError,
    add_root_argument,
    os_reason,
)
from nightrun_dagster.store.paths import JobDir, default_root
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.signing import artifact_id

DECISIONS = {"approve": "approve", "favorite": "favorite", "reject": "reject"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "artifact",
        metavar="ARTIFACT",
        help="short artifact id (as in the Telegram message) or NIGHT/JOB_KEY/VARIANT_ID",
    )
    p.add_argument("--by", required=True, metavar="NAME", help="who decides (kept in the ledger)")
    add_root_argument(p)
    p.add_argument(
        "--decision",
        choices=sorted(DECISIONS),
        help="the decision (default: the subcommand name)",
    )


def _locate(runs_dir: Path, artifact: str) -> tuple[str, str, str, str] | None:
    """(artifact id, night, job_key, variant_id), or None when no such candidate exists."""
    if artifact.count("/") == 2:
        night, job_key, variant_id = artifact.split("/")
        job_dir = ledger.job_dir_for(runs_dir, night, job_key)
        # Only real candidates: a typo must not create a ledger in a new folder.
        if not JobDir(job_dir).variant(variant_id).is_dir():
            return None
        return artifact_id(night, job_key, variant_id), night, job_key, variant_id
    found = ledger.resolve(runs_dir, artifact.lower())
    return None if found is None else (artifact.lower(), *found)


def _entry(
    art: str, night: str, job_key: str, variant_id: str, decision: str, by: str
) -> dict[str, str]:
    """The ledger line of a decision made from the command line, now."""
    return {
        "artifact": art,
        "night": night,
        "job_key": job_key,
        "variant_id": variant_id,
        "decision": decision,
        "by": by,
        "via": "cli",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def command(args: argparse.Namespace) -> int:
    decision = args.decision or DECISIONS.get(getattr(args, "command", ""), "")
    if decision not in DECISIONS:
        print("choose a decision: approve, favorite or reject", file=sys.stderr)
        return 1
    if not args.by.strip():
        raise UserInputError("--by", "give the name of who decides (it is kept in the ledger)")
    root = args.root or default_root()
    runs_dir = Path(root) / "runs"
    located = _locate(runs_dir, args.artifact)
    if located is None:
        print(f"unknown artifact: {args.artifact} (not found under {runs_dir})", file=sys.stderr)
        return 1
    art, night, job_key, variant_id = located
    job_dir = ledger.job_dir_for(runs_dir, night, job_key)
    entry = _entry(art, night, job_key, variant_id, decision, args.by)
    try:
        recorded = ledger.record(job_dir, entry)
    except OSError as exc:
        # A ledger that is a folder, or not ours to write: say which file, record nothing.
        where = exc.filename or ledger.decisions_path(job_dir)
        raise UserInputError(where, f"cannot record the decision: {os_reason(exc)}", 1) from exc
    if not recorded:
        first = ledger.find(job_dir, art) or {}
        print(
            f"already decided: {first.get('decision')} by {first.get('by')} at {first.get('at')}",
            file=sys.stderr,
        )
        return 1
    print(f"{decision}: {night}/{job_key}/{variant_id} ({art}) by {args.by}")
    return 0


def approve_quietly(root: Path, night: str, job_key: str, variant_id: str, *, by: str) -> bool:
    """Approve one candidate unless it already has a decision (the demo's stand-in for a tap)."""
    runs_dir = Path(root) / "runs"
    entry = _entry(
        artifact_id(night, job_key, variant_id), night, job_key, variant_id, "approve", by
    )
    return ledger.record(ledger.job_dir_for(runs_dir, night, job_key), entry)
