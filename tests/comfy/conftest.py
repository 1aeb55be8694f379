"""Fixtures for ComfyUI tests: the emulator on loopback, fast by default."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.comfy.emulator import EmulatorConfig, EmulatorServer

EmulatorFactory = Callable[..., EmulatorServer]


@pytest.fixture
def emulator_factory(tmp_path: Path) -> Iterator[EmulatorFactory]:
    """`make(**settings)` starts an emulator with those EmulatorConfig settings (render_ms 20
    unless given, folders under tmp_path); every one started is stopped afterwards."""
    started: list[EmulatorServer] = []
    counter = itertools.count()

    def make(config: EmulatorConfig | None = None, **settings: Any) -> EmulatorServer:
        root = tmp_path / f"comfy-sim-{next(counter)}"
        base = config or EmulatorConfig(
            render_ms=20,
            output_dir=root / "output",
            input_dir=root / "input",
            temp_dir=root / "temp",
        )
        server = EmulatorServer(base, **settings).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> EmulatorServer:
    """A started emulator with render_ms=20."""
    return emulator_factory()
