"""`nightrun score IMAGE… --job JOB.json`: score files outside a night, as a table or JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nightrun_dagster.cli.jobs import WORKFLOWS_DIR_HELP
from nightrun_dagster.cli.user_input import folder_path, run_command
from nightrun_dagster.creative_job.errors import JobSpecInvalid, SpecError
from nightrun_dagster.intake.assets import asset_root_candidates, assets_root_for
from nightrun_dagster.intake.validate import Intake, validate_file
from nightrun_dagster.scoring.context import context_from_job, job_ui_assets
from nightrun_dagster.scoring.media import UnreadableMedia
from nightrun_dagster.scoring.ocr import OcrUnavailable
from nightrun_dagster.scoring.ocr_cache import OcrCache
from nightrun_dagster.scoring.score import score_files
from nightrun_dagster.scoring.weights import BadWeights
from nightrun_dagster.store.paths import default_root
from nightrun_dagster.workflows.templates import default_workflows_dir

COMPONENTS = ("sharpness", "text", "brand_color", "ui_integrity", "artifacts", "temporal")
EXIT_SOME_FAILED = 1  # an image could not be read or scored; the others are still printed
EXIT_CANNOT_RUN = 2  # bad job file, missing base UI or mask, OCR not available


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Score images or videos against a job: sharpness, text (OCR), brand colours, UI "
        "integrity, artifacts. Exit 1 when an image could not be scored, 2 when nothing could "
        "run (bad job file, missing base UI, no tesseract)."
    )
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="PNG/JPEG/MP4 files")
    p.add_argument("--job", type=Path, required=True, metavar="JOB.json", help="the job file")
    p.add_argument(
        "--base-ui",
        type=Path,
        metavar="PNG",
        help="base UI screenshot for UI integrity (default: the job's first base_ui_screens)",
    )
    p.add_argument(
        "--mask", type=Path, metavar="PNG", help="UI area to compare, white (default: all)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per image per line")
    p.add_argument("--detail", action="store_true", help="with --json: every raw measurement")
    p.add_argument("--no-ocr", action="store_true", help="skip OCR (the text component)")
    p.add_argument("--cache-dir", type=folder_path, help="keep OCR results here for the next run")
    p.add_argument("--root", type=folder_path, help="artifact root (default $NIGHTRUN_ROOT)")
    p.add_argument(
        "--assets-root",
        type=Path,
        help="where the job's asset paths point (default: the first of an assets/ folder "
        "beside the job file, the job file's folder and <root>/assets that holds them all)",
    )
    p.add_argument("--workflows-dir", type=Path, help=WORKFLOWS_DIR_HELP)


def _intake(args: argparse.Namespace) -> Intake:
    root = args.root or default_root()
    return Intake(
        assets_root=assets_root_for(args.job, root, args.assets_root),
        workflows_dir=args.workflows_dir or default_workflows_dir(),
    )


def _print_job_errors(args: argparse.Namespace, errors: list[SpecError]) -> None:
    for error in errors:
        print(error.line(), file=sys.stderr)
    if args.assets_root is None and any(e.field.startswith("assets.") for e in errors):
        where = ", ".join(
            str(p) for p in asset_root_candidates(args.job, args.root or default_root())
        )
        print(f"looked for the job's assets in {where}; pass --assets-root DIR", file=sys.stderr)


def json_line(doc: dict[str, Any], detail: bool = False) -> dict[str, Any]:
    """The --json line of one score document."""
    comps = doc.get("components") or {}
    text = comps.get("text") or {}
    line: dict[str, Any] = {
        "path": doc["file"],
        "kind": doc["kind"],
        "total": doc["total"],
        "components": {
            name: (comps[name]["score"] if comps.get(name) else None)
            for name in COMPONENTS
            if name != "temporal" or doc["kind"] == "video"
        },
        "tokens_found": text.get("tokens_found"),
        "tokens_missing": text.get("tokens_missing"),
        "mean_confidence": text.get("mean_confidence"),
        "weights": doc["weights"],
        "sha256": doc["sha256"],
    }
    if doc.get("error"):
        line["error"] = doc["error"]
    if detail:
        line["detail"] = comps
    return line


def _table(docs: list[dict[str, Any]]) -> None:
    names = ["sharpness", "text", "brand_color", "ui_integrity", "artifacts", "temporal"]
    short = ["sharp", "text", "colour", "ui", "artif", "temp"]
    width = max(len(d["file"]) for d in docs)
    print(f"{'file'.ljust(width)}  total  " + "  ".join(s.rjust(6) for s in short) + "  missing")
    for d in docs:
        if d.get("error"):
            print(f"{d['file'].ljust(width)}  error: {d['error']}")
            continue
        comps = d["components"]
        cells = [f"{comps[n]['score']:.3f}" if comps.get(n) else "-" for n in names]
        missing = (comps.get("text") or {}).get("tokens_missing")
        note = ", ".join(missing) if missing else ("-" if missing is None else "none")
        print(
            f"{d['file'].ljust(width)}  {d['total']:.3f}  "
            + "  ".join(c.rjust(6) for c in cells)
            + f"  {note}"
        )


def not_a_file(path: Path) -> str:
    return "is a folder, not a file" if path.is_dir() else "no such file"


def command(args: argparse.Namespace) -> int:
    intake = _intake(args)
    try:
        found = validate_file(args.job, intake)
    except JobSpecInvalid as exc:
        _print_job_errors(args, exc.errors)
        return EXIT_CANNOT_RUN
    job_base, job_mask = job_ui_assets(found.job, intake.assets_root)
    base_ui = args.base_ui or job_base
    mask = args.mask or (job_mask if args.base_ui is None else None)
    for label, path in (("--base-ui", base_ui), ("--mask", mask)):
        if path is not None and not path.is_file():
            print(f"{label}: {path}: {not_a_file(path)}", file=sys.stderr)
            return EXIT_CANNOT_RUN
    if mask is not None and base_ui is None:
        print("--mask needs --base-ui (or a job with base_ui_screens)", file=sys.stderr)
        return EXIT_CANNOT_RUN
    try:
        ctx = context_from_job(found.job, base_ui=base_ui, mask=mask)
    except BadWeights as exc:
        print(f"{args.job}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    cache = OcrCache(args.cache_dir) if args.cache_dir is not None else None
    missing = [p for p in args.images if not p.is_file()]
    for path in missing:
        print(f"{path}: {not_a_file(path)}", file=sys.stderr)
    present = [p for p in args.images if p.is_file()]
    try:
        docs = score_files(present, ctx, ocr_cache=cache, ocr=not args.no_ocr, record_errors=True)
    except (OcrUnavailable, UnreadableMedia) as exc:
        print(f"cannot score: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    failed = bool(missing)
    for doc in docs:
        if doc.get("error"):
            failed = True
            print(doc["error"], file=sys.stderr)  # it names the file
    if args.json:
        by_path = {doc["file"]: doc for doc in docs}
        for path in args.images:
            doc = by_path.get(str(path))
            if doc is None:
                print(json.dumps({"path": str(path), "error": "no such file"}))
            else:
                print(json.dumps(json_line(doc, args.detail), ensure_ascii=False))
    elif docs:
        _table(docs)
    return EXIT_SOME_FAILED if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nightrun score")
    add_arguments(parser)
    return run_command(command, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
