"""Writes requirements.lock for scripts/lock.sh: each distribution of a throwaway venv's
`pip freeze --all`, pinned with the sha256 of every file the index has for that version.

Run with the throwaway venv's Python: python write_lock.py RANGES FREEZE LOCK"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# pip's own copy of packaging: the throwaway venv always has it, whatever the project needs.
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from pip._vendor.packaging.version import Version

INDEX = os.environ.get("LOCK_INDEX_URL", "https://pypi.org/simple").rstrip("/")
# Locked for setup.sh's build of the editable project; nothing the project imports needs them.
BUILD_TOOLS = {"pip", "setuptools", "wheel"}
PYTHON = "{}.{}".format(*sys.version_info[:2])


def read_freeze(path: Path) -> dict[str, str]:
    """`pip freeze --all` as {PEP 503 name: version}."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line.strip())
        if not match:
            sys.exit(f"[lock] error: pip freeze gave {line!r}, not NAME==VERSION")
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def requested_extras(ranges: list[str], pins: dict[str, str]) -> dict[str, set[str]]:
    """Each package's extras the dependency tree asks for (uvicorn[standard]): hash-checking
    pip takes a requirement with extras as pinned only when the lock names them too."""
    extras: dict[str, set[str]] = {}
    seen: set[tuple[str, str]] = set()
    todo = [Requirement(line) for line in ranges if line.strip()]
    todo = [r for r in todo if r.marker is None or r.marker.evaluate({"extra": ""})]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        for extra in {"", *requirement.extras}:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            if extra:
                extras.setdefault(name, set()).add(extra)
            for line in importlib.metadata.requires(name) or []:
                sub = Requirement(line)
                if sub.marker is None or sub.marker.evaluate({"extra": extra}):
                    todo.append(sub)
    unrequired = set(pins) - {name for name, _ in seen} - BUILD_TOOLS
    if unrequired:
        sys.exit(f"[lock] error: installed but required by nothing: {sorted(unrequired)}")
    return extras


def runs_on_cpython_311_or_later(filename: str) -> bool:
    """Whether pip on CPython >= 3.11 could pick this wheel (any OS: developers' machines too)."""
    for tag in parse_wheel_filename(filename)[3]:
        if tag.interpreter.startswith("py") or tag.abi == "abi3":
            return True
        digits = tag.interpreter.removeprefix("cp")
        if tag.interpreter.startswith("cp3") and digits.isdigit() and int(digits) >= 311:
            return True
    return False


def file_hashes(name: str, version: str) -> list[str]:
    """The sha256 of every sdist and usable wheel of name==version on the index."""
    request = urllib.request.Request(
        f"{INDEX}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        files = json.load(response)["files"]
    found = set()
    for file in files:
        filename = file["filename"]
        try:
            if filename.endswith(".whl"):
                if not runs_on_cpython_311_or_later(filename):
                    continue
                file_version = parse_wheel_filename(filename)[1]
            else:
                file_version = parse_sdist_filename(filename)[1]
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue  # eggs, installers: never what pip installs
        if file_version == Version(version) and "sha256" in file["hashes"]:
            found.add(file["hashes"]["sha256"])
    if not found:
        sys.exit(f"[lock] error: {INDEX} has no file of {name}=={version}")
    return sorted(found)


def render(pins: dict[str, str], extras: dict[str, set[str]], hashes: dict[str, list[str]]) -> str:
    lines = [
        "# Every distribution the project and its test extra install, exact versions with the",
        "# sha256 of each file PyPI has for them; scripts/setup.sh installs exactly these.",
        f"# Resolved from pyproject.toml's ranges on CPython {PYTHON}"
        f" ({platform.system().lower()} {platform.machine()}); refresh: scripts/lock.sh.",
    ]
    for name in sorted(pins):
        extra = f"[{','.join(sorted(extras[name]))}]" if name in extras else ""
        entry = [f"{name}{extra}=={pins[name]}"]
        entry += [f"    --hash=sha256:{digest}" for digest in hashes[name]]
        lines.append(" \\\n".join(entry))
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Beside the target and renamed over it, so an interrupted refresh leaves the old lock."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink()
        raise


def main() -> None:
    ranges_path, freeze_path, lock_path = (Path(arg) for arg in sys.argv[1:4])
    pins = read_freeze(freeze_path)
    extras = requested_extras(ranges_path.read_text(encoding="utf-8").splitlines(), pins)
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = pool.map(file_hashes, pins, pins.values())
        hashes = dict(zip(pins, found, strict=True))
    write_atomically(lock_path, render(pins, extras, hashes))
    print(f"[lock] wrote {lock_path}: {len(pins)} pins")


if __name__ == "__main__":
    main()
