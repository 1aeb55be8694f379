"""The HTTP and websocket routes of ComfyUI 0.3.64 (also under `/api`), plus `/emulator/*`."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import mimetypes
import os
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from nightrun_dagster.emulator.catalogue import CUSTOM_VALIDATION, build_object_info
from nightrun_dagster.emulator.config import FOLDER_ALIASES, MODEL_FOLDERS, EmulatorConfig
from nightrun_dagster.emulator.executor import Faults, Pacing, PromptRun
from nightrun_dagster.emulator.files import Folders, parse_multipart, resolve_input
from nightrun_dagster.emulator.state import (
    SERVER_FEATURES,
    Connection,
    QueueItem,
    ServerState,
)
from nightrun_dagster.emulator.stats import Stats
from nightrun_dagster.emulator.validation import validate_prompt

log = logging.getLogger("nightrun.comfy_sim")

JSON_TYPE = "application/json; charset=utf-8"
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
GIB = 1024**3


def json_response(data: Any, status: int = 200) -> Response:
    """aiohttp's json_response: `json.dumps` defaults (", ", ": ") and a charset."""
    return Response(json.dumps(data), status_code=status, headers={"content-type": JSON_TYPE})


def empty(status: int = 200) -> Response:
    return Response(status_code=status)


def server_error() -> Response:
    return Response(
        "500 Internal Server Error\n\nServer got itself in trouble",
        status_code=500,
        media_type="text/plain",
    )


async def read_json(request: Request) -> Any:
    body = await request.body()
    return json.loads(body)


async def read_options(request: Request) -> dict[str, Any]:
    """A body of options: {} when it is empty, not JSON or not an object (all defaults)."""
    try:
        data = await read_json(request)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# The most wall time a compressed night's execution starts in the past (Emulator._start_of).
MAX_CATCH_UP_S = 1.0


class Emulator:
    """One server lifetime. A crash throws the whole object away; files and stats stay."""

    def __init__(
        self,
        config: EmulatorConfig,
        stats: Stats,
        folders: Folders,
        crash: Callable[[int | None], None],
    ) -> None:
        self.config = config
        self.stats = stats
        self.folders = folders
        self.crash = crash
        # Separate streams: preview names must not shift which executions OOM.
        self.fault_rng = random.Random(config.seed + stats.restarts)
        self.name_rng = random.Random(config.seed + stats.restarts + 1)
        self.state: ServerState | None = None
        self.worker: asyncio.Task[None] | None = None
        self.gpu_free_at = 0.0  # time.monotonic() the last execution ended
        self.pacing = Pacing()
        self.app = Starlette(routes=self._routes(), lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.state = ServerState()
        self.worker = asyncio.create_task(self._work(), name="comfy-sim-worker")
        try:
            yield
        finally:
            self.worker.cancel()

    @property
    def s(self) -> ServerState:
        assert self.state is not None, "the server has not started"
        return self.state

    def object_info(self) -> dict[str, dict[str, Any]]:
        return build_object_info(self.config.model_list, self.folders.input)

    # ------------------------------------------------------------ worker
    async def _work(self) -> None:
        state = self.s
        while True:
            item = await state.get()
            started = self._start_of(item)
            ordinal = self.stats.started(
                item.prompt_id,
                item.extra_data.get("nightrun"),
                at=self.config.now() - self.config.night_seconds(time.monotonic() - started),
            )
            faults = self._faults(ordinal)

            def crashed(started: float = started, pid: str = item.prompt_id) -> None:
                ms = (time.monotonic() - started) * 1000
                self.stats.ended(self.config.night_seconds(ms / 1000), "crashed", [])
                log.info("prompt %s crashed the server after %.0f ms", pid, ms)
                self.crash(None)

            run = PromptRun(
                state,
                self.config,
                self.folders,
                self.object_info(),
                item,
                faults,
                self.name_rng,
                crashed,
                started=started,
                pacing=self.pacing,
            )
            try:
                result = await run.run()
            except Exception:
                # An emulator bug must not wedge the queue: fail this prompt, keep serving.
                log.exception("prompt %s: the emulator failed", item.prompt_id)
                result = run.failed()
            state.task_done(item, result.history, result.status)
            client_id = item.extra_data.get("client_id")
            if client_id is not None:
                state.send("executing", {"node": None, "prompt_id": item.prompt_id}, client_id)
            self.stats.ended(
                self.config.night_seconds(result.seconds), result.outcome, result.prefixes
            )
            self.gpu_free_at = time.monotonic()
            log.info(
                "prompt %s %s in %.0f ms", item.prompt_id, result.outcome, result.seconds * 1000
            )

    def _start_of(self, item: QueueItem) -> float:
        """When an execution starts (time.monotonic()): now, or on a compressed night, for a
        prompt that waited behind another, when that one ended: a GPU goes from one queued
        prompt to the next at once, and the emulator's own bookkeeping between them, which a
        compressed clock would multiply into minutes, is not the GPU's (a second at most)."""
        now = time.monotonic()
        if self.config.time_scale is None:
            return now
        return min(now, max(item.queued_at, self.gpu_free_at, now - MAX_CATCH_UP_S))

    def _faults(self, ordinal: int) -> Faults:
        c = self.config
        oom = bool(c.oom_every and ordinal % c.oom_every == 0)
        if c.oom_probability > 0 and self.fault_rng.random() < c.oom_probability:
            oom = True
        stall = ordinal in c.stall_prompts
        if stall:
            self.stats.bump("stalls")
        return Faults(
            oom=oom,
            stall=stall,
            crash=bool(c.crash_after) and ordinal == c.crash_after,
            error=bool(c.error_every and ordinal % c.error_every == 0 and not oom),
        )

    # ------------------------------------------------------------ routes
    def _routes(self) -> list[BaseRoute]:
        comfy: list[tuple[str, Callable[..., Any], list[str]]] = [
            ("/prompt", self.get_prompt, ["GET"]),
            ("/prompt", self.post_prompt, ["POST"]),
            ("/queue", self.get_queue, ["GET"]),
            ("/queue", self.post_queue, ["POST"]),
            ("/history", self.get_history, ["GET"]),
            ("/history", self.post_history, ["POST"]),
            ("/history/{prompt_id}", self.get_history_item, ["GET"]),
            ("/object_info", self.get_object_info, ["GET"]),
            ("/object_info/{node_class}", self.get_object_info_class, ["GET"]),
            ("/models", self.get_models, ["GET"]),
            ("/models/{folder}", self.get_models_folder, ["GET"]),
            ("/embeddings", self.get_embeddings, ["GET"]),
            ("/system_stats", self.get_system_stats, ["GET"]),
            ("/features", self.get_features, ["GET"]),
            ("/view", self.get_view, ["GET"]),
            ("/upload/image", self.post_upload_image, ["POST"]),
            ("/interrupt", self.post_interrupt, ["POST"]),
            ("/free", self.post_free, ["POST"]),
        ]
        routes: list[BaseRoute] = []
        for prefix in ("", "/api"):
            routes += [Route(prefix + path, fn, methods=m) for path, fn, m in comfy]
            routes.append(WebSocketRoute(prefix + "/ws", self.websocket))
        routes += [
            Route("/emulator/stats", self.emulator_stats, methods=["GET"]),
            Route("/emulator/faults", self.emulator_get_faults, methods=["GET"]),
            Route("/emulator/faults", self.emulator_set_faults, methods=["POST"]),
            Route("/emulator/restart", self.emulator_restart, methods=["POST"]),
            Route("/emulator/drop_websockets", self.emulator_drop_websockets, methods=["POST"]),
        ]
        return routes

    async def get_prompt(self, request: Request) -> Response:
        return json_response(self.s.queue_info())

    async def post_prompt(self, request: Request) -> Response:
        state = self.s
        self.stats.bump("prompts_posted")
        if self.config.prompt_failures > 0:
            self.config.prompt_failures -= 1
            self.stats.bump("prompts_failed")
            return server_error()
        try:
            body = await read_json(request)
        except ValueError:
            return server_error()
        if not isinstance(body, dict):
            return server_error()
        if "number" in body:
            number: int | float = float(body["number"])
        else:
            number = state.number
            if body.get("front"):
                number = -number
            state.number += 1  # before validation: rejected prompts use a number too
        if "prompt" not in body:
            self.stats.bump("prompts_rejected")
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return json_response({"error": error, "node_errors": {}}, 400)
        prompt = body["prompt"]
        prompt_id = str(body.get("prompt_id", uuid.uuid4()))
        try:
            valid, error, outputs, node_errors = validate_prompt(
                prompt,
                self.object_info(),
                CUSTOM_VALIDATION,
                self._custom_check,
                body.get("partial_execution_targets"),
            )
        except Exception:
            log.exception("validation of %s raised", prompt_id)
            return server_error()
        extra_data = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra_data["client_id"] = body["client_id"]
        if not valid:
            self.stats.bump("prompts_rejected")
            log.info("prompt %s rejected: %s", prompt_id, (error or {}).get("type"))
            return json_response({"error": error, "node_errors": node_errors}, 400)
        for key in SENSITIVE_EXTRA_DATA_KEYS:
            extra_data.pop(key, None)
        state.put(QueueItem(number, prompt_id, prompt, extra_data, outputs))
        return json_response({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})

    def _custom_check(self, class_type: str, name: str, value: Any) -> str | bool:
        """The loaders' VALIDATE_INPUTS: the named input file must exist."""
        exists = isinstance(value, str) and resolve_input(value, self.folders) is not None
        if exists or name not in CUSTOM_VALIDATION.get(class_type, ()):
            return True
        kind = {"LoadLatent": "latent", "LoadVideo": "video"}.get(class_type, "image")
        return f"Invalid {kind} file: {value}"

    async def get_queue(self, request: Request) -> Response:
        running, pending = self.s.queue_lists()
        return json_response({"queue_running": running, "queue_pending": pending})

    async def post_queue(self, request: Request) -> Response:
        data = await read_json(request)
        if data.get("clear"):
            self.s.wipe_queue()
        for prompt_id in data.get("delete", []):
            self.s.delete_pending(prompt_id)
        return empty()

    async def get_history(self, request: Request) -> Response:
        query = request.query_params
        max_items = int(query["max_items"]) if "max_items" in query else None
        offset = int(query["offset"]) if "offset" in query else -1
        return json_response(self.s.get_history(max_items=max_items, offset=offset))

    async def get_history_item(self, request: Request) -> Response:
        return json_response(self.s.get_history(request.path_params["prompt_id"]))

    async def post_history(self, request: Request) -> Response:
        data = await read_json(request)
        if data.get("clear"):
            self.s.history.clear()
        for prompt_id in data.get("delete", []):
            self.s.history.pop(prompt_id, None)
        return empty()

    async def get_object_info(self, request: Request) -> Response:
        return json_response(self.object_info())

    async def get_object_info_class(self, request: Request) -> Response:
        name = request.path_params["node_class"]
        info = self.object_info()
        return json_response({name: info[name]} if name in info else {})

    async def get_models(self, request: Request) -> Response:
        return json_response(list(MODEL_FOLDERS))

    async def get_models_folder(self, request: Request) -> Response:
        folder = request.path_params["folder"]
        if folder not in MODEL_FOLDERS and folder not in FOLDER_ALIASES:
            return empty(404)
        return json_response(self.config.model_list(folder))

    async def get_embeddings(self, request: Request) -> Response:
        return json_response([])

    async def get_features(self, request: Request) -> Response:
        return json_response(SERVER_FEATURES)

    async def get_system_stats(self, request: Request) -> Response:
        total = self.config.vram_total
        # Free VRAM moves a little, like a real allocator's.
        jitter = int((time.time() * 1000) % 97) * 1024**2
        used = min(total, self.s.vram_used + 410 * 1024**2 + jitter)
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return json_response(
            {
                "system": {
                    "os": os.name,
                    "ram_total": pages,
                    "ram_free": free,
                    "comfyui_version": "0.3.64",
                    "required_frontend_version": "1.27.10",
                    "installed_templates_version": "0.1.95",
                    "required_templates_version": "0.1.95",
                    "python_version": sys.version,
                    "pytorch_version": "2.8.0+cu128",
                    "embedded_python": False,
                    "argv": ["main.py", "--listen", self.config.host, "--port", "8188"],
                },
                "devices": [
                    {
                        "name": "cuda:0 NVIDIA GeForce RTX 3080 : cudaMallocAsync",
                        "type": "cuda",
                        "index": 0,
                        "vram_total": total,
                        "vram_free": total - used,
                        "torch_vram_total": self.s.vram_used,
                        "torch_vram_free": max(0, self.s.vram_used // 20 - jitter // 4),
                    }
                ],
            }
        )

    async def get_view(self, request: Request) -> Response:
        query = request.query_params
        if "filename" not in query:
            return empty(404)
        self.stats.bump("views")
        if self.config.slow_view_ms > 0:
            await asyncio.sleep(self.config.slow_view_ms / 1000)
        filename = query["filename"]
        kind = None
        for annotated in ("output", "input", "temp"):
            if filename.endswith(f" [{annotated}]"):
                filename, kind = filename[: -len(annotated) - 3], annotated
        if not filename or filename[0] == "/" or ".." in filename:
            return empty(400)
        root = self.folders.by_type(kind or query.get("type", "output"))
        if root is None:
            return empty(400)
        folder = root
        if "subfolder" in query:
            folder = (root / query["subfolder"]).resolve()
            if os.path.commonpath((str(folder), str(root.resolve()))) != str(root.resolve()):
                return empty(403)
        path = folder / Path(filename).name
        if not path.is_file():
            return empty(404)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type in {"text/html", "application/xhtml+xml", "text/javascript", "text/css"}:
            content_type = "application/octet-stream"
        return FileResponse(
            path,
            headers={"content-disposition": f'filename="{path.name}"'},
            media_type=content_type,
        )

    async def post_upload_image(self, request: Request) -> Response:
        try:
            form = parse_multipart(await request.body(), request.headers.get("content-type", ""))
        except ValueError:
            return empty(400)
        image = form.get("image")
        if image is None or not image.filename:
            return empty(400)

        def text(name: str) -> str | None:
            part = form.get(name)
            return part.data.decode("utf-8", "replace") if part else None

        kind = text("type") or "input"
        root = self.folders.by_type(kind)
        if root is None:
            root, kind = self.folders.input, "input"
        subfolder = text("subfolder") or ""
        folder = (root / os.path.normpath(subfolder)).resolve()
        filename = image.filename
        path = (folder / filename).resolve()
        if os.path.commonpath((str(root.resolve()), str(path))) != str(root.resolve()):
            return empty(400)
        folder.mkdir(parents=True, exist_ok=True)
        overwrite = text("overwrite")
        duplicate = False
        if overwrite not in {"true", "1"}:
            stem, suffix = Path(filename).stem, Path(filename).suffix
            i = 1
            while path.exists():
                if (
                    hashlib.sha256(path.read_bytes()).digest()
                    == hashlib.sha256(image.data).digest()
                ):
                    duplicate = True
                    break
                filename = f"{stem} ({i}){suffix}"
                path = folder / filename
                i += 1
        if not duplicate:
            tmp = path.with_name(f".{path.name}.upload")
            tmp.write_bytes(image.data)
            tmp.replace(path)
        self.stats.bump("uploads")
        return json_response({"name": filename, "subfolder": subfolder, "type": kind})

    async def post_interrupt(self, request: Request) -> Response:
        prompt_id = (await read_options(request)).get("prompt_id")
        if prompt_id:
            if prompt_id in self.s.running:
                self.s.interrupt.set()
        else:
            self.s.interrupt.set()
        return empty()

    async def post_free(self, request: Request) -> Response:
        data = await read_json(request)
        if data.get("unload_models") or data.get("free_memory"):
            self.s.vram_used = 0
            self.stats.bump("frees")
        return empty()

    async def websocket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        state = self.s
        sid = websocket.query_params.get("clientId", "") or uuid.uuid4().hex
        previous = state.sockets.pop(sid, None)
        if previous is not None:
            await previous.close()
        connection = Connection(websocket, sid)
        state.sockets[sid] = connection
        connection.put(
            json.dumps({"type": "status", "data": {"status": state.queue_info(), "sid": sid}})
        )
        if state.client_id == sid and state.last_node_id is not None:
            # A client that reconnects mid-prompt learns which node runs.
            connection.put(json.dumps({"type": "executing", "data": {"node": state.last_node_id}}))
        first = True
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None:
                    continue
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                if first and isinstance(data, dict) and data.get("type") == "feature_flags":
                    flags = data.get("data")
                    connection.feature_flags = flags if isinstance(flags, dict) else {}
                    connection.put(json.dumps({"type": "feature_flags", "data": SERVER_FEATURES}))
                first = False
        except WebSocketDisconnect:
            pass
        finally:
            if state.sockets.get(sid) is connection:
                del state.sockets[sid]
            await connection.close()

    # ------------------------------------------------------------ emulator-only
    async def emulator_stats(self, request: Request) -> Response:
        snapshot = self.stats.snapshot()
        snapshot["queue_remaining"] = self.s.queue_info()["exec_info"]["queue_remaining"]
        return json_response(snapshot)

    async def emulator_get_faults(self, request: Request) -> Response:
        return json_response(self.config.faults())

    async def emulator_set_faults(self, request: Request) -> Response:
        try:
            changes = await read_json(request)
            self.config.update(changes)
        except KeyError as ex:
            return json_response({"error": f"unknown setting: {ex.args[0]}"}, 400)
        except (ValueError, TypeError, AttributeError) as ex:
            return json_response({"error": str(ex)}, 400)
        log.info("faults set: %s", changes)
        return json_response(self.config.faults())

    async def emulator_drop_websockets(self, request: Request) -> Response:
        """Close every websocket (a proxy's idle timeout, a network blip); HTTP stays up."""
        dropped = list(self.s.sockets.values())
        for connection in dropped:
            with contextlib.suppress(Exception):
                await connection.websocket.close(code=1001)
            await connection.close()
        return json_response({"dropped": len(dropped)})

    async def emulator_restart(self, request: Request) -> Response:
        down_ms = (await read_options(request)).get("down_ms")
        down = int(down_ms) if down_ms is not None else self.config.restart_down_ms
        # Answer first; the crash follows a moment later.
        asyncio.get_running_loop().call_later(0.05, self.crash, down)
        return json_response({"restarting": True, "down_ms": down})
