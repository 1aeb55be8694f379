"""`nightrun validate`, `nightrun expand` and `nightrun schema`."""

import argparse
import json
import sys
from pathlib import Path

from nightrun_dagster.creative_job.errors import JobSpecInvalid
from nightrun_dagster.creative_job.schema import render_schema
from nightrun_dagster.expand.modes import RunMode
from nightrun_dagster.expand.variants import expand_job
from nightrun_dagster.intake.assets import assets_root_for
from nightrun_dagster.intake.validate import Intake, validate_file
from nightrun_dagster.night.window import mode_for_night, night_ahead, parse_night
from nightrun_dagster.store.paths import Tree, default_root
from nightrun_dagster.workflows.templates import default_workflows_dir, template_registry

WORKFLOWS_DIR_HELP = (
    "workflow templates folder (default: $NIGHTRUN_WORKFLOWS_DIR or the project's workflows/)"
)


def intake_from(args: argparse.Namespace) -> Intake:
    """The intake the queue sensor uses: asset paths point at --assets-root or <root>/assets."""
    root = args.root or default_root()
    return Intake(
        assets_root=args.assets_root or Tree(root).assets,
        workflows_dir=args.workflows_dir or default_workflows_dir(),
    )


def intake_for(args: argparse.Namespace, job_file: Path) -> Intake:
    """The intake for one job file checked by hand: its assets found by `assets_root_for`."""
    root = args.root or default_root()
    return Intake(
        assets_root=assets_root_for(job_file, root, args.assets_root),
        workflows_dir=args.workflows_dir or default_workflows_dir(),
    )


def template_warnings(workflows_dir: Path) -> list[str]:
    """One line per file in the workflows folder that is not a usable template."""
    if not workflows_dir.is_dir():
        return [f"warning: the workflows folder {workflows_dir} does not exist (or is a file)"]
    return [
        f"warning: {b.line()} (jobs naming template {b.template_id!r} are rejected)"
        for b in template_registry(workflows_dir).broken.values()
    ]


def validate_command(args: argparse.Namespace) -> int:
    # Broken templates are reported, not fatal: only the jobs naming them fail below.
    for line in template_warnings(args.workflows_dir or default_workflows_dir()):
        print(line, file=sys.stderr)
    failed = False
    for path in args.files:
        try:
            found = validate_file(path, intake_for(args, path))
        except JobSpecInvalid as exc:
            failed = True
            for error in exc.errors:
                print(error.line())
            continue
        print(f"{path}: ok (job key {found.key!r}, template {found.template.template_id})")
    return 1 if failed else 0


def expand_command(args: argparse.Namespace) -> int:
    intake = intake_for(args, args.file)
    try:
        # Canonical YYYY-MM-DD: the night salts random seeds, so 20260209 must equal 2026-02-09.
        night = parse_night(args.night).isoformat() if args.night else night_ahead()
    except ValueError as exc:
        print(f"--night: {exc}", file=sys.stderr)
        return 2
    mode = RunMode(args.mode) if args.mode else mode_for_night(night)
    try:
        found = validate_file(args.file, intake)
    except JobSpecInvalid as exc:
        for error in exc.errors:
            print(error.line(), file=sys.stderr)
        return 1
    expansion = expand_job(found.job, mode, night, found.cap, found.template.defaults)
    if args.json:
        payload = {
            "job_id": found.job.job_id,
            "job_key": found.key,
            "night": night,
            "mode": mode.value,
            "cap": expansion.cap,
            "sweep_size": expansion.sweep_size,
            "count": len(expansion.variants),
            "selection": expansion.selection,
            "variants": [v.as_dict() for v in expansion.variants],
        }
        json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    print(f"job {found.job.job_id} (key {found.key}), night {night}, mode {mode.value}")
    print(
        f"{len(expansion.variants)} variants from a sweep of {expansion.sweep_size}; "
        f"cap {expansion.cap} ({expansion.selection})"
    )
    print(text_table(expansion.variants[: args.preview]))
    if len(expansion.variants) > args.preview:
        print(f"… {len(expansion.variants) - args.preview} more (--json prints all)")
    return 0


def text_table(variants: tuple) -> str:
    header = ("id", "prompt", "seed", "loras", "sampler", "steps", "cfg", "denoise", "controlnet")
    rows = [header]
    for v in variants:
        loras = ",".join(f"{a.name}@{a.weight:g}" for a in v.loras if a.enabled) or "-"
        cn = f"{v.controlnet.type}@{v.controlnet.weight:g}" if v.controlnet else "-"
        prompt = v.prompt if len(v.prompt) <= 32 else v.prompt[:31] + "…"
        rows.append(
            (
                v.variant_id,
                prompt,
                str(v.seed),
                loras,
                str(v.sampler),
                str(v.steps),
                str(v.cfg),
                str(v.denoise),
                cn,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def schema_command(args: argparse.Namespace) -> int:
    sys.stdout.write(render_schema())
    return 0
