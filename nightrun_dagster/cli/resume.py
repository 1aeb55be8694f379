"""`nightrun resume`: clear a latched circuit breaker (or show it with --status)."""

import argparse
import getpass
import json
from pathlib import Path

from nightrun_dagster.cli.user_input import UserInputError, folder_path, os_reason
from nightrun_dagster.night.breakers import Latch, latch_path, read_latch, resume
from nightrun_dagster.store.paths import default_root


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        type=folder_path,
        help="artifact root (default $NIGHTRUN_ROOT or ./marketing/night-runs)",
    )
    p.add_argument("--by", help="who resumes, kept in ops/breaker_history.jsonl (default: $USER)")
    p.add_argument("--status", action="store_true", help="only show what is latched")
    p.add_argument("--json", action="store_true", help="print the latch as JSON")


def command(args: argparse.Namespace) -> int:
    root = (args.root or default_root()).resolve()
    if not root.is_dir():
        # "Nothing latched" about a root that is not there would be a false all-clear.
        raise UserInputError(
            f"artifact root {root}", "no such folder (check --root, $NIGHTRUN_ROOT)"
        )
    try:
        current = read_latch(root)
        if args.status or current is None:
            return show(current, root, args.json)
        cleared = resume(root, by=args.by or getpass.getuser())
    except OSError as exc:
        where = exc.filename or latch_path(root)
        raise UserInputError(where, f"cannot read or clear the latch: {os_reason(exc)}", 1) from exc
    assert cleared is not None
    if args.json:
        print(json.dumps(cleared.__dict__, sort_keys=True))
    else:
        print(f"resumed: {cleared.describe()}")
        print("schedules and render loops go on from their next tick")
    return 0


def show(current: Latch | None, root: Path, as_json: bool) -> int:
    if as_json:
        print(json.dumps(current.__dict__ if current else None, sort_keys=True))
    elif current is None:
        print(f"nothing latched under {root}: the night runs")
    else:
        print(current.describe())
    return 0
