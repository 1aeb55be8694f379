"""A bare protocol driver (httpx + websockets) for scripted checks of the emulator, recording
frames the way the captures in comfyui-protocol/ record them. Not the production client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from nightrun_dagster.emulator.shape import binary_frame

Frame = dict[str, Any]


def record(message: str | bytes) -> Frame:
    if isinstance(message, bytes):
        return binary_frame(message)
    return {"kind": "text", "raw": message, "json": json.loads(message)}


def is_done(prompt_id: str) -> Callable[[Frame], bool]:
    """The last frame of a prompt: `executing` with node null."""

    def done(frame: Frame) -> bool:
        data = frame.get("json", {}).get("data", {})
        return (
            frame.get("json", {}).get("type") == "executing"
            and data.get("node") is None
            and data.get("prompt_id") == prompt_id
        )

    return done


def http_record(response: httpx.Response) -> dict[str, Any]:
    """status, content type, headers and parsed body of one response."""
    out: dict[str, Any] = {
        "status": response.status_code,
        "content_type": response.headers.get("content-type"),
        "headers": dict(response.headers),
        "body": response.content,
    }
    if out["content_type"] and out["content_type"].startswith("application/json"):
        out["response"] = response.json()
    return out


class Socket:
    """One `/ws` connection whose frames are kept in arrival order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Frame] = []

    @classmethod
    async def open(cls, ws_url: str, client_id: str | None = None) -> Socket:
        url = f"{ws_url}?clientId={client_id}" if client_id else ws_url
        return cls(await connect(url, max_size=None))

    async def next(self, timeout: float = 10.0) -> Frame:
        frame = record(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def until(self, stop: Callable[[Frame], bool], timeout: float = 15.0) -> list[Frame]:
        """Frames up to and including the first that satisfies `stop`."""
        start = len(self.frames)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.next(max(0.01, deadline - loop.time()))
            if stop(frame):
                return self.frames[start:]

    async def drain(self, quiet: float = 0.2) -> list[Frame]:
        """Whatever arrives until the socket has been quiet for `quiet` seconds."""
        start = len(self.frames)
        while True:
            try:
                await self.next(quiet)
            except TimeoutError:
                return self.frames[start:]

    async def send_json(self, data: Any) -> None:
        await self.ws.send(json.dumps(data))

    async def close(self) -> None:
        await self.ws.close()


def executing_node(node: str) -> Callable[[Frame], bool]:
    def match(frame: Frame) -> bool:
        j = frame.get("json", {})
        return j.get("type") == "executing" and j.get("data", {}).get("node") == node

    return match


async def run_prompt(
    http: httpx.AsyncClient, ws_url: str, body: dict[str, Any], timeout: float = 30.0
) -> tuple[httpx.Response, list[Frame]]:
    """Open a socket as body's client_id, POST the body, collect frames until it is done."""
    socket = await Socket.open(ws_url, body.get("client_id"))
    try:
        response = await http.post("/prompt", json=body)
        if response.status_code != 200:
            return response, socket.frames
        await socket.until(is_done(response.json()["prompt_id"]), timeout)
        return response, socket.frames
    finally:
        await socket.close()
