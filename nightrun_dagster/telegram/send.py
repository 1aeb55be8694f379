"""Send a job's shortlist to the review chat: preview albums, then one buttoned message each."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto
from telegram.error import RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from nightrun_dagster.store.models import DocumentError
from nightrun_dagster.store.paths import as_job_dir
from nightrun_dagster.store.selection_docs import (
    ShortlistDocument,
    ShortlistPick,
    read_shortlist_with_digest,
)
from nightrun_dagster.store.telegram_docs import (
    SENT_DOC,
    SentShortlist,
    telegram_sent_path,
    write_telegram_sent,
)
from nightrun_dagster.store.variant_docs import read_params
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.redact import TelegramFailure, protect, scrub
from nightrun_dagster.telegram.signing import artifact_id, sign

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096
ALBUM_MAX = 10
MAX_ATTEMPTS = 5
BUTTONS = (("✅ Approve", "a"), ("⭐ Favorite", "f"), ("❌ Reject", "r"))
T = TypeVar("T")


@dataclass
class SendReport:
    job_dir: Path
    shortlist_hash: str
    already_sent: bool  # True: this exact shortlist was sent before, nothing was sent now
    messages_sent: int = 0  # Bot API calls that sent something in this call
    retries: int = 0  # RetryAfter waits
    album_message_ids: list[list[int]] = field(default_factory=list)
    candidates: dict[str, int] = field(default_factory=dict)  # artifact id → message id


def _utf16_len(text: str) -> int:
    # Telegram counts message length in UTF-16 code units (emoji count twice).
    return len(text.encode("utf-16-le")) // 2


def truncate(text: str, limit: int = CAPTION_LIMIT) -> str:
    """`text` cut at a line or word boundary with an ellipsis when it exceeds `limit`."""
    if _utf16_len(text) <= limit:
        return text
    cut = text
    while _utf16_len(cut) > limit - 1:
        cut = cut[: max(0, len(cut) - max(1, (_utf16_len(cut) - limit + 1) // 2))]
    boundary = max(cut.rfind("\n"), cut.rfind(" "))
    if boundary > len(cut) // 2:
        cut = cut[:boundary]
    return cut.rstrip() + "…"


def _fmt_num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _loras(params: dict[str, Any]) -> str:
    items = []
    for lora in params.get("loras") or []:
        if isinstance(lora, dict):
            if lora.get("enabled") is False:
                continue
            name = lora.get("name") or lora.get("path") or "?"
            weight = lora.get("weight")
            items.append(f"{name} {_fmt_num(weight)}" if weight is not None else str(name))
        else:
            items.append(str(lora))
    return ", ".join(items) if items else "none"


def candidate_text(pick: dict[str, Any], params: dict[str, Any], artifact: str) -> str:
    """The candidate message: what a reviewer needs to judge and reproduce it, ≤ 1024 chars."""
    template = params.get("template") or {}
    tpl = template.get("id", "?") if isinstance(template, dict) else str(template)
    if isinstance(template, dict) and template.get("version"):
        tpl += f" ({template['version']})"
    lines = [f"#{pick.get('rank', '?')} {pick.get('variant_id', '?')} · {tpl}"]
    knobs = [
        f"seed {params.get('seed', '?')}",
        str(params.get("sampler", "?")),
        f"{params.get('steps', '?')} steps",
        f"cfg {_fmt_num(params.get('cfg', '?'))}",
        f"denoise {_fmt_num(params.get('denoise', '?'))}",
    ]
    lines.append(" · ".join(knobs))
    lines.append(f"LoRAs: {_loras(params)}")
    cn = params.get("controlnet")
    if isinstance(cn, dict) and cn.get("type"):
        lines.append(f"ControlNet: {cn['type']} {_fmt_num(cn.get('weight', ''))}".rstrip())
    comps = pick.get("components") or {}
    top = sorted(
        ((k, v) for k, v in comps.items() if isinstance(v, int | float)),
        key=lambda kv: kv[1],
        reverse=True,
    )[:3]
    total = pick.get("total")
    score = f"score {total:.3f}" if isinstance(total, int | float) else "score ?"
    if top:
        score += " — " + ", ".join(f"{k} {v:.2f}" for k, v in top)
    lines.append(score)
    if pick.get("reason"):
        lines.append(str(pick["reason"]))
    lines.append(f"id {artifact}")
    return truncate("\n".join(lines))


def keyboard(artifact: str, expiry: int, signing_key: bytes | str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(label, callback_data=sign(code, artifact, expiry, signing_key))
                for label, code in BUTTONS
            ]
        ]
    )


def album_sizes(n: int) -> list[int]:
    """Split n photos into albums of ≤ 10, balanced so no album but a lone photo has size 1."""
    if n <= 0:
        return []
    groups = math.ceil(n / ALBUM_MAX)
    base, extra = divmod(n, groups)
    return [base + (1 if i < extra else 0) for i in range(groups)]


def make_bot(token: str, base_url: str | None) -> Bot:
    protect(token)
    return Bot(token, base_url=base_url) if base_url else Bot(token)


def retry_after_s(exc: RetryAfter) -> float:
    # PTB 22.2+ warns that retry_after will become a timedelta; accept both, quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        retry_after = exc.retry_after
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)


class Caller:
    """Runs Bot API calls with pacing and bounded RetryAfter handling; errors come out scrubbed."""

    def __init__(self, delay: float, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.delay = delay
        self.max_attempts = max_attempts
        self.retries = 0
        self.sent = 0
        self._last = 0.0

    async def __call__(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(1, self.max_attempts + 1):
            wait = self._last + self.delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                result = await make()
            except RetryAfter as exc:
                # 429: nothing was delivered, so the same call is safe to repeat.
                self._last = time.monotonic()
                self.retries += 1
                if attempt == self.max_attempts:
                    raise TelegramFailure(
                        f"{what}: still rate limited after {attempt} attempts"
                    ) from None
                seconds = retry_after_s(exc)
                log.info("Telegram asked to wait %.0f s before %s", seconds, what)
                await asyncio.sleep(seconds)
                continue
            except TelegramError as exc:
                raise TelegramFailure(f"{what}: {type(exc).__name__}: {exc}") from None
            self._last = time.monotonic()
            self.sent += 1
            return result
        raise TelegramFailure(f"{what}: gave up")  # unreachable: the loop returns or raises


def _night_and_key(job_dir: Path, shortlist: ShortlistDocument) -> tuple[str, str]:
    night = shortlist.night or job_dir.parent.name
    job_key = shortlist.job_key or job_dir.name.removeprefix("job_")
    return night, job_key


def _params(job_dir: Path, variant_id: str) -> dict[str, Any]:
    try:
        return read_params(as_job_dir(job_dir), variant_id).as_dict()
    except (OSError, DocumentError):
        return {}


def _preview(job_dir: Path, pick: ShortlistPick) -> Path | None:
    folder = as_job_dir(job_dir).variant(pick.variant_id)
    for rel in (pick.preview, pick.file):
        if rel and (folder / rel).is_file():
            return folder / rel
    return None


def send_shortlist(
    bot_token: str,
    chat_id: int | str,
    job_dir: Path,
    *,
    signing_key: bytes | str,
    base_url: str | None = None,
    ttl_s: int = 7 * 86400,
    per_message_delay: float = 1.0,
    now: float | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    note: str | None = None,
) -> SendReport:
    """Send `selection/shortlisted.json` once; a repeat call (or a resume after a failure) sends
    only what `selection/telegram_sent.json` does not already record. `note` (e.g. that a
    circuit breaker cut the night short) goes first, as its own message, once."""
    protect(bot_token)
    job_dir = Path(job_dir)
    shortlist, digest = read_shortlist_with_digest(job_dir)
    night, job_key = _night_and_key(job_dir, shortlist)
    picks = sorted(shortlist.picks, key=lambda p: p.rank)

    sent = SENT_DOC.read_or_empty(telegram_sent_path(job_dir), "starting a fresh send record")
    entry = sent.shortlists().get(digest)
    if entry is not None and entry.complete and entry.chat_id == chat_id:
        return SendReport(
            job_dir=job_dir,
            shortlist_hash=digest,
            already_sent=True,
            album_message_ids=entry.albums,
            candidates=dict(entry.candidates),
        )
    if entry is None or entry.chat_id != chat_id:
        entry = SentShortlist(
            chat_id=chat_id,
            night=night,
            job_key=job_key,
            expiry=int((time.time() if now is None else now) + ttl_s),
        )
    sent.shortlists()[digest] = entry

    ids = {p.variant_id: artifact_id(night, job_key, p.variant_id) for p in picks if p.variant_id}
    # The index must exist before any button does, or an early tap could not be resolved.
    ledger.write_artifact_index(
        job_dir,
        {a: {"night": night, "job_key": job_key, "variant_id": v} for v, a in ids.items()},
    )

    def save() -> None:
        entry.updated_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        write_telegram_sent(job_dir, sent)

    caller = Caller(per_message_delay, max_attempts)

    async def run() -> None:
        async with make_bot(bot_token, base_url) as bot:
            if note and entry.note is None:
                msg = await caller(
                    "sendMessage",
                    lambda: bot.send_message(chat_id, truncate(f"{job_key}: {note}", TEXT_LIMIT)),
                )
                entry.note = msg.message_id
                save()
            previews = [(p, _preview(job_dir, p)) for p in picks]
            photos = [(p, path) for p, path in previews if path is not None]
            start = 0
            for i, size in enumerate(album_sizes(len(photos))):
                group = photos[start : start + size]
                start += size
                if i < len(entry.albums):
                    continue  # sent before a failure; resuming
                if size == 1:
                    pick, path = group[0]
                    msg = await caller(
                        "sendPhoto",
                        lambda pick=pick, path=path: bot.send_photo(
                            chat_id,
                            path.read_bytes(),
                            caption=f"#{pick.rank} {pick.variant_id}",
                        ),
                    )
                    entry.albums.append([msg.message_id])
                else:
                    media = [
                        InputMediaPhoto(
                            path.read_bytes(),
                            caption=f"#{pick.rank} {pick.variant_id}",
                            filename=path.name,
                        )
                        for pick, path in group
                    ]
                    msgs = await caller(
                        "sendMediaGroup",
                        lambda media=media: bot.send_media_group(chat_id, media),
                    )
                    entry.albums.append([m.message_id for m in msgs])
                save()
            for pick in picks:
                variant = pick.variant_id
                if not variant or ids[variant] in entry.candidates:
                    continue
                art = ids[variant]
                text = candidate_text(pick.model_dump(mode="json"), _params(job_dir, variant), art)
                markup = keyboard(art, entry.expiry, signing_key)
                msg = await caller(
                    "sendMessage",
                    lambda text=text, markup=markup: bot.send_message(
                        chat_id, text, reply_markup=markup
                    ),
                )
                entry.candidates[art] = msg.message_id
                save()
            entry.complete = True
            save()

    try:
        asyncio.run(run())
    except TelegramFailure:
        raise
    except Exception as exc:  # network or parsing errors: same rule, no token in the text
        raise TelegramFailure(f"sending shortlist failed: {type(exc).__name__}: {exc}") from None
    return SendReport(
        job_dir=job_dir,
        shortlist_hash=digest,
        already_sent=False,
        messages_sent=caller.sent,
        retries=caller.retries,
        album_message_ids=entry.albums,
        candidates=dict(entry.candidates),
    )


def send_text(
    bot_token: str,
    chat_id: int | str,
    text: str,
    base_url: str | None = None,
    *,
    max_attempts: int = MAX_ATTEMPTS,
) -> int:
    """Send one plain message (the night summary), truncated to 4096 chars; its message id."""
    protect(bot_token)
    caller = Caller(0.0, max_attempts)

    async def run() -> int:
        async with make_bot(bot_token, base_url) as bot:
            msg = await caller(
                "sendMessage", lambda: bot.send_message(chat_id, truncate(text, TEXT_LIMIT))
            )
            return msg.message_id

    try:
        return asyncio.run(run())
    except TelegramFailure:
        raise
    except Exception as exc:
        raise TelegramFailure(
            f"sendMessage failed: {type(exc).__name__}: {scrub(str(exc))}"
        ) from None
