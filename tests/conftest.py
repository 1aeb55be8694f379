"""Shared fixtures: real PostgreSQL, Dagster instances, an artifact tree, the ComfyUI emulator."""

import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg2
import pytest

from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.emulator import EmulatorConfig, EmulatorServer
from nightrun_dagster.intake.validate import Intake
from nightrun_dagster.store.paths import Tree
from tests.contact.browser import Browser, BrowserError

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "job_specs"
EXAMPLE_JOBS = sorted(p for p in EXAMPLES.glob("*.json") if p.name != "creative_job.schema.json")
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The throwaway server `scripts/test.sh` starts; without it the test fails, never skips."""
    url = os.environ.get("NIGHTRUN_TEST_POSTGRES_URL")
    if not url:
        pytest.fail(
            "NIGHTRUN_TEST_POSTGRES_URL is not set: run the tests with `bash scripts/test.sh`, "
            "which starts PostgreSQL on loopback, or point it at a server you run."
        )
    return url


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A fresh database on the test server, dropped afterwards."""
    name = f"nightrun_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def pg_instance(postgres_database: str) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance whose run, event-log and schedule storage is the real PostgreSQL."""
    overrides = {"storage": {"postgres": {"postgres_url": postgres_database}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        yield instance


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """An artifact tree with the example assets in `assets/` and an empty queue."""
    t = Tree(tmp_path / "night-runs")
    shutil.copytree(EXAMPLES / "assets", t.assets)
    t.queue.mkdir(parents=True)
    return t


@pytest.fixture
def intake(tree: Tree) -> Intake:
    return Intake(assets_root=tree.assets)


@pytest.fixture
def nightrun(tree: Tree) -> NightrunResource:
    return NightrunResource(root=str(tree.root), queue_settle_seconds=0)


@pytest.fixture
def queued_examples(tree: Tree) -> list[Path]:
    """The example jobs copied into the queue, as a person would drop them there."""
    return [Path(shutil.copy(src, tree.queue / src.name)) for src in EXAMPLE_JOBS]


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


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One real headless Chromium for the session. No Chromium is a failure, never a skip."""
    try:
        browser = Browser()
        browser.launch()
    except (BrowserError, OSError) as exc:
        pytest.fail(f"headless Chromium is required for the contact sheet tests: {exc}")
    try:
        yield browser
    finally:
        browser.close()
