"""Poll the Bot API for button taps, check them, record decisions, answer and mark the message."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram import Bot, CallbackQuery, Update
from telegram.error import TelegramError

from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.redact import TelegramFailure, protect, scrub
from nightrun_dagster.telegram.send import CAPTION_LIMIT, TEXT_LIMIT, make_bot, truncate
from nightrun_dagster.telegram.signing import REASON_EXPIRED, BadCallback, verify

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["callback_query", "message"]
DONE = {"approve": "Approved ✅", "favorite": "Favorited ⭐", "reject": "Rejected ❌"}


@dataclass
class PollResult:
    next_offset: int | None  # pass back as `offset` next time; None when nothing was ever seen
    recorded: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[tuple[int, str]] = field(default_factory=list)
    affected: set[tuple[str, str]] = field(default_factory=set)  # (night, job_key)


def _who(cq: CallbackQuery) -> str:
    user = cq.from_user
    return f"@{user.username}" if user.username else (user.full_name or str(user.id))


async def _answer(cq: CallbackQuery, text: str) -> None:
    # Answering stops the button's spinner; a failure here must not undo a recorded decision.
    try:
        await cq.answer(text=text[:200])
    except TelegramError as exc:
        log.warning("answerCallbackQuery failed: %s", scrub(str(exc)))


async def _mark(cq: CallbackQuery, note: str) -> None:
    """Show who decided what on the candidate message and remove its buttons."""
    msg = cq.message
    if msg is None or not hasattr(msg, "text"):
        return  # inaccessible message: nothing to edit
    try:
        if msg.text is not None:
            await msg.edit_text(truncate(f"{msg.text}\n\n{note}", TEXT_LIMIT), reply_markup=None)
        elif msg.caption is not None:
            await msg.edit_caption(
                caption=truncate(f"{msg.caption}\n\n{note}", CAPTION_LIMIT), reply_markup=None
            )
        else:
            await msg.edit_reply_markup(reply_markup=None)
    except TelegramError as exc:
        log.warning("editing the candidate message failed: %s", scrub(str(exc)))


async def _send_original(cq: CallbackQuery, job_dir: Path, variant_id: str) -> None:
    """After an approval, the full-resolution render as a file (previews are compressed)."""
    try:
        params = json.loads(
            (job_dir / "variants" / variant_id / "meta" / "params.json").read_bytes()
        )
        rel = params["render"]["outputs"][0]["file"]
        path = job_dir / "variants" / variant_id / rel
        if cq.message is None:
            return
        with path.open("rb") as fh:
            await cq.get_bot().send_document(
                chat_id=cq.message.chat.id,
                document=fh,
                filename=f"{variant_id}_{path.name}",
                reply_to_message_id=cq.message.message_id,
            )
    except (OSError, KeyError, IndexError, ValueError, TelegramError) as exc:
        log.warning("sending the original of %s failed: %s", variant_id, scrub(str(exc)))


async def _handle(
    update: Update,
    *,
    signing_key: bytes | str,
    approvers: set[int],
    review_chat_id: int,
    runs_dir: Path,
    now: float,
    result: PollResult,
) -> None:
    uid = update.update_id
    cq = update.callback_query
    if cq is None:
        result.ignored.append((uid, "not a callback query"))
        return

    def ignore(reason: str) -> None:
        log.info("update %d ignored: %s", uid, reason)
        result.ignored.append((uid, reason))

    try:
        action = verify(cq.data, signing_key, now)
    except BadCallback as exc:
        ignore(f"bad callback: {exc.reason}")
        await _answer(cq, "Expired" if exc.reason == REASON_EXPIRED else "Invalid button")
        return
    if cq.from_user is None or cq.from_user.id not in approvers:
        ignore("user not allowed")
        await _answer(cq, "Not allowed")
        return
    if cq.message is None or cq.message.chat.id != review_chat_id:
        ignore("not in the review chat")
        await _answer(cq, "Not allowed here")
        return
    where = ledger.resolve(runs_dir, action.artifact)
    if where is None:
        ignore("unknown artifact")
        await _answer(cq, "Unknown candidate")
        return
    night, job_key, variant_id = where
    job_dir = ledger.job_dir_for(runs_dir, night, job_key)
    if ledger.seen_update(job_dir, uid):
        # Redelivered after a restart with an old offset: already handled once.
        ignore("replayed update")
        await _answer(cq, "Already recorded")
        return
    decision = {
        "artifact": action.artifact,
        "night": night,
        "job_key": job_key,
        "variant_id": variant_id,
        "decision": action.decision,
        "by": _who(cq),
        "user_id": cq.from_user.id,
        "via": "telegram",
        "at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "update_id": uid,
        "callback_id": cq.id,
    }
    # Durable before the answer: once the user sees "Approved", the ledger already says so.
    if ledger.record(job_dir, decision):
        result.recorded.append(decision)
        result.affected.add((night, job_key))
        note = f"{DONE[action.decision]} by {decision['by']} at {decision['at']}"
        await _answer(cq, note)
        await _mark(cq, note)
        if action.decision in {"approve", "favorite"}:
            await _send_original(cq, job_dir, variant_id)
        return
    first = ledger.find(job_dir, action.artifact) or {}
    ignore("already decided")
    await _answer(cq, f"Already decided: {first.get('decision', '?')} by {first.get('by', '?')}")


def poll_decisions(
    bot_token: str,
    *,
    offset: int | None,
    signing_key: bytes | str,
    approvers: set[int],
    review_chat_id: int,
    runs_dir: Path,
    timeout_s: int = 5,
    base_url: str | None = None,
    now: float | None = None,
) -> PollResult:
    """One getUpdates round: record every valid tap once; next_offset acknowledges the batch."""
    protect(bot_token)
    result = PollResult(next_offset=offset)

    async def run() -> None:
        async with make_bot(bot_token, base_url) as bot:
            await _poll(bot)

    async def _poll(bot: Bot) -> None:
        updates = await bot.get_updates(
            offset=offset,
            timeout=timeout_s,
            allowed_updates=ALLOWED_UPDATES,
            read_timeout=timeout_s + 10,
        )
        for update in updates:
            try:
                await _handle(
                    update,
                    signing_key=signing_key,
                    approvers=approvers,
                    review_chat_id=review_chat_id,
                    runs_dir=Path(runs_dir),
                    now=time.time() if now is None else now,
                    result=result,
                )
            except OSError as exc:
                # The ledger could not be written: stop before acknowledging this update so
                # Telegram delivers it again next poll.
                log.error("update %d not recorded: %s", update.update_id, exc)
                return
            result.next_offset = update.update_id + 1

    try:
        asyncio.run(run())
    except TelegramFailure:
        raise
    except Exception as exc:
        if result.next_offset != offset:
            # Decisions in this batch are already durable; let the caller keep the new offset.
            log.warning("poll ended early: %s: %s", type(exc).__name__, scrub(str(exc)))
            return result
        raise TelegramFailure(f"getUpdates failed: {type(exc).__name__}: {exc}") from None
    return result
