"""A tiny Chrome DevTools Protocol client: launch headless Chromium, navigate, evaluate, shoot.

It drives the system Chromium over DevTools so the tests need no browser download or extra package.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Quiet, reproducible, and nothing of the browser's own reaches the network.
FLAGS = (
    "--headless=new",
    "--disable-gpu",
    "--remote-debugging-port=0",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--metrics-recording-only",
)


_KEY_CODES = {"Enter": 13, "Escape": 27, "ArrowLeft": 37, "ArrowRight": 39}


class BrowserError(RuntimeError):
    """Chromium could not start, or a DevTools command failed."""


def find_chromium() -> str:
    """Path of a Chromium binary (`$CHROMIUM` first); BrowserError when there is none."""
    env = os.environ.get("CHROMIUM")
    for name in (env, *CANDIDATES) if env else CANDIDATES:
        if name and (found := shutil.which(name)):
            return found
    raise BrowserError(f"no Chromium found (tried $CHROMIUM and {', '.join(CANDIDATES)})")


class Browser:
    """One headless Chromium with one page, driven over CDP. Use as a context manager."""

    def __init__(
        self,
        binary: str | None = None,
        *,
        width: int = 1280,
        height: int = 900,
        start_timeout_s: float = 20.0,
        no_sandbox: bool | None = None,
    ) -> None:
        self.binary = binary or find_chromium()
        self.width, self.height = width, height
        self.start_timeout_s = start_timeout_s
        # Chromium refuses to run sandboxed as root; elsewhere keep the sandbox.
        self.no_sandbox = os.geteuid() == 0 if no_sandbox is None else no_sandbox
        self.events: list[dict[str, Any]] = []
        self.loader_id: str | None = None  # the current document's, from Page.navigate
        self._proc: subprocess.Popen[bytes] | None = None
        self._ws: ClientConnection | None = None
        self._stack = contextlib.ExitStack()
        self._profile: Path | None = None
        self._session: str | None = None
        self._next_id = 0

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Browser:
        self.launch()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def launch(self) -> None:
        self._profile = Path(tempfile.mkdtemp(prefix="nightrun-chromium-"))
        args = [self.binary, *FLAGS, f"--user-data-dir={self._profile}"]
        args += [f"--window-size={self.width},{self.height}"]
        if self.no_sandbox:
            args.append("--no-sandbox")
        args.append("about:blank")
        log = (self._profile / "chromium.log").open("wb")
        try:
            # Own process group, so close() can end Chromium's helpers with it.
            self._proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as exc:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None
            raise BrowserError(f"cannot start {self.binary}: {exc}") from exc
        finally:
            log.close()
        try:
            url = self._wait_for_devtools()
            # Entered as a context manager: websockets 14+ warns about bare connect() calls.
            self._ws = self._stack.enter_context(
                connect(url, max_size=None, proxy=None, ping_interval=None)
            )
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
            self._session = attached["sessionId"]
            for domain in ("Page", "Runtime", "Network"):
                self.send(f"{domain}.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": self.width,
                    "height": self.height,
                    "deviceScaleFactor": 1,
                    "mobile": False,
                },
            )
        except BaseException:
            self.close()
            raise

    def _wait_for_devtools(self) -> str:
        """The browser websocket URL, from `DevToolsActivePort` (port, then path)."""
        assert self._profile is not None and self._proc is not None
        port_file = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrowserError(f"Chromium exited with {self._proc.returncode}: {self._log()}")
            with contextlib.suppress(OSError):
                lines = port_file.read_text().splitlines()
                if len(lines) >= 2 and lines[0].isdigit():
                    return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.05)
        raise BrowserError(f"Chromium wrote no DevToolsActivePort in time: {self._log()}")

    def _log(self) -> str:
        path = self._profile / "chromium.log" if self._profile else None
        try:
            return path.read_text(errors="replace")[-2000:] if path else ""
        except OSError:
            return ""

    def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self.call("Browser.close", session=False, timeout_s=5)
            with contextlib.suppress(Exception):
                self._stack.close()
            self._ws = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=5)
            # Renderer and GPU helpers share the group; end any that outlived the browser.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    # -- protocol --------------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A command to the page's session; its result."""
        return self.call(method, params)

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: bool = True,
        timeout_s: float = 30.0,
    ) -> dict[str, Any]:
        if self._ws is None:
            raise BrowserError("browser is not running")
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self._session:
            msg["sessionId"] = self._session
        self._ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._recv(deadline, method)
            if reply.get("id") == msg["id"]:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def _recv(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        assert self._ws is not None
        left = deadline - time.monotonic()
        if left <= 0:
            raise BrowserError(f"timed out waiting for {waiting_for}")
        try:
            return json.loads(self._ws.recv(timeout=left))
        except TimeoutError:
            raise BrowserError(f"timed out waiting for {waiting_for}") from None

    def wait_event(
        self,
        method: str,
        *,
        since: int = 0,
        timeout_s: float = 30.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """The first `method` event (whose params satisfy `where`, if given) at or after
        position `since` of `events`, reading more from the browser until it comes."""
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.events[since:]:
                if event.get("method") == method and (where is None or where(event["params"])):
                    return event
            since = len(self.events)
            self.events.append(self._recv(deadline, method))

    # -- page ------------------------------------------------------------------------------

    def navigate(self, url: str, *, timeout_s: float = 30.0) -> None:
        """Load `url` and wait for its load event."""
        mark = len(self.events)
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"navigate {url}: {result['errorText']}")
        # Requests of the page we left can still be reported after this; they carry its loader.
        self.loader_id = result.get("loaderId")
        self.wait_event("Page.loadEventFired", since=mark, timeout_s=timeout_s)

    def evaluate(self, expression: str, *, timeout_s: float = 30.0) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout_s=timeout_s,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"evaluate failed: {text}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, *, timeout_s: float = 10.0) -> Any:
        """Poll a JavaScript expression until its value is truthy in Python; that value.
        A DOM node comes back as `{}` (falsy): test for it with `!!`."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression!r}")
            time.sleep(0.05)

    def wait_for_text(self, *texts: str, timeout_s: float = 30.0, every_s: float = 0.25) -> str:
        """Poll the page's visible text (`document.body.innerText`) until it holds every one of
        `texts`; that text. A single-page app renders after its load event, so a page that
        says nothing yet is read again. BrowserError names what never appeared."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.evaluate("document.body ? document.body.innerText : ''") or ""
            missing = [t for t in texts if t not in text]
            if not missing:
                return text
            if time.monotonic() > deadline:
                raise BrowserError(
                    f"timed out after {timeout_s:g} s waiting for {missing!r} in the page text: "
                    f"{text[:1500]!r}"
                )
            time.sleep(every_s)

    def click(self, selector: str) -> None:
        """A real mouse click (CDP input events) at the centre of the first match of `selector`,
        scrolled into view first: it reaches the page the way a person's click does."""
        # Measured after two frames: scrolling can re-lay out the page (lazy content, fonts),
        # and a rectangle read at once would point where the element was, not where it is.
        point = self.evaluate(
            f"""(async () => {{
              const e = document.querySelector({json.dumps(selector)});
              if (!e) return null;
              e.scrollIntoView({{block: "center", inline: "center"}});
              const frame = () => new Promise(r => requestAnimationFrame(r));
              let last = "";
              for (let i = 0; i < 20; i++) {{
                await frame();
                const r = e.getBoundingClientRect();
                const now = [r.x + r.width / 2, r.y + r.height / 2];
                if (JSON.stringify(now) === last) return now;
                last = JSON.stringify(now);
                e.scrollIntoView({{block: "center", inline: "center"}});
              }}
              return JSON.parse(last);
            }})()"""
        )
        if point is None:
            raise BrowserError(f"nothing matches {selector!r}")
        x, y = point
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    def press(self, key: str) -> None:
        """Press and release a named key (`Escape`, `ArrowLeft`, `ArrowRight`, `Enter`)."""
        code = _KEY_CODES.get(key, 0)
        for kind in ("rawKeyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code},
            )

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        """Save a PNG of the viewport (or the whole page) to `path`."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def _current(self, params: dict[str, Any]) -> bool:
        return self.loader_id is None or params.get("loaderId") == self.loader_id

    def wait_request(self, url_suffix: str, *, timeout_s: float = 10.0) -> str:
        """The full URL of the first request of the current page ending with `url_suffix`."""
        event = self.wait_event(
            "Network.requestWillBeSent",
            timeout_s=timeout_s,
            where=lambda p: self._current(p) and p["request"]["url"].endswith(url_suffix),
        )
        return event["params"]["request"]["url"]

    def requests(self) -> list[str]:
        """Every URL the current page has asked for (CDP `Network.requestWillBeSent`)."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent" and self._current(e["params"])
        ]
