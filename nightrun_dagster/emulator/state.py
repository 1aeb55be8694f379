"""One server lifetime: the prompt queue, history, websockets and cache (all lost on a crash)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

MAXIMUM_HISTORY_SIZE = 10000
SERVER_FEATURES = {"supports_preview_metadata": True, "max_upload_size": 104857600}


class Connection:
    """One websocket. Frames go through a queue so a slow client never blocks the worker."""

    def __init__(self, websocket: WebSocket, sid: str) -> None:
        self.websocket = websocket
        self.sid = sid
        self.feature_flags: dict[str, Any] = {}
        self._outbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._pump = asyncio.create_task(self._send_all(), name=f"ws-{sid}")

    def put(self, message: str | bytes) -> None:
        self._outbox.put_nowait(message)

    async def _send_all(self) -> None:
        while True:
            message = await self._outbox.get()
            if message is None:
                return
            try:
                if isinstance(message, bytes):
                    await self.websocket.send_bytes(message)
                else:
                    await self.websocket.send_text(message)
            except Exception:
                return

    async def close(self) -> None:
        self._outbox.put_nowait(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._pump, 1.0)


@dataclass
class QueueItem:
    number: int | float
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]
    # time.monotonic() when POST /prompt queued it: on a compressed night a prompt that waited
    # behind another starts when that one ended, as on a GPU (see Emulator._work).
    queued_at: float = field(default_factory=time.monotonic, compare=False)

    def as_list(self) -> list[Any]:
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]


@dataclass
class CacheEntry:
    outputs: tuple[Any, ...]
    ui: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None


@dataclass
class ServerState:
    """What ComfyUI's PromptServer and PromptQueue hold."""

    number: int = 0
    pending: list[tuple[Any, int, QueueItem]] = field(default_factory=list)
    running: dict[str, QueueItem] = field(default_factory=dict)
    history: dict[str, dict[str, Any]] = field(default_factory=dict)
    sockets: dict[str, Connection] = field(default_factory=dict)
    cache: dict[str, CacheEntry] = field(default_factory=dict)
    client_id: str | None = None
    last_node_id: str | None = None
    vram_used: int = 0  # bytes the loaded models take (system_stats reports the rest free)
    interrupt: asyncio.Event = field(default_factory=asyncio.Event)
    # Set by the host the moment it crashes this lifetime (from any thread): a real crash is
    # instant, so nothing this lifetime does afterwards reaches a client or finishes a prompt.
    dead: bool = False
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    # ------------------------------------------------------------ websockets
    def send(self, event: str, data: Any, sid: str | None) -> None:
        """server.send_sync: to one client, or to every socket when sid is None."""
        message = json.dumps({"type": event, "data": data})
        self._deliver(message, sid)

    def send_bytes(self, event: int, payload: bytes, sid: str | None) -> None:
        self._deliver(struct.pack(">I", event) + payload, sid)

    def _deliver(self, message: str | bytes, sid: str | None) -> None:
        if self.dead:
            return
        if sid is None:
            for connection in list(self.sockets.values()):
                connection.put(message)
        elif sid in self.sockets:
            self.sockets[sid].put(message)

    def supports(self, sid: str | None, flag: str) -> bool:
        connection = self.sockets.get(sid) if sid is not None else None
        return bool(connection and connection.feature_flags.get(flag))

    # ------------------------------------------------------------ queue
    def queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": len(self.pending) + len(self.running)}}

    def queue_updated(self) -> None:
        self.send("status", {"status": self.queue_info()}, None)

    def put(self, item: QueueItem) -> None:
        heapq.heappush(self.pending, (item.number, next(self._seq), item))
        self.queue_updated()
        self._wakeup.set()

    async def get(self) -> QueueItem:
        while not self.pending:
            self._wakeup.clear()
            await self._wakeup.wait()
        _, _, item = heapq.heappop(self.pending)
        self.running[item.prompt_id] = item
        self.queue_updated()
        return item

    def task_done(self, item: QueueItem, result: dict[str, Any], status: dict[str, Any]) -> None:
        self.running.pop(item.prompt_id, None)
        if len(self.history) > MAXIMUM_HISTORY_SIZE:
            self.history.pop(next(iter(self.history)))
        entry: dict[str, Any] = {"prompt": item.as_list(), "outputs": {}, "status": status}
        entry.update(result)
        self.history[item.prompt_id] = entry
        self.queue_updated()

    def delete_pending(self, prompt_id: str) -> bool:
        for index, (_, _, item) in enumerate(self.pending):
            if item.prompt_id == prompt_id:
                self.pending.pop(index)
                heapq.heapify(self.pending)
                self.queue_updated()
                return True
        return False

    def wipe_queue(self) -> None:
        self.pending.clear()
        self.queue_updated()

    def queue_lists(self) -> tuple[list[Any], list[Any]]:
        running = [item.as_list() for item in self.running.values()]
        pending = [entry[2].as_list() for entry in sorted(self.pending, key=lambda e: e[:2])]
        return running, pending

    # ------------------------------------------------------------ history
    def get_history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        if prompt_id is not None:
            return {prompt_id: self.history[prompt_id]} if prompt_id in self.history else {}
        out: dict[str, Any] = {}
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        for i, key in enumerate(self.history):
            if i >= offset:
                out[key] = self.history[key]
                if max_items is not None and len(out) >= max_items:
                    break
        return out
