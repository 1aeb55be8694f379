"""`nightrun graph`: the exact API-format graph(s) the render loop would POST for a job's
variants, one JSON object a line, without a server."""

import argparse
import json
import os
import sys
from pathlib import Path

from nightrun_dagster.cli.jobs import intake_for
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import Expansion, Variant, expand_job
from nightrun_dagster.intake.validate import ValidJob, validate_file
from nightrun_dagster.ops.night import mode_for_night, parse_night, tonight
from nightrun_dagster.plan.graphs import planned_graph
from nightrun_dagster.spec.errors import JobSpecInvalid
from nightrun_dagster.workflows.apply import ApplyError
from nightrun_dagster.workflows.samplers import UnknownSampler

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
    night = args.night or tonight()
    try:
        parse_night(night)
    except ValueError as exc:
        print(f"--night: {exc}", file=sys.stderr)
        return EXIT_USAGE
    mode = RunMode(args.mode) if args.mode else mode_for_night(night)
    try:
        found = validate_file(args.file, intake_for(args, args.file))
    except JobSpecInvalid as exc:
        for error in exc.errors:
            print(error.line(), file=sys.stderr)
        return EXIT_JOB
    # The variants `nightrun expand` shows for this night and mode.
    expansion = expand_job(found.job, mode, night, found.cap, found.template.defaults)
    try:
        chosen = pick(expansion, args.variant, args.all)
    except LookupError as exc:
        print(f"{args.file}: {exc.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    if not chosen:  # --all on a night without renders (maintenance): nothing to print
        print(f"{args.file}: {no_variants(expansion)}", file=sys.stderr)
    lines = []
    for variant in chosen:
        try:
            graph = planned_graph(found, expansion, variant)
        except (ApplyError, UnknownSampler) as exc:
            print(apply_failure(args.file, found, variant, exc), file=sys.stderr)
            return EXIT_JOB
        lines.append(
            json.dumps({"variant": variant.variant_id, "graph": graph}, ensure_ascii=False)
        )
    return write_lines(lines)


def pick(expansion: Expansion, variant_id: str | None, every: bool) -> tuple[Variant, ...]:
    """The variants asked for; LookupError (with the message to print) when there is none."""
    variants = expansion.variants
    if every:
        return variants
    if not variants:
        raise LookupError(no_variants(expansion))
    if variant_id is None:
        return variants[:1]
    for variant in variants:
        if variant.variant_id == variant_id:
            return (variant,)
    raise LookupError(
        f"no variant {variant_id}; this job has {len(variants)} variants for "
        f"{night_and_mode(expansion)} ({variants[0].variant_id}…{variants[-1].variant_id})"
    )


def no_variants(expansion: Expansion) -> str:
    return f"this job has no variants for {night_and_mode(expansion)}"


def night_and_mode(expansion: Expansion) -> str:
    return f"night {expansion.night} in {expansion.mode.value} mode"


def apply_failure(file: Path, found: ValidJob, variant: Variant, exc: Exception) -> str:
    t = found.template
    return (
        f"{file}: variant {variant.variant_id} does not fit template {t.template_id} "
        f"({t.path}): {exc}"
    )


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
