"""`nightrun graph`: the exact API-format graph(s) the render loop would POST for a job's
variants, one JSON object a line, without a server."""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nightrun_dagster.cli.jobs import intake_for
from nightrun_dagster.cli.user_input import os_reason
from nightrun_dagster.creative_job.errors import JobSpecInvalid
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import Expansion, expand_job
from nightrun_dagster.intake.planned import GRAPH_ERRORS, params_graph, planned_graph
from nightrun_dagster.intake.validate import Intake, ValidJob, validate_file
from nightrun_dagster.night.window import mode_for_night, night_ahead, parse_night
from nightrun_dagster.plan.inputs import load_snapshot
from nightrun_dagster.store.models import DocumentError
from nightrun_dagster.store.paths import JobDir, Tree, default_root
from nightrun_dagster.store.variant_docs import read_params
from nightrun_dagster.store.variants_index import read_variants_index

# Exit codes: 1 the job or its template is wrong, 2 the command line asks for what is not there.
EXIT_JOB = 1
EXIT_USAGE = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's own options (`--root`, `--assets-root`, `--workflows-dir` come from main)."""
    p.add_argument("file", type=Path, metavar="JOB_FILE")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--variant", metavar="vNNNN", help="this variant (default: the first)")
    which.add_argument("--all", action="store_true", help="every variant of the night")
    p.add_argument("--night", help="night as YYYY-MM-DD (default: tonight)")
    p.add_argument(
        "--mode",
        choices=[m.value for m in RunMode],
        help="run mode (default: the night's weekday mode)",
    )


def command(args: argparse.Namespace) -> int:
    night = args.night or night_ahead()
    try:
        parse_night(night)
    except ValueError as exc:
        print(f"--night: {exc}", file=sys.stderr)
        return EXIT_USAGE
    mode = RunMode(args.mode) if args.mode else mode_for_night(night)
    intake = intake_for(args, args.file)
    try:
        found = validate_file(args.file, intake)
    except JobSpecInvalid as exc:
        for error in exc.errors:
            print(error.line(), file=sys.stderr)
        return EXIT_JOB
    job_dir = Tree(args.root or default_root()).job(night, found.key)
    if job_dir.variants_index.is_file():
        try:
            index = read_variants_index(job_dir)
        except OSError as exc:
            return plan_unreadable(args.file, job_dir, f"cannot read: {os_reason(exc)}")
        except DocumentError as exc:  # not JSON, or no list of variant ids
            return plan_unreadable(args.file, job_dir, exc.reason)
        ids = index.variants
        planned_mode = index.mode
        if not args.mode or args.mode == planned_mode:
            return from_plan(args, found, job_dir, intake, night, ids)
        print(
            f"{args.file}: night {night} was planned in {planned_mode} mode; these are a fresh "
            f"expansion in {args.mode} mode, not what the night renders",
            file=sys.stderr,
        )
    # Not planned yet (or another mode): the variants `nightrun expand` shows.
    expansion = expand_job(found.job, mode, night, found.cap, found.template.defaults)
    by_id = {v.variant_id: v for v in expansion.variants}
    try:
        chosen = pick(list(by_id), args.variant, args.all, f"for {night_and_mode(expansion)}")
    except LookupError as exc:
        print(f"{args.file}: {exc.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    if not chosen:  # --all on a night without renders (maintenance): nothing to print
        print(f"{args.file}: {no_variants(expansion)}", file=sys.stderr)
    lines = []
    for vid in chosen:
        try:
            graph = planned_graph(found, expansion, by_id[vid])
        except GRAPH_ERRORS as exc:
            print(apply_failure(args.file, found, vid, exc), file=sys.stderr)
            return EXIT_JOB
        lines.append(graph_line(vid, graph))
    return write_lines(lines)


def from_plan(
    args: argparse.Namespace,
    found: ValidJob,
    job_dir: JobDir,
    intake: Intake,
    night: str,
    ids: list[str],
) -> int:
    """The night was planned: its variants (`ids`) and their params.json, exactly what it
    sends. A planned night keeps its own numbering, which differs from a fresh expansion's when
    the budget planned fewer variants, so expanding again would show another variant under the
    same id."""
    # The render loop builds from the night's own copy of the job (inputs/job.json).
    if job_dir.job_snapshot.is_file():
        try:
            found_for_night = load_snapshot(job_dir, intake)
        except JobSpecInvalid as exc:
            for error in exc.errors:
                print(error.line(), file=sys.stderr)
            return EXIT_JOB
    else:
        found_for_night = found
    print(
        f"{args.file}: using the variants planned for night {night} in {job_dir.variants}",
        file=sys.stderr,
    )
    if found_for_night.sha256 != found.sha256:
        print(
            f"{args.file}: changed since the night was planned; the night renders its copy, "
            f"{job_dir.job_snapshot}",
            file=sys.stderr,
        )
    try:
        chosen = pick(ids, args.variant, args.all, f"planned for night {night}")
    except LookupError as exc:
        print(f"{args.file}: {exc.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    if not chosen:  # --all for a night that planned none (maintenance, or no budget)
        print(f"{args.file}: this job has no variants planned for night {night}", file=sys.stderr)
    lines = []
    for vid in chosen:
        path = job_dir.params(vid)
        try:
            params = read_params(job_dir, vid).plan()
        except DocumentError as exc:
            print(f"{args.file}: cannot read {path}: {exc.reason}", file=sys.stderr)
            return EXIT_JOB
        except OSError as exc:
            print(f"{args.file}: cannot read {path}: {exc}", file=sys.stderr)
            return EXIT_JOB
        try:
            graph = params_graph(found_for_night, params)
        except GRAPH_ERRORS as exc:
            print(apply_failure(args.file, found_for_night, vid, exc), file=sys.stderr)
            return EXIT_JOB
        lines.append(graph_line(vid, graph))
    return write_lines(lines)


def plan_unreadable(file: Path, job_dir: JobDir, reason: str) -> int:
    print(f"{file}: the night's plan {job_dir.variants_index}: {reason}", file=sys.stderr)
    return EXIT_JOB


def graph_line(variant_id: str, graph: dict[str, Any]) -> str:
    return json.dumps({"variant": variant_id, "graph": graph}, ensure_ascii=False)


def pick(ids: Sequence[str], variant_id: str | None, every: bool, where: str) -> list[str]:
    """The variant ids asked for; LookupError (with the message to print) when there is none.
    `where` says whose variants they are (`for night … in … mode`, `planned for night …`)."""
    if every:
        return list(ids)
    if not ids:
        raise LookupError(f"this job has no variants {where}")
    if variant_id is None:
        return [ids[0]]
    if variant_id in ids:
        return [variant_id]
    raise LookupError(
        f"no variant {variant_id}; this job has {len(ids)} variants {where} ({ids[0]}…{ids[-1]})"
    )


def no_variants(expansion: Expansion) -> str:
    return f"this job has no variants for {night_and_mode(expansion)}"


def night_and_mode(expansion: Expansion) -> str:
    return f"night {expansion.night} in {expansion.mode.value} mode"


def apply_failure(file: Path, found: ValidJob, variant_id: str, exc: Exception) -> str:
    t = found.template
    return f"{file}: variant {variant_id} does not fit template {t.template_id} ({t.path}): {exc}"


def write_lines(lines: list[str]) -> int:
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        # A reader that stopped early (`| head -1`) is not an error; keep Python from
        # complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
