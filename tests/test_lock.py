"""requirements.lock pins exactly what the project and its test extra install: every
distribution pyproject.toml needs, transitively, at the version this environment runs."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
# Locked so that scripts/setup.sh builds the editable install with known versions; nothing
# the project imports requires them.
BUILD_TOOLS = {"pip", "setuptools", "wheel"}
ENTRY = re.compile(
    r"(?P<name>[A-Za-z0-9._-]+)(?:\[(?P<extras>[^\]]*)\])?==(?P<version>\S+)"
    r"(?P<hashes>(?:\s+--hash=sha256:[0-9a-f]{64})+)"
)


@dataclass(frozen=True)
class Pin:
    version: str
    extras: frozenset[str]


def read_lock() -> dict[str, Pin]:
    """The lock's entries by PEP 503 name; each must be NAME[EXTRAS]==VERSION with hashes."""
    pins: dict[str, Pin] = {}
    for entry in LOCK.read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
        if not entry.strip() or entry.startswith("#"):
            continue
        match = ENTRY.fullmatch(entry.strip())
        assert match, f"requirements.lock: {entry[:80]!r} is not NAME==VERSION --hash=sha256:…"
        extras = frozenset((match["extras"] or "").replace(" ", "").split(",")) - {""}
        pins[canonicalize_name(match["name"])] = Pin(match["version"], extras)
    return pins


def required() -> dict[str, list[Requirement]]:
    """Every distribution pyproject.toml's dependencies and test extra need on this
    interpreter, walked through the installed metadata, with the requirements that ask for it.

    The roots come from pyproject.toml itself rather than the installed project's metadata,
    so a dependency added there is caught even before the project is reinstalled."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    roots = [Requirement(r) for r in project["dependencies"]]
    roots += [Requirement(r) for r in project["optional-dependencies"]["test"]]
    todo = [r for r in roots if r.marker is None or r.marker.evaluate({"extra": ""})]
    asked: dict[str, list[Requirement]] = {}
    seen: set[tuple[str, str]] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        asked.setdefault(name, []).append(requirement)
        for extra in {"", *requirement.extras}:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            try:
                requires = importlib.metadata.requires(name) or []
            except importlib.metadata.PackageNotFoundError:
                continue  # reported as not installed by the test
            for line in requires:
                sub = Requirement(line)
                if sub.marker is None or sub.marker.evaluate({"extra": extra}):
                    todo.append(sub)
    return asked


def test_lock_pins_every_required_distribution_at_its_installed_version() -> None:
    pins = read_lock()
    problems = []
    for name, asked_by in sorted(required().items()):
        if name not in pins:
            problems.append(f"{name} ({asked_by[0]}) is not in requirements.lock")
            continue
        pinned = Version(pins[name].version)
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} is locked at {pinned} but not installed")
            continue
        if Version(installed) != pinned:
            problems.append(f"{name} is installed at {installed}, locked at {pinned}")
        problems += [
            f"{name} is locked at {pinned}, outside '{r}'"
            for r in asked_by
            if not r.specifier.contains(pinned, prereleases=True)
        ]
    fix = "refresh the lock with scripts/lock.sh, install it with scripts/setup.sh"
    assert not problems, "\n".join([*problems, fix])


def test_lock_pins_nothing_the_project_does_not_need() -> None:
    unneeded = set(read_lock()) - set(required()) - BUILD_TOOLS
    assert not unneeded, f"pinned, required by nothing: {sorted(unneeded)}; run scripts/lock.sh"
    assert set(read_lock()) >= BUILD_TOOLS


def test_lock_names_every_extra_the_dependencies_ask_for() -> None:
    # pip in hash-checking mode (scripts/setup.sh) takes uvicorn[standard] as unpinned unless
    # the lock's own entry names the extra.
    pins = read_lock()
    for name, asked_by in required().items():
        wanted = {extra for r in asked_by for extra in r.extras}
        assert wanted <= pins.get(name, Pin("", frozenset())).extras, name
