"""`nightrun clean`: retention on demand — prune old nights' renders to each job's top K."""

import argparse
import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from nightrun_dagster.cli.user_input import (
    UserInputError,
    add_root_argument,
    os_reason,
)
from nightrun_dagster.night.window import TZ
from nightrun_dagster.retention import (
    DEFAULT_KEEP_DAYS,
    DEFAULT_KEEP_TOP_K,
    RetentionError,
    RetentionReport,
    retain,
)
from nightrun_dagster.store.paths import default_root


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-02-16") from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_root_argument(p)
    p.add_argument("--dry-run", action="store_true", help="list what would go; change nothing")
    p.add_argument(
        "--keep-top-k",
        type=_count,
        default=DEFAULT_KEEP_TOP_K,
        metavar="N",
        help=f"best-scored renders kept per job (default {DEFAULT_KEEP_TOP_K})",
    )
    p.add_argument(
        "--days",
        type=_count,
        default=DEFAULT_KEEP_DAYS,
        metavar="D",
        help=f"nights younger than this keep every render (default {DEFAULT_KEEP_DAYS})",
    )
    p.add_argument(
        "--today",
        type=_day,
        metavar="YYYY-MM-DD",
        help="count ages from this date (default: today in Buenos Aires)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # not reached


def print_report(report: RetentionReport) -> None:
    plan = report.plan
    cutoff = plan.today - timedelta(days=plan.keep_days)
    print(
        f"retention as of {plan.today}: nights before {cutoff} keep each job's top "
        f"{plan.keep_top_k} renders and whatever is shortlisted, approved or published"
        + (" (dry run: nothing changed)" if report.dry_run else "")
    )
    header = ("night", "job", "rendered", "top kept", "protected", "files", "bytes", "archive")
    rows = [
        (
            j.night,
            j.job_key,
            str(j.rendered),
            str(len(j.kept_top)),
            str(len(j.protected)),
            str(j.files),
            human_bytes(j.bytes),
            str(j.archive),
        )
        for j in plan.jobs
    ]
    if rows:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    else:
        print("no night is old enough yet")
    if report.dry_run:
        for path in report.deleted:
            print(f"would delete {plan.rel(path)}")
        for src, dst in report.archived:
            print(f"would archive {plan.rel(src)} -> {plan.rel(dst)}")
    verb = ("would delete", "would archive") if report.dry_run else ("deleted", "archived")
    print(
        f"{verb[0]} {len(report.deleted)} files ({human_bytes(report.bytes_freed)}), "
        f"{verb[1]} {len(report.archived)}, kept {plan.kept} output files in {len(plan.nights)} "
        "old nights"
    )
    if report.report_path is not None:
        print(f"report: {report.report_path}")


def command(args: argparse.Namespace) -> int:
    root = Path(args.root or default_root())
    if not (root / "runs").is_dir():
        print(f"no runs/ under {root}: nothing to clean (check --root)", file=sys.stderr)
        return 1
    today = args.today or datetime.now(TZ).date()
    try:
        report = retain(root, today, args.keep_top_k, args.days, dry_run=args.dry_run)
    except RetentionError as exc:
        print(f"retention stopped: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A file of the tree that cannot be read or changed (a folder where a ledger belongs,
        # no permission): name it. Variants pruned before it keep their meta/retention.json.
        where = exc.filename or root
        raise UserInputError(where, f"retention stopped: {os_reason(exc)}", 1) from exc
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print_report(report)
    return 0
