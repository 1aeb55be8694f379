"""`dagster dev` (webserver and daemon) on a temporary home, seen in headless Chromium: the asset
graph and the night × job partitions page render, and the daemon runs the scheduler and sensors."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from PIL import Image

from nightrun_dagster.cli.demo import stage_examples
from nightrun_dagster.defs.partitions import night_partitions
from nightrun_dagster.intake.queue import read_queue
from nightrun_dagster.intake.validate import Intake
from nightrun_dagster.night.window import FIRST_NIGHT
from nightrun_dagster.store.paths import Tree
from tests.contact.browser import Browser, BrowserError

REPO = Path(__file__).resolve().parents[2]
LOCATION = "nightrun_dagster"  # workspace.yaml's location_name
START_TIMEOUT_S = 120.0
PAGE_TIMEOUT_S = 60.0
WIDTH, HEIGHT = 1400, 1000

# SQLite (no storage key) instead of the repository's PostgreSQL dagster.yaml; the rest as in
# production: queued runs, one op per pool, no telemetry, and no first-visit dialog over the UI.
DAGSTER_YAML = """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
concurrency:
  pools:
    granularity: op
    default_limit: 1
telemetry:
  enabled: false
nux:
  enabled: false
"""

WORKSPACE_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename
          ... on PythonError { message }
          ... on RepositoryLocation { repositories { name } } } } }
    ... on PythonError { message } } }
"""

DAEMONS_QUERY = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"


@dataclass
class DevServer:
    """A running `dagster dev` and what the tests need to reach it."""

    url: str
    home: Path
    root: Path
    log: Path
    process: subprocess.Popen[bytes]
    added_keys: list[str]  # job partitions added to the instance before the start
    sensor_key: str  # the queued job left for the queue sensor to add
    repo_path: str = ""  # `<repository>@<location>`, as the UI's URLs spell it

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-4000:]
        return ""

    def graphql(self, query: str) -> dict[str, Any]:
        reply = httpx.post(f"{self.url}/graphql", json={"query": query}, timeout=15.0)
        reply.raise_for_status()
        body = reply.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def job_partitions(self) -> list[str]:
        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            return instance.get_dynamic_partitions("job")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dagster_cli() -> Path:
    cli = Path(sys.executable).with_name("dagster")
    if not cli.exists():
        pytest.fail(f"no `dagster` command beside {sys.executable}: install the project first")
    return cli


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ask `dagster dev` to shut its services down, then end whatever is left of its group
    (webserver, daemon, code server): nothing outlives the test, even when it failed."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _wait_until_loaded(server: DevServer) -> None:
    """Until the webserver answers and the code location has loaded (bounded)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"dagster dev exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            httpx.get(f"{server.url}/server_info", timeout=5.0).raise_for_status()
            data = server.graphql(WORKSPACE_QUERY)["workspaceOrError"]
        except httpx.HTTPError as exc:
            last = repr(exc)
            time.sleep(1.0)
            continue
        entries = {e["name"]: e for e in data.get("locationEntries", [])}
        entry = entries.get(LOCATION)
        last = repr(data)
        if entry and entry["loadStatus"] == "LOADED":
            location = entry["locationOrLoadError"]
            if location["__typename"] != "RepositoryLocation":
                pytest.fail(f"code location {LOCATION} failed to load: {location}")
            server.repo_path = f"{location['repositories'][0]['name']}@{LOCATION}"
            return
        time.sleep(1.0)
    pytest.fail(
        f"dagster dev not ready in {START_TIMEOUT_S:g} s (last: {last}):\n{server.log_tail()}"
    )


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    base = tmp_path_factory.mktemp("dagster_ui")
    home, root, tmp = base / "dagster_home", base / "night-runs", base / "tmp"
    for folder in (home, tmp):
        folder.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    stage_examples(REPO / "job_specs", root)
    keys = sorted(read_queue(Tree(root), Intake(assets_root=root / "assets")))
    assert len(keys) >= 3, keys
    # Two jobs are partitions before the start; the queue sensor must add the third itself.
    added, sensor_key = keys[:2], keys[2]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("job", added)

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAGSTER_", "TELEGRAM_")) and k != "NIGHTRUN_SIGNING_KEY"
    }
    env |= {
        "DAGSTER_HOME": str(home),
        "NIGHTRUN_ROOT": str(root),
        "COMFYUI_URL": "http://127.0.0.1:9",  # never called: nothing is materialized
        "TMPDIR": str(tmp),  # the code server's socket and temp files die with the test
    }
    port = _free_port()
    log = base / "dagster_dev.log"
    with log.open("wb") as out:
        # Own process group, so _stop reaches every service it starts.
        args = ["dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
        process = subprocess.Popen(
            [str(_dagster_cli()), *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DevServer(f"http://127.0.0.1:{port}", home, root, log, process, added, sensor_key)
    try:
        _wait_until_loaded(server)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium; without one the test fails, never skips."""
    try:
        chromium = Browser(width=WIDTH, height=HEIGHT)
        chromium.launch()
    except (BrowserError, OSError) as exc:
        pytest.fail(f"headless Chromium is required for the Dagster UI test: {exc}")
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dagster_ui_screenshots")


def _assert_screenshot(path: Path) -> None:
    """A real PNG of the viewport with a drawn page on it, not a blank or uniform frame."""
    with Image.open(path) as img:
        img.load()
        assert img.format == "PNG"
        assert img.size == (WIDTH, HEIGHT)
        rgb = img.convert("RGB")
    colours = rgb.getcolors(maxcolors=WIDTH * HEIGHT)
    assert colours is not None and len(colours) > 50, f"{path} is nearly uniform"
    lo, hi = rgb.convert("L").getextrema()
    assert hi - lo > 128, f"{path} has no contrast (grey {lo}..{hi})"


def _open(browser: Browser, server: DevServer, path: str, *texts: str) -> str:
    """Load a UI page and wait until its text holds `texts` (the app renders after load)."""
    browser.navigate(server.url + path, timeout_s=PAGE_TIMEOUT_S)
    try:
        return browser.wait_for_text(*texts, timeout_s=PAGE_TIMEOUT_S)
    except BrowserError as exc:
        pytest.fail(f"{path}: {exc}\n--- dagster dev log ---\n{server.log_tail()}")


@pytest.mark.parametrize(
    ("group", "assets"),
    [
        ("planning", ("night_plan", "job_spec", "variants", "renders")),
        ("selection", ("renders", "scores", "shortlist")),
    ],
)
def test_asset_graph_renders(
    dev_server: DevServer, browser: Browser, shots: Path, group: str, assets: tuple[str, ...]
) -> None:
    # A group's lineage graph draws each asset as a node with its name (and its neighbours
    # in other groups as links); the global lineage page only shows collapsed groups.
    path = f"/locations/{dev_server.repo_path}/asset-groups/{group}"
    # Each node then loads its partition count ("1,620 partitions": nights × jobs).
    text = _open(browser, dev_server, path, *assets, " partitions")
    assert "Lineage" in text
    _assert_screenshot(browser.screenshot(shots / f"asset_graph_{group}.png"))


def test_renders_partitions_page(dev_server: DevServer, browser: Browser, shots: Path) -> None:
    before = night_partitions.get_last_partition_key()
    text = _open(
        browser, dev_server, "/assets/renders?view=partitions", *dev_server.added_keys, FIRST_NIGHT
    )
    after = night_partitions.get_last_partition_key()
    # The newest night is listed (it may have turned over while the page loaded).
    assert before in text or after in text
    # One filterable column per dimension, named after it.
    placeholders = browser.evaluate(
        "[...document.querySelectorAll('input')].map(i => i.placeholder || '')"
    )
    assert any(p.startswith("Filter by night") for p in placeholders), placeholders
    assert any(p.startswith("Filter by job") for p in placeholders), placeholders
    _assert_screenshot(browser.screenshot(shots / "renders_partitions.png"))


def test_daemon_runs_scheduler_and_sensors(dev_server: DevServer) -> None:
    deadline = time.monotonic() + 60.0
    healthy: dict[str, bool] = {}
    while time.monotonic() < deadline:
        statuses = dev_server.graphql(DAEMONS_QUERY)["instance"]["daemonHealth"]
        healthy = {s["daemonType"]: s["healthy"] for s in statuses["allDaemonStatuses"]}
        keys = dev_server.job_partitions()
        if healthy.get("SCHEDULER") and healthy.get("SENSOR") and dev_server.sensor_key in keys:
            break
        time.sleep(1.0)
    assert healthy.get("SCHEDULER") and healthy.get("SENSOR"), healthy
    # The queue sensor (on by default) ticked in the daemon and added the queued job that was
    # not a partition yet, beside the two added before the start.
    keys = dev_server.job_partitions()
    assert dev_server.sensor_key in keys, (keys, dev_server.log_tail())
    assert set(dev_server.added_keys) <= set(keys)
