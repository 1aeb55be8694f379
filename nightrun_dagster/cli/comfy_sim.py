"""`nightrun comfy-sim`: the ComfyUI emulator as a process, with faults from flags."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from nightrun_dagster.cli.user_input import (
    UserInputError,
    folder_path,
    nonnegative_int,
    os_reason,
    port,
    probability,
    run_command,
)
from nightrun_dagster.emulator.config import MODEL_FOLDERS, EmulatorConfig, default_models
from nightrun_dagster.emulator.profile import Profile
from nightrun_dagster.emulator.server import Host
from nightrun_dagster.night import time_scale
from nightrun_dagster.night.time_scale import TimeScale


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=port, default=8188, help="port (0: any free port)")
    parser.add_argument(
        "--render-ms",
        type=nonnegative_int,
        default=2000,
        help="wall time of one prompt (default 2000)",
    )
    parser.add_argument(
        "--profile",
        choices=[p.value for p in Profile],
        help=(
            "render times like this GPU's, from each graph's model, size, steps, frames, LoRAs "
            "and ControlNet (rtx3080: SDXL 1024×1280 28 steps 25 s, Wan 1.3B clip 240 s) "
            "instead of --render-ms; with $NIGHTRUN_TIME_SCALE, in the compressed night's seconds"
        ),
    )
    parser.add_argument(
        "--oom-probability", type=probability, default=0.0, help="chance each execution OOMs (0..1)"
    )
    parser.add_argument(
        "--oom-every", type=nonnegative_int, default=0, help="OOM the Nth, 2Nth, … execution"
    )
    parser.add_argument(
        "--error-every",
        type=nonnegative_int,
        default=0,
        help="a node error on the Nth, 2Nth, … execution",
    )
    parser.add_argument(
        "--prompt-failures",
        type=nonnegative_int,
        default=0,
        help="the next N POST /prompt answer HTTP 500",
    )
    parser.add_argument(
        "--oom-max-pixels",
        type=nonnegative_int,
        default=0,
        help="OOM when a latent has more than this many pixels × batch × frames",
    )
    parser.add_argument(
        "--stall",
        type=nonnegative_int,
        action="append",
        default=[],
        metavar="N",
        help="the Nth execution stalls until /interrupt (repeatable)",
    )
    parser.add_argument(
        "--crash-after",
        type=nonnegative_int,
        default=0,
        metavar="N",
        help="crash once the Nth execution starts",
    )
    parser.add_argument(
        "--restart-down-ms",
        type=nonnegative_int,
        default=1000,
        help="how long a crash refuses connections",
    )
    parser.add_argument(
        "--missing-model",
        action="append",
        default=[],
        metavar="NAME",
        help="hide a model (NAME or FOLDER/NAME; repeatable)",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="FOLDER/NAME",
        help="add a model file to a folder (repeatable)",
    )
    parser.add_argument(
        "--slow-view-ms", type=nonnegative_int, default=0, help="delay before /view answers"
    )
    parser.add_argument(
        "--output-dir", type=folder_path, help="output folder (default: a temp folder)"
    )
    parser.add_argument("--input-dir", type=folder_path, help="input (upload) folder")
    parser.add_argument("--temp-dir", type=folder_path, help="temp (preview) folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault RNG")


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    models = default_models()
    for spec in args.model:
        folder, sep, name = spec.partition("/")
        if not sep or not name:
            raise UserInputError(f"--model {spec!r}", "expected FOLDER/NAME")
        if folder not in MODEL_FOLDERS and folder not in {"unet", "clip"}:
            raise UserInputError(f"--model {spec!r}", f"unknown folder {folder!r}")
        folder = {"unet": "diffusion_models", "clip": "text_encoders"}.get(folder, folder)
        models.setdefault(folder, [])
        if name not in models[folder]:
            models[folder].append(name)
    output = args.output_dir
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        render_ms=args.render_ms,
        output_dir=output,
        input_dir=args.input_dir or (output.parent / "input" if output else None),
        temp_dir=args.temp_dir or (output.parent / "temp" if output else None),
        models=models,
        missing_models=set(args.missing_model),
        oom_probability=args.oom_probability,
        oom_every=args.oom_every,
        error_every=args.error_every,
        prompt_failures=args.prompt_failures,
        oom_max_pixels=args.oom_max_pixels,
        stall_prompts=set(args.stall),
        crash_after=args.crash_after,
        restart_down_ms=args.restart_down_ms,
        slow_view_ms=args.slow_view_ms,
        seed=args.seed,
        profile=Profile(args.profile) if args.profile else None,
        time_scale=night_clock(),
    )


def night_clock() -> TimeScale | None:
    """The compressed night of $NIGHTRUN_TIME_SCALE, if set (a malformed one is bad input)."""
    raw = os.environ.get(time_scale.ENV)
    if not raw:
        return None
    try:
        return TimeScale.parse(raw)
    except ValueError as exc:
        raise UserInputError(f"${time_scale.ENV}", str(exc)) from None


def command(args: argparse.Namespace) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="comfy-sim: %(message)s")
    config = config_from_args(args)
    try:
        host = Host(config)
    except OSError as exc:
        # A folder it cannot create, or an address it cannot listen on: before serving anything.
        where = exc.filename or f"--host {config.host} --port {config.port}"
        raise UserInputError(where, f"the emulator cannot start: {os_reason(exc)}") from exc
    folders = host.folders
    print(
        f"comfy-sim listening on {host.url} (output {folders.output}, input {folders.input})",
        file=sys.stderr,
        flush=True,
    )
    try:
        host.serve()
    except KeyboardInterrupt:
        pass
    finally:
        host.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nightrun comfy-sim", description="A ComfyUI 0.3.64 emulator with fault injection."
    )
    add_arguments(parser)
    return run_command(command, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
