"""A fake Telegram Bot API server (Starlette + uvicorn on loopback) that the tests run."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# Fields that the real server reads as plain strings; everything else arrives JSON-encoded.
_STRING_FIELDS = {"text", "caption", "callback_query_id", "parse_mode", "inline_message_id"}
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode_value(key: str, value: str) -> Any:
    if key in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    # Parsed with the stdlib so the fake needs no python-multipart.
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = payload
        else:
            params[name] = _decode_value(name, payload.decode("utf-8"))
    return params, files


class _AsciiJSON(JSONResponse):
    """JSON with non-ASCII as \\u escapes, so a lone surrogate in an update travels as the
    Bot API can send it ("\\udc80") instead of failing to encode as UTF-8."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class _ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


class FakeBotAPI:
    """`with FakeBotAPI(token) as api:` then `Bot(token, base_url=api.base_url)`."""

    def __init__(self, token: str, *, bot_id: int = 999_000, username: str = "nightrun_bot"):
        self.token = token
        self.bot_user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "NightRun",
            "username": username,
        }
        self.calls: list[Call] = []
        self.messages: dict[int, dict[str, Any]] = {}  # message_id → current message
        self.media: list[dict[str, Any]] = []  # one entry per photo delivered
        self.documents: list[dict[str, Any]] = []  # originals sent as files
        self.answers: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []  # pending, unconfirmed updates
        self.callback_ids: dict[int, str] = {}  # update_id → callback query id, to match answers
        self.rejected_tokens = 0
        self.throttled: list[str] = []  # methods answered with 429, in order
        self._lock = threading.Lock()
        self._msg_ids = itertools.count(1)
        self._update_ids = itertools.count(1000)
        self._cq_ids = itertools.count(1)
        self._fail: list[tuple[int, set[str] | None]] = []  # (retry_after, methods) per call
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> FakeBotAPI:
        app = Starlette(
            routes=[Route("/bot{token}/{method}", self._endpoint, methods=["POST", "GET"])]
        )
        # No access log: request paths contain the token.
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-bot-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake Bot API server did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- test helpers ----------------------------------------------------------------------
    def fail_next(self, n: int = 1, *, retry_after: int = 1, methods: set[str] | None = None):
        """The next `n` calls (of `methods`, or any) answer 429 with `retry_after`."""
        with self._lock:
            self._fail.extend([(retry_after, methods)] * n)

    def inject_callback(
        self,
        *,
        user_id: int,
        chat_id: int,
        message_id: int,
        data: str,
        username: str | None = None,
        first_name: str = "Reviewer",
    ) -> int:
        """Queue a callback_query update as if `user_id` tapped a button; its update_id."""
        with self._lock:
            message = dict(self.messages.get(message_id) or self._new_message(chat_id, {}))
            message["message_id"] = message_id
            message["chat"] = {"id": chat_id, "type": "supergroup", "title": "review"}
            user = {"id": user_id, "is_bot": False, "first_name": first_name}
            if username:
                user["username"] = username
            update_id = next(self._update_ids)
            # Telegram's ids are long digit strings of steady width; so are these.
            cq_id = f"{next(self._cq_ids):019d}"
            self.callback_ids[update_id] = cq_id
            self.updates.append(
                {
                    "update_id": update_id,
                    "callback_query": {
                        "id": cq_id,
                        "from": user,
                        "message": message,
                        "chat_instance": f"ci{chat_id}",
                        "data": data,
                    },
                }
            )
            return update_id

    def inject_message(self, *, user_id: int, chat_id: int, text: str) -> int:
        with self._lock:
            update_id = next(self._update_ids)
            message = self._new_message(chat_id, {"text": text})
            message["from"] = {"id": user_id, "is_bot": False, "first_name": "Someone"}
            self.updates.append({"update_id": update_id, "message": message})
            return update_id

    def sent(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def keyboards(self) -> list[list[list[dict[str, Any]]]]:
        """Inline keyboards of every message sent, in order."""
        return [
            c.params["reply_markup"]["inline_keyboard"]
            for c in self.calls
            if isinstance(c.params.get("reply_markup"), dict) and c.method.startswith("send")
        ]

    # ---- server side -----------------------------------------------------------------------
    def _new_message(self, chat_id: Any, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": next(self._msg_ids),
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": "supergroup", "title": "review"},
            "from": self.bot_user,
            **extra,
        }

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            self.rejected_tokens += 1
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401
            )
        method = request.path_params["method"]
        body = await request.body()
        ctype = request.headers.get("content-type", "")
        files: dict[str, bytes] = {}
        if ctype.startswith("multipart/form-data"):
            params, files = _parse_multipart(ctype, body)
        elif ctype.startswith("application/json"):
            params = json.loads(body or b"{}")
        else:
            params = {k: _decode_value(k, v) for k, v in parse_qsl(body.decode())}
            params.update({k: _decode_value(k, v) for k, v in request.query_params.items()})
        try:
            if method == "getUpdates":
                result = await self._get_updates(params)
            else:
                with self._lock:
                    self._maybe_fail(method)
                    self.calls.append(Call(method, params, files))
                    result = self._dispatch(method, params, files)
        except _ApiError as exc:
            payload: dict[str, Any] = {
                "ok": False,
                "error_code": exc.code,
                "description": exc.description,
            }
            if exc.parameters:
                payload["parameters"] = exc.parameters
            return _AsciiJSON(payload, status_code=exc.code)
        return _AsciiJSON({"ok": True, "result": result})

    def _maybe_fail(self, method: str) -> None:
        for i, (retry_after, methods) in enumerate(self._fail):
            if methods is None or method in methods:
                del self._fail[i]
                self.throttled.append(method)
                raise _ApiError(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = params.get("offset")
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._maybe_fail("getUpdates")
                if offset is not None:
                    # An offset confirms (and forgets) every update before it, as Telegram does.
                    self.updates = [u for u in self.updates if u["update_id"] >= int(offset)]
                ready = [u for u in self.updates if not allowed or any(k in u for k in allowed)][
                    : int(params.get("limit") or 100)
                ]
            if ready or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.02)

    def _check_markup(self, params: dict[str, Any]) -> None:
        markup = params.get("reply_markup")
        if not isinstance(markup, dict):
            return
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and len(data.encode()) > CALLBACK_DATA_LIMIT:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _check_caption(self, caption: Any) -> None:
        if isinstance(caption, str) and _utf16_len(caption) > CAPTION_LIMIT:
            raise _ApiError(400, "Bad Request: message caption is too long")

    def _photo(self, ref: Any, files: dict[str, bytes]) -> list[dict[str, Any]]:
        if isinstance(ref, str) and ref.startswith("attach://"):
            name = ref.removeprefix("attach://")
            if name not in files:
                raise _ApiError(400, f"Bad Request: file {name} not found in the request")
            data = files[name]
        elif isinstance(ref, str) and ref in files:
            data = files[ref]
        else:
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if not data:
            raise _ApiError(400, "Bad Request: file must be non-empty")
        n = len(self.media) + 1
        self.media.append({"bytes": len(data)})
        return [{"file_id": f"photo{n}", "file_unique_id": f"u{n}", "width": 320, "height": 400}]

    def _dispatch(self, method: str, p: dict[str, Any], files: dict[str, bytes]) -> Any:
        if method == "getMe":
            return self.bot_user
        if method == "sendMessage":
            text = p.get("text")
            if not text:
                raise _ApiError(400, "Bad Request: message text is empty")
            if _utf16_len(text) > TEXT_LIMIT:
                raise _ApiError(400, "Bad Request: message is too long")
            self._check_markup(p)
            extra = {"text": text}
            if p.get("reply_markup"):
                extra["reply_markup"] = p["reply_markup"]
            msg = self._new_message(p["chat_id"], extra)
            self.messages[msg["message_id"]] = msg
            return msg
        if method == "sendPhoto":
            self._check_caption(p.get("caption"))
            self._check_markup(p)
            # A file upload arrives as a multipart part named after the field.
            ref = "photo" if "photo" in files else p.get("photo")
            extra = {"photo": self._photo(ref, files)}
            if p.get("caption"):
                extra["caption"] = p["caption"]
            msg = self._new_message(p["chat_id"], extra)
            self.messages[msg["message_id"]] = msg
            return msg
        if method == "sendDocument":
            self._check_caption(p.get("caption"))
            if "document" not in files:
                raise _ApiError(400, "Bad Request: there is no document in the request")
            data = files["document"]
            reply = p.get("reply_parameters")
            self.documents.append(
                {
                    "chat_id": p["chat_id"],
                    "bytes": len(data),
                    "data": data,
                    "reply_to": reply.get("message_id") if isinstance(reply, dict) else None,
                }
            )
            n = len(self.documents)
            extra = {"document": {"file_id": f"doc{n}", "file_unique_id": f"udoc{n}"}}
            msg = self._new_message(p["chat_id"], extra)
            self.messages[msg["message_id"]] = msg
            return msg
        if method == "sendMediaGroup":
            media = p.get("media")
            if not isinstance(media, list) or not 2 <= len(media) <= 10:
                raise _ApiError(400, "Bad Request: wrong number of media in the group (2-10)")
            if "reply_markup" in p:
                raise _ApiError(400, "Bad Request: media groups cannot have a reply markup")
            out = []
            group = f"g{len(self.media)}"
            for item in media:
                if item.get("type") != "photo":
                    raise _ApiError(400, "Bad Request: unsupported media type in this test server")
                self._check_caption(item.get("caption"))
                extra = {"photo": self._photo(item.get("media"), files), "media_group_id": group}
                if item.get("caption"):
                    extra["caption"] = item["caption"]
                msg = self._new_message(p["chat_id"], extra)
                self.messages[msg["message_id"]] = msg
                out.append(msg)
            return out
        if method in ("editMessageText", "editMessageCaption", "editMessageReplyMarkup"):
            msg = self.messages.get(int(p.get("message_id") or 0))
            if msg is None or msg["chat"]["id"] != int(p.get("chat_id") or 0):
                raise _ApiError(400, "Bad Request: message to edit not found")
            self._check_markup(p)
            if method == "editMessageText":
                if "text" not in msg:
                    raise _ApiError(400, "Bad Request: there is no text in the message to edit")
                msg["text"] = p["text"]
            elif method == "editMessageCaption":
                self._check_caption(p.get("caption"))
                msg["caption"] = p.get("caption", "")
            if p.get("reply_markup"):
                msg["reply_markup"] = p["reply_markup"]
            else:
                msg.pop("reply_markup", None)
            self.edits.append({"method": method, **p})
            return msg
        if method == "answerCallbackQuery":
            self.answers.append(p)
            return True
        raise _ApiError(404, "Not Found: method not found")
