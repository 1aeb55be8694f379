"""Signed, expiring inline-button callback data: `action:artifact:expiry:tag` in ≤ 64 bytes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

ACTIONS: dict[str, str] = {"a": "approve", "f": "favorite", "r": "reject"}
CODES: dict[str, str] = {decision: code for code, decision in ACTIONS.items()}
MAX_CALLBACK_BYTES = 64  # Telegram's limit; python-telegram-bot does not check it
TAG_BYTES = 12
ARTIFACT_LEN = 10


class BadCallback(Exception):
    """Callback data that must not be acted on; `reason` is one of the REASON_* strings."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


REASON_MALFORMED = "malformed"
REASON_BAD_TAG = "bad tag"
REASON_EXPIRED = "expired"
REASON_UNKNOWN_ACTION = "unknown action"


@dataclass(frozen=True)
class SignedAction:
    code: str  # a, f or r
    decision: str  # approve, favorite or reject
    artifact: str
    expiry: int


def artifact_id(night: str, job_key: str, variant_id: str) -> str:
    """Short, stable id of one candidate: 10 lower-case base32 chars of sha256 (50 bits)."""
    digest = hashlib.sha256(f"{night}/{job_key}/{variant_id}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:ARTIFACT_LEN]


def _key_bytes(key: bytes | str) -> bytes:
    return key.encode() if isinstance(key, str) else key


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _tag(payload: str, key: bytes | str) -> str:
    mac = hmac.new(_key_bytes(key), payload.encode(), hashlib.sha256).digest()[:TAG_BYTES]
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def sign(action: str, artifact: str, expiry: int, key: bytes | str) -> str:
    """Callback data for `action` (a/f/r or approve/favorite/reject) valid until `expiry`."""
    code = CODES.get(action, action)
    if code not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if expiry < 0:
        raise ValueError("expiry must be a non-negative unix time")
    payload = f"{code}:{artifact}:{_base36(int(expiry))}"
    data = f"{payload}:{_tag(payload, key)}"
    # Telegram rejects longer data with BUTTON_DATA_INVALID, and only at send time.
    assert len(data.encode()) <= MAX_CALLBACK_BYTES, "callback data over 64 bytes"
    return data


def verify(data: str | None, key: bytes | str, now: float | None = None) -> SignedAction:
    """Check the tag first (constant time), then the action and the expiry."""
    if not data:
        raise BadCallback(REASON_MALFORMED, "empty")
    try:
        raw = data.encode()
    except UnicodeEncodeError:
        # JSON may carry lone surrogates ("\udc80") that no UTF-8 button could have sent.
        raise BadCallback(REASON_MALFORMED, "not valid UTF-8") from None
    if len(raw) > MAX_CALLBACK_BYTES:
        raise BadCallback(REASON_MALFORMED, "too long")
    parts = data.split(":")
    if len(parts) != 4 or not all(parts):
        raise BadCallback(REASON_MALFORMED, "expected 4 fields")
    code, artifact, expiry_s, tag = parts
    try:
        expiry = int(expiry_s, 36)
    except ValueError:
        raise BadCallback(REASON_MALFORMED, "expiry is not base36") from None
    if not hmac.compare_digest(tag.encode(), _tag(f"{code}:{artifact}:{expiry_s}", key).encode()):
        raise BadCallback(REASON_BAD_TAG)
    if code not in ACTIONS:
        raise BadCallback(REASON_UNKNOWN_ACTION, code)
    if (time.time() if now is None else now) > expiry:
        raise BadCallback(REASON_EXPIRED)
    return SignedAction(code=code, decision=ACTIONS[code], artifact=artifact, expiry=expiry)
