"""Bad input from the person at the keyboard: the typed error commands raise for it, the argument
types that reject it up front, and the one place that prints it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_BAD_INPUT = 2  # argparse's code for a bad argument
ROOT_ENV = "NIGHTRUN_ROOT"


class UserInputError(Exception):
    """`thing` (a path, a flag, an id) cannot be used, for `reason`: one line on stderr, no
    traceback. Raised where the input is read, so the message can say what was wrong."""

    def __init__(self, thing: str | Path, reason: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        self.thing = str(thing)
        self.reason = reason
        self.exit_code = exit_code
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.thing}: {self.reason}"


def os_reason(exc: OSError) -> str:
    """What the system said, without Python's `[Errno N]` and repeated path."""
    return exc.strerror or str(exc)


def run_command(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run one command; a UserInputError becomes its line on stderr and its exit code. Anything
    else still raises: an unexpected error is a bug, and its traceback is what finds it."""
    try:
        if getattr(args, "root", "") is None:
            default_root_env()
        return int(func(args) or 0)
    except UserInputError as exc:
        print(exc.line(), file=sys.stderr)
        return exc.exit_code


def folder_path(text: str) -> Path:
    """A folder to read or create: it may not exist yet, but neither it nor a parent is a file."""
    path = Path(text)
    for p in (path, *path.parents):
        if p.is_dir():
            break
        if p.exists():
            where = "is a file" if p == path else f"is under {p}, a file"
            raise argparse.ArgumentTypeError(f"{text}: {where}, not a folder")
    return path


def add_root_argument(p: argparse.ArgumentParser) -> None:
    """`--root`, the artifact root, as every command that reads the tree takes it."""
    p.add_argument(
        "--root",
        type=folder_path,
        help="artifact root (default $NIGHTRUN_ROOT or ./marketing/night-runs)",
    )


def default_root_env() -> None:
    """A command without --root uses $NIGHTRUN_ROOT: it gets the checks --root would."""
    text = os.environ.get(ROOT_ENV)
    if text:
        try:
            folder_path(text)
        except argparse.ArgumentTypeError as exc:
            raise UserInputError(f"${ROOT_ENV}", str(exc)) from None


def existing_folder(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        why = "is a file, not a folder" if path.exists() else "no such folder"
        raise argparse.ArgumentTypeError(f"{text}: {why}")
    return path


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def nonnegative_int(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def positive_int(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not at least 1")
    return value


def port(text: str) -> int:
    value = _whole(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (0 to 65535; 0: any free port)")
    return value


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability (0 to 1)")
    return value


def http_url(flag: str, url: str) -> str:
    """`url` if it names its scheme; httpx would refuse it later with a less helpful message."""
    if not url.startswith(("http://", "https://")):
        raise UserInputError(f"{flag} {url}", f"give the whole URL, like http://{url}")
    return url
