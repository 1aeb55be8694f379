"""Running the emulator: uvicorn lifetimes on one port, crashes that really stop listening, and
`EmulatorServer`, a background-thread handle for tests and the demo."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from nightrun_dagster.emulator.app import Emulator
from nightrun_dagster.emulator.config import EmulatorConfig
from nightrun_dagster.emulator.files import Folders
from nightrun_dagster.emulator.stats import Stats

log = logging.getLogger("nightrun.comfy_sim")


class _Uvicorn(uvicorn.Server):
    """Tells the host when it is accepting connections."""

    def __init__(self, config: uvicorn.Config, on_up: threading.Event) -> None:
        super().__init__(config)
        self._on_up = on_up

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_up.set()


class Host:
    """Serves lifetime after lifetime until stopped. A crash ends the lifetime (websockets
    dropped, queue and history gone), keeps the port closed for the down time, then starts a
    fresh one on the same port. Files and stats outlive crashes."""

    def __init__(self, config: EmulatorConfig, stats: Stats | None = None) -> None:
        self.config = config
        self.stats = stats or Stats(clock=config.now)
        self.owned_root: Path | None = None
        if None in (config.output_dir, config.input_dir, config.temp_dir):
            self.owned_root = Path(tempfile.mkdtemp(prefix="comfy-sim-"))
        root = self.owned_root or Path.cwd()
        self.folders = Folders(
            output=Path(config.output_dir or root / "output").resolve(),
            input=Path(config.input_dir or root / "input").resolve(),
            temp=Path(config.temp_dir or root / "temp").resolve(),
        )
        for folder in (self.folders.output, self.folders.input, self.folders.temp):
            folder.mkdir(parents=True, exist_ok=True)
        self.up = threading.Event()
        self.down = threading.Event()
        self.port = config.port
        self._stopping = threading.Event()
        self._server: _Uvicorn | None = None
        self._emulator: Emulator | None = None
        self._down_ms: int | None = None
        self._lock = threading.Lock()
        self._socket: socket.socket | None = self._bind()

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.port))
        sock.listen(512)
        self.port = sock.getsockname()[1]
        return sock

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def serve(self) -> None:
        """Blocks until `stop()`; call from the thread that should run the event loop."""
        while not self._stopping.is_set():
            sock = self._socket or self._bind()
            self._socket = None
            emulator = Emulator(self.config, self.stats, self.folders, self.crash)
            server = _Uvicorn(
                uvicorn.Config(
                    emulator.app,
                    log_level="warning",
                    access_log=False,
                    lifespan="on",
                    ws="websockets-sansio",
                    timeout_graceful_shutdown=0.5,
                ),
                self.up,
            )
            with self._lock:
                self._server = server
                self._emulator = emulator
                if self._stopping.is_set() or self._down_ms is not None:
                    server.should_exit = True
            self.down.clear()
            try:
                server.run(sockets=[sock])
            finally:
                sock.close()
                self.up.clear()
                self.down.set()
            if self._stopping.is_set():
                break
            down_ms = self._down_ms if self._down_ms is not None else self.config.restart_down_ms
            log.info("comfy-sim down for %d ms", down_ms)
            if self._stopping.wait(down_ms / 1000):
                break
            self._down_ms = None
            self._wipe_temp()
            self.stats.bump("restarts")
            log.info("comfy-sim back on %s", self.url)

    def crash(self, down_ms: int | None = None) -> None:
        """End this lifetime now (any thread); the next starts after `down_ms`."""
        with self._lock:
            self._down_ms = down_ms if down_ms is not None else self.config.restart_down_ms
            self.up.clear()  # from now on, waiting for "up" means the next lifetime
            if self._emulator is not None and self._emulator.state is not None:
                self._emulator.state.dead = True
            if self._server is not None:
                self._server.should_exit = True

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            if self._server is not None:
                self._server.should_exit = True
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def cleanup(self) -> None:
        if self.owned_root is not None:
            shutil.rmtree(self.owned_root, ignore_errors=True)

    def _wipe_temp(self) -> None:
        # ComfyUI empties its temp folder at start-up; only touch one we created.
        if self.owned_root is not None and self.folders.temp.is_relative_to(self.owned_root):
            shutil.rmtree(self.folders.temp, ignore_errors=True)
            self.folders.temp.mkdir(parents=True, exist_ok=True)


class EmulatorServer:
    """The emulator on loopback in a background thread.

    with EmulatorServer(EmulatorConfig(render_ms=20)) as sim:
        ComfyClient(sim.url) ...
    """

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        config = config or EmulatorConfig()
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        self.host = Host(self.config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.host.url

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.host.port}/ws"

    @property
    def port(self) -> int:
        return self.host.port

    @property
    def folders(self) -> Folders:
        return self.host.folders

    @property
    def output_dir(self) -> Path:
        return self.host.folders.output

    @property
    def input_dir(self) -> Path:
        return self.host.folders.input

    @property
    def temp_dir(self) -> Path:
        return self.host.folders.temp

    def start(self, timeout: float = 15.0) -> EmulatorServer:
        """Start serving (idempotent, so `with EmulatorServer(...).start() as sim:` works)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.host.serve, name="comfy-sim", daemon=True)
            self._thread.start()
        self.wait_until_up(timeout)
        return self

    def wait_until_up(self, timeout: float = 15.0) -> None:
        if not self.host.up.wait(timeout):
            raise TimeoutError(f"comfy-sim did not come up on {self.url} within {timeout} s")

    @property
    def is_up(self) -> bool:
        return self.host.up.is_set()

    def stats(self) -> dict[str, Any]:
        return self.host.stats.snapshot()

    def set_faults(self, **changes: Any) -> None:
        """Change fault settings at runtime (same keys as `POST /emulator/faults`)."""
        self.config.update(changes)

    def drop_websockets(self) -> int:
        """Close every client websocket; the server stays up. Returns how many were open."""
        response = httpx.post(f"{self.url}/emulator/drop_websockets", timeout=10)
        response.raise_for_status()
        return int(response.json()["dropped"])

    def restart(self, down_ms: int | None = None, wait: bool = False, timeout: float = 15) -> None:
        """Crash now: returns once the port refuses connections; with `wait`, once it is back."""
        self.host.down.clear()
        self.host.crash(down_ms)
        if not self.host.down.wait(timeout):
            raise TimeoutError("comfy-sim did not go down")
        if wait:
            self.wait_until_up(timeout + (down_ms or self.config.restart_down_ms) / 1000)

    def stop(self) -> None:
        self.host.stop()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        self.host.cleanup()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    """True once something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return True
        time.sleep(0.05)
    return False
