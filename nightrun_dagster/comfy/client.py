"""The async ComfyUI client: one object per server, explicit timeouts, typed errors.

Protocol facts it relies on (captured from a real server): the websocket is opened with our
`clientId` before posting; we choose each `prompt_id`; `executing` with `node: null` is the last
frame of every prompt; `/history/{id}` is `{}` both while queued and when unknown, so `/queue`
tells them apart; a 200 from `/prompt` can still carry `node_errors`; `execution_success` is
sent before the prompt enters the history, and a restart forgets the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from nightrun_dagster.comfy.errors import (
    ComfyError,
    ComfyExecutionError,
    ComfyInterrupted,
    ComfyLost,
    ComfyMissingModel,
    ComfyMissingNode,
    ComfyOOM,
    ComfyProtocolError,
    ComfyStalled,
    ComfyUnavailable,
    ComfyValidationError,
    MissingModel,
)
from nightrun_dagster.workflows.model_inputs import model_folder
from nightrun_dagster.workflows.uploads import input_ref

_UNKNOWN_CLASS = re.compile(r"node (\S+) does not exist")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
OUTPUT_FILE_KEYS = ("images", "gifs", "videos", "video", "audio", "files")
# Websocket records kept of prompts seen to succeed and not yet waited for (a bound, not a need).
_SEEN_FINISHED_MAX = 512
# The frames of a prompt that its /history entry also lists under status.messages.
_HISTORY_MESSAGES = frozenset({"execution_start", "execution_cached", "execution_success"})


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `stall` is time without any sign of progress, not total time: a long video
    render that keeps reporting progress never stalls."""

    connect: float = 5.0
    request: float = 30.0
    stall: float = 300.0
    poll: float = 3.0
    # How long `wait` polls an unreachable server before it raises ComfyUnavailable (the render
    # loop then waits the outage out itself, up to its patience, and asks again).
    unavailable: float = 60.0


@dataclass(frozen=True)
class Submitted:
    prompt_id: str
    number: int


@dataclass(frozen=True)
class OutputFile:
    node_id: str
    kind: str  # images, gifs, videos, …
    filename: str
    subfolder: str
    type: str  # output, temp or input


@dataclass(frozen=True)
class Outcome:
    """A prompt that finished successfully."""

    prompt_id: str
    history: dict[str, Any]  # the raw /history entry
    outputs: tuple[OutputFile, ...]
    started_ms: int | None  # server timestamps (epoch ms) from execution_start / _success
    finished_ms: int | None
    cached_nodes: tuple[str, ...] | None  # execution_cached's nodes; None: the server sent none

    @property
    def server_seconds(self) -> float | None:
        if self.started_ms is None or self.finished_ms is None:
            return None
        return max(0.0, (self.finished_ms - self.started_ms) / 1000)


@dataclass
class _PromptState:
    last_activity: float = field(default_factory=time.monotonic)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    running: bool = False
    # What the websocket told of it, in the shape of its /history entry.
    messages: list[list[Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueState:
    running: tuple[str, ...]
    pending: tuple[str, ...]

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self.running or prompt_id in self.pending


class ComfyClient:
    """One ComfyUI server. Use as `async with ComfyClient(url) as client:`."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id or f"nightrun-{uuid.uuid4().hex[:12]}"
        self.timeouts = timeouts or Timeouts()
        self._http: httpx.AsyncClient | None = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._prompts: dict[str, _PromptState] = {}
        # Prompts the websocket saw succeed, as history entries: a restart between
        # `execution_success` and our /history read forgets the prompt, but its files stay on
        # the server's disk, so it is harvested from this instead of being rendered again.
        self._seen_finished: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.reconnects = 0  # websocket reconnects: not failures, `wait` polls meanwhile
        # Reachability, from HTTP calls only (a websocket drop alone is not an outage): an
        # outage starts at the first unanswered call after the server has answered once, and
        # ends at the next answer. `on_reachability(up)` hears each change.
        self.down_since: float | None = None  # monotonic
        self.down_since_wall: datetime | None = None
        self.outages = 0
        self.on_reachability: Callable[[bool], None] | None = None
        self._answered = False

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> ComfyClient:
        t = self.timeouts
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=httpx.Timeout(t.request, connect=t.connect)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        if self._ws:
            with contextlib.suppress(Exception):
                await self._ws.close()
            self._ws = None
        if self._http:
            await self._http.aclose()
            self._http = None

    @property
    def ws_url(self) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit(
            (scheme, parts.netloc, parts.path + "/ws", f"clientId={self.client_id}", "")
        )

    async def open_socket(self) -> None:
        """Open `/ws?clientId=…` (before any POST) and keep it open, reconnecting as needed."""
        if self._reader is None:
            await self._connect_ws()
            self._reader = asyncio.create_task(self._read_forever(), name="comfy-ws-reader")

    async def _connect_ws(self) -> None:
        try:
            self._ws = await asyncio.wait_for(
                connect(self.ws_url, max_size=None, open_timeout=self.timeouts.connect),
                self.timeouts.connect + 1,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise ComfyUnavailable(f"{self.ws_url}: cannot open the websocket: {exc}") from exc

    async def _read_forever(self) -> None:
        delay = 0.2
        while True:
            ws = self._ws
            if ws is not None:
                try:
                    async for message in ws:
                        delay = 0.2
                        if isinstance(message, str):
                            self._on_text(message)
                        else:
                            self._touch_running()  # previews: the running prompt is alive
                except (OSError, WebSocketException):
                    pass
            self._ws = None
            # Frames sent while we were away are lost; `wait` falls back to /history polls.
            while self._ws is None:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                with contextlib.suppress(ComfyUnavailable):
                    await self._connect_ws()
                    self.reconnects += 1
                    for state in self._prompts.values():
                        state.done.set()  # wake waiters so they poll /history now

    def _on_text(self, raw: str) -> None:
        try:
            msg = json.loads(raw)
        except json.JSONDecodeError:
            return
        data = msg.get("data") if isinstance(msg, dict) else None
        if not isinstance(data, dict):
            return
        if msg.get("type") == "progress_state" or "prompt_id" not in data:
            self._touch_running()
            return
        state = self._prompts.get(str(data["prompt_id"]))
        if state is None:
            return
        state.last_activity = time.monotonic()
        kind = msg.get("type")
        if kind == "execution_start":
            state.running = True
        if kind in _HISTORY_MESSAGES:
            state.messages.append([kind, data])
        if kind == "executed" and isinstance(data.get("output"), dict):
            state.outputs[str(data.get("node"))] = data["output"]
        if kind == "execution_success":
            self._remember_success(str(data["prompt_id"]), state)
        if kind == "executing" and data.get("node") is None:
            state.done.set()

    def _remember_success(self, prompt_id: str, state: _PromptState) -> None:
        self._seen_finished[prompt_id] = {
            "prompt": [],
            "outputs": dict(state.outputs),
            "status": {"status_str": "success", "completed": True, "messages": state.messages},
            "meta": {},
            "from_websocket": True,
        }
        while len(self._seen_finished) > _SEEN_FINISHED_MAX:
            self._seen_finished.popitem(last=False)

    def _touch_running(self) -> None:
        now = time.monotonic()
        for state in self._prompts.values():
            if state.running:
                state.last_activity = now

    # ------------------------------------------------------------------ reachability
    def _unreachable(self) -> None:
        if self.down_since is not None or not self._answered:
            return  # already down, or never up (a server that has not answered yet)
        self.down_since = time.monotonic()
        self.down_since_wall = datetime.now(UTC)
        self.outages += 1
        if self.on_reachability is not None:
            self.on_reachability(False)

    def _reachable(self) -> None:
        self._answered = True
        if self.down_since is None:
            return
        if self.on_reachability is not None:
            self.on_reachability(True)  # sees down_since: how long it lasted
        self.down_since = self.down_since_wall = None

    # ------------------------------------------------------------------ HTTP helpers
    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._http is None:
            raise RuntimeError("use `async with ComfyClient(...)` before calling it")
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            self._unreachable()
            raise ComfyUnavailable(f"{method} {self.base_url}{path}: {exc!r}") from exc
        if response.status_code >= 500:
            self._unreachable()
            status, text = response.status_code, response.text[:300]
            raise ComfyUnavailable(f"{method} {self.base_url}{path}: HTTP {status}: {text}")
        self._reachable()
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        if response.status_code != 200:
            raise ComfyProtocolError(
                f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ComfyProtocolError(f"{method} {path}: not JSON: {response.text[:200]}") from exc

    # ------------------------------------------------------------------ discovery
    async def system_stats(self) -> dict[str, Any]:
        return await self._json("GET", "/system_stats")

    async def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        return await self._json(
            "GET", f"/object_info/{node_class}" if node_class else "/object_info"
        )

    async def model_folders(self) -> list[str]:
        return list(await self._json("GET", "/models"))

    async def models(self, folder: str) -> list[str]:
        return list(await self._json("GET", f"/models/{folder}"))

    async def queue(self) -> QueueState:
        data = await self._json("GET", "/queue")
        return QueueState(
            running=tuple(str(item[1]) for item in data.get("queue_running", [])),
            pending=tuple(str(item[1]) for item in data.get("queue_pending", [])),
        )

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The prompt's history entry, or None while queued, running, or unknown."""
        data = await self._json("GET", f"/history/{prompt_id}")
        entry = data.get(prompt_id) if isinstance(data, dict) else None
        return entry if isinstance(entry, dict) else None

    # ------------------------------------------------------------------ control
    async def upload_image(
        self, path: Path, *, name: str | None = None, subfolder: str = "", overwrite: bool = True
    ) -> str:
        """Upload an input image; returns the name LoadImage must use."""
        files = {"image": (name or path.name, path.read_bytes(), "application/octet-stream")}
        data = {
            "overwrite": "true" if overwrite else "false",
            "type": "input",
            "subfolder": subfolder,
        }
        body = await self._json("POST", "/upload/image", files=files, data=data)
        return input_ref(str(body["name"]), body.get("subfolder") or "")

    async def interrupt(self, prompt_id: str | None = None) -> None:
        payload = {"prompt_id": prompt_id} if prompt_id else {}
        await self._request("POST", "/interrupt", json=payload)

    async def delete_from_queue(self, prompt_ids: list[str]) -> None:
        await self._request("POST", "/queue", json={"delete": prompt_ids})

    async def delete_history(self, prompt_ids: list[str]) -> None:
        await self._request("POST", "/history", json={"delete": prompt_ids})

    async def free(self, *, unload_models: bool = True, free_memory: bool = True) -> None:
        """Release VRAM (after an OOM, before retrying smaller)."""
        await self._request(
            "POST", "/free", json={"unload_models": unload_models, "free_memory": free_memory}
        )

    # ------------------------------------------------------------------ prompts
    async def submit(
        self,
        graph: Mapping[str, Any],
        *,
        prompt_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
    ) -> Submitted:
        """Queue a graph under our own prompt id. Rejections raise ComfyValidationError (or its
        ComfyMissingModel / ComfyMissingNode kinds); a partial acceptance is removed again."""
        await self.open_socket()
        pid = prompt_id or str(uuid.uuid4())
        self._prompts.setdefault(pid, _PromptState())
        body: dict[str, Any] = {"prompt": graph, "client_id": self.client_id, "prompt_id": pid}
        if extra_data:
            body["extra_data"] = dict(extra_data)
        response = await self._request("POST", "/prompt", json=body)
        try:
            data = response.json()
        except ValueError as exc:
            self._prompts.pop(pid, None)
            raise ComfyProtocolError(f"POST /prompt: not JSON: {response.text[:200]}") from exc
        if response.status_code == 200:
            node_errors = data.get("node_errors") or {}
            if node_errors:
                # Part of the graph was accepted and queued; a render missing outputs is useless.
                with contextlib.suppress(ComfyError):
                    await self.delete_from_queue([pid])
                    await self.interrupt(pid)
                self._prompts.pop(pid, None)
                raise classify_rejection({"type": "partially_valid"}, node_errors)
            return Submitted(str(data.get("prompt_id", pid)), int(data.get("number", -1)))
        self._prompts.pop(pid, None)
        if response.status_code == 400:
            raise classify_rejection(data.get("error") or {}, data.get("node_errors") or {})
        raise ComfyProtocolError(
            f"POST /prompt: HTTP {response.status_code}: {response.text[:300]}"
        )

    async def wait(self, prompt_id: str) -> Outcome:
        """Until the prompt ends. Raises ComfyOOM, ComfyExecutionError, ComfyInterrupted,
        ComfyStalled (after interrupting it), ComfyLost or ComfyUnavailable."""
        state = self._prompts.setdefault(prompt_id, _PromptState())
        unreachable_since: float | None = None
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.done.wait(), self.timeouts.poll)
                state.done.clear()
                try:
                    entry = await self.history(prompt_id)
                    if entry is not None and _finished(entry):
                        return outcome_from_history(prompt_id, entry)
                    queue = await self.queue()
                except ComfyUnavailable:
                    seen = self._seen_finished.get(prompt_id)
                    if seen is not None:  # it ended before the server went away
                        return outcome_from_history(prompt_id, seen)
                    now = time.monotonic()
                    unreachable_since = unreachable_since or now
                    if now - unreachable_since > self.timeouts.unavailable:
                        raise
                    continue
                unreachable_since = None
                if prompt_id in queue.pending:
                    state.last_activity = time.monotonic()  # waiting its turn is not a stall
                elif prompt_id in queue.running:
                    state.running = True
                else:
                    # Finished between the two calls, or forgotten by a restarted server.
                    entry = await self.history(prompt_id)
                    if entry is not None and _finished(entry):
                        return outcome_from_history(prompt_id, entry)
                    seen = self._seen_finished.get(prompt_id)
                    if seen is not None:  # forgotten after it succeeded: its files remain
                        return outcome_from_history(prompt_id, seen)
                    raise ComfyLost(prompt_id)
                idle = time.monotonic() - state.last_activity
                if idle > self.timeouts.stall:
                    with contextlib.suppress(ComfyError):
                        await self.delete_from_queue([prompt_id])
                        await self.interrupt(prompt_id)
                    raise ComfyStalled(prompt_id, idle)
        finally:
            self._prompts.pop(prompt_id, None)
            self._seen_finished.pop(prompt_id, None)

    async def download(self, output: OutputFile, dest: Path) -> int:
        """Stream one output file from `/view` to `dest` (a temporary sibling, then renamed).
        Returns its size in bytes."""
        params = {"filename": output.filename, "subfolder": output.subfolder, "type": output.type}
        if self._http is None:
            raise RuntimeError("use `async with ComfyClient(...)` before calling it")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.download")
        size = 0
        try:
            async with self._http.stream("GET", "/view", params=params) as response:
                if response.status_code == 404:
                    raise ComfyProtocolError(f"/view: {output.filename} is not on the server (404)")
                if response.status_code >= 500:
                    self._unreachable()
                if response.status_code != 200:
                    raise ComfyUnavailable(f"/view {output.filename}: HTTP {response.status_code}")
                self._reachable()
                with tmp.open("wb") as fh:
                    async for chunk in response.aiter_bytes(1 << 20):
                        fh.write(chunk)
                        size += len(chunk)
            tmp.replace(dest)
        except httpx.TransportError as exc:
            self._unreachable()
            raise ComfyUnavailable(f"/view {output.filename}: {exc!r}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return size


def safe_filename(server_name: str) -> str:
    """A server-given file name reduced to one safe path component (never `..` or a folder)."""
    base = PurePosixPath(server_name.replace("\\", "/")).name
    cleaned = _SAFE_NAME.sub("_", base).lstrip(".")
    return cleaned or "output"


def classify_rejection(error: dict[str, Any], node_errors: dict[str, Any]) -> ComfyValidationError:
    """The typed error for a rejected prompt."""
    missing: list[MissingModel] = []
    for node_id, entry in node_errors.items():
        for err in entry.get("errors", []):
            extra = err.get("extra_info") or {}
            name = str(extra.get("input_name", ""))
            class_type = str(entry.get("class_type", ""))
            # A value missing from a model input's list is a model the server lacks.
            if err.get("type") == "value_not_in_list" and model_folder(class_type, name):
                missing.append(
                    MissingModel(
                        str(node_id),
                        class_type,
                        name,
                        str(extra.get("received_value", "")),
                    )
                )
    if missing:
        return ComfyMissingModel(missing, error, node_errors)
    match = _UNKNOWN_CLASS.search(str(error.get("message", "")))
    if error.get("type") == "invalid_prompt" and match:
        return ComfyMissingNode([match.group(1)], error, node_errors)
    details = "; ".join(
        f"node {nid} ({entry.get('class_type')}): "
        + ", ".join(
            f"{e.get('type')}: {e.get('details') or e.get('message')}"
            for e in entry.get("errors", [])
        )
        for nid, entry in node_errors.items()
    )
    message = (
        f"{error.get('type', 'invalid')}: {error.get('message', '')} {error.get('details', '')}"
    )
    return ComfyValidationError(f"{message.strip()}; {details}".rstrip("; "), error, node_errors)


def _finished(entry: dict[str, Any]) -> bool:
    status = entry.get("status") or {}
    return bool(status.get("completed")) or status.get("status_str") in {"success", "error"}


def outcome_from_history(prompt_id: str, entry: dict[str, Any]) -> Outcome:
    """Success as an Outcome; failures raised as their typed errors."""
    status = entry.get("status") or {}
    messages = {kind: data for kind, data in status.get("messages", []) if isinstance(data, dict)}
    if "execution_error" in messages:
        detail = messages["execution_error"]
        kind = (
            ComfyOOM
            if "OutOfMemoryError" in str(detail.get("exception_type", ""))
            else ComfyExecutionError
        )
        raise kind(prompt_id, detail, entry)
    if "execution_interrupted" in messages or status.get("status_str") == "error":
        raise ComfyInterrupted(prompt_id, entry)
    outputs = []
    for node_id, node_out in (entry.get("outputs") or {}).items():
        for kind in OUTPUT_FILE_KEYS:
            for item in node_out.get(kind, []) or []:
                if isinstance(item, dict) and "filename" in item:
                    outputs.append(
                        OutputFile(
                            str(node_id),
                            kind,
                            str(item["filename"]),
                            str(item.get("subfolder", "")),
                            str(item.get("type", "output")),
                        )
                    )
    start = messages.get("execution_start", {}).get("timestamp")
    end = messages.get("execution_success", {}).get("timestamp")
    cached_message = messages.get("execution_cached")
    cached = (
        tuple(str(n) for n in cached_message.get("nodes", []) or [])
        if cached_message is not None
        else None
    )
    return Outcome(prompt_id, entry, tuple(outputs), start, end, cached)
