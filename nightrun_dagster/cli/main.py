"""`nightrun`: validate and expand job files, run the demo night, benchmark."""

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from nightrun_dagster.cli import (
    approve,
    bench,
    bench_night,
    bench_render,
    bench_score,
    clean,
    comfy_sim,
    cost,
    demo,
    doctor,
    graph,
    jobs,
    resume,
    score,
    template,
)
from nightrun_dagster.cli.jobs import WORKFLOWS_DIR_HELP
from nightrun_dagster.cli.user_input import (
    add_root_argument,
    existing_folder,
    nonnegative_int,
    positive_int,
    run_command,
)


def add_command(
    sub: Any, name: str, help_text: str, module: ModuleType | None = None
) -> argparse.ArgumentParser:
    """The subcommand `name`; with `module`, its `add_arguments` and `command` wired in."""
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    if module is not None:
        module.add_arguments(p)
        p.set_defaults(func=module.command)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nightrun", description="Night Runs: creative jobs to ad creatives, overnight."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def paths(p: argparse.ArgumentParser) -> None:
        add_root_argument(p)
        p.add_argument(
            "--assets-root", type=Path, help="where asset paths point (default <root>/assets)"
        )
        p.add_argument("--workflows-dir", type=Path, help=WORKFLOWS_DIR_HELP)

    p = sub.add_parser("validate", help="check job files; one line per error")
    paths(p)
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.set_defaults(func=jobs.validate_command)

    p = sub.add_parser("expand", help="show the variants a job gets for a night")
    paths(p)
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument(
        "--mode",
        choices=["exploration", "exploitation", "maintenance"],
        help="run mode (default: the night's weekday mode)",
    )
    p.add_argument("--night", help="night as YYYY-MM-DD (default: tonight)")
    p.add_argument("--json", action="store_true", help="print every variant as JSON")
    p.add_argument("--preview", type=nonnegative_int, default=20, help="rows in the preview table")
    p.set_defaults(func=jobs.expand_command)

    p = add_command(sub, "graph", "print the graphs the render loop would send for a job")
    paths(p)
    graph.add_arguments(p)
    p.set_defaults(func=graph.command)

    p = sub.add_parser("template", help="import ComfyUI workflows as templates; list, show")
    template.add_arguments(p)

    p = sub.add_parser("schema", help="print the Creative Job JSON Schema")
    p.set_defaults(func=jobs.schema_command)

    add_command(sub, "score", "score images or videos against a job, outside a night", score)
    for decision in ("approve", "favorite", "reject"):
        add_command(sub, decision, f"{decision} a shortlisted artifact (the ledger)", approve)
    add_command(sub, "clean", "retention: prune old nights' renders to each job's top K", clean)
    add_command(sub, "comfy-sim", "run the ComfyUI emulator (tests, demo, benchmarks)", comfy_sim)
    add_command(sub, "doctor", "check ComfyUI, the queued jobs' models, OCR and disk", doctor)
    add_command(sub, "resume", "clear a latched circuit breaker so the night goes on", resume)
    add_command(sub, "cost", "refit and show what a render of each template costs", cost)
    p = add_command(sub, "demo", "run a whole night against the example jobs")
    demo.add_arguments(p)
    p.set_defaults(func=demo.demo_command)

    p = sub.add_parser("bench", help="measure speed; --json for one JSON object")
    bench_sub = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    b = add_command(bench_sub, "expand", "expand a large job and write every params.json")
    b.add_argument("--variants", type=positive_int, default=10_000, help="variants to expand")
    b.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    b.add_argument(
        "--dir", type=existing_folder, help="where to write (default: the system temp folder)"
    )
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=bench.bench_expand_command)
    add_command(
        bench_sub,
        "render",
        "GPU duty cycle of the render loop (--comfy-url, else the emulator)",
        bench_render,
    )
    add_command(bench_sub, "score", "images per second scored, with and without OCR", bench_score)
    add_command(
        bench_sub, "night", "a compressed night on the emulator: GPU use, done/planned", bench_night
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = run_command(args.func, args)
        sys.stdout.flush()
    except BrokenPipeError:
        # A reader that stopped early (`| head`) is not an error; keep Python from complaining
        # again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
