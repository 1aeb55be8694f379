"""Poll the Bot API for button taps: check, record, answer and mark each (two calls a tap) within
a time budget; originals of approved renders are sent by the approvals run, not here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from telegram import Bot, CallbackQuery, Update
from telegram.error import BadRequest, NetworkError, RetryAfter

from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.redact import TelegramFailure, protect, scrub
from nightrun_dagster.telegram.send import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    make_bot,
    retry_after_s,
    truncate,
)
from nightrun_dagster.telegram.signing import REASON_EXPIRED, BadCallback, verify

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["callback_query", "message"]
DONE = {"approve": "Approved ✅", "favorite": "Favorited ⭐", "reject": "Rejected ❌"}
INVALID = "Invalid button"
# Well under Dagster's 60 s sensor timeout: the long poll, the taps and any 429 waits fit in it.
DEFAULT_BUDGET_S = 25.0
T = TypeVar("T")


@dataclass
class PollResult:
    next_offset: int | None  # pass back as `offset` next time; None when nothing was ever seen
    recorded: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[tuple[int, str]] = field(default_factory=list)
    # (night, job_key) whose approvals run is due: new decisions, and replays or taps on an
    # already decided candidate (the run that followed them may have been lost with a tick).
    affected: set[tuple[str, str]] = field(default_factory=set)
    left_for_next: int = 0  # updates fetched but not acknowledged: the next poll gets them again


class _OutOfTime(Exception):
    """Telegram asked to wait (429) longer than this poll has left."""


class _Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def _printable(text: str) -> str:
    # JSON can carry lone surrogates; they would break log handlers and the ledger's encoder.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


async def _call(what: str, make: Callable[[], Awaitable[T]], budget: _Budget) -> T:
    """One Bot API call; a 429 is waited out when its retry_after fits in the budget."""
    while True:
        try:
            return await make()
        except RetryAfter as exc:
            seconds = retry_after_s(exc)
            if seconds > budget.left():
                raise _OutOfTime(
                    f"{what}: Telegram asked to wait {seconds:.0f} s, "
                    f"{max(0.0, budget.left()):.0f} s left in this poll"
                ) from None
            log.info("Telegram asked to wait %.0f s before %s", seconds, what)
            await asyncio.sleep(seconds)


def _who(cq: CallbackQuery) -> str:
    user = cq.from_user
    return _printable(f"@{user.username}" if user.username else (user.full_name or str(user.id)))


def _note(decision: dict[str, Any]) -> str:
    """What the user is told about a recorded decision, built from the ledger line alone."""
    what = DONE.get(str(decision.get("decision")), str(decision.get("decision")))
    return f"{what} by {decision.get('by', '?')} at {decision.get('at', '?')}"


async def _answer(cq: CallbackQuery, text: str, budget: _Budget) -> None:
    """Stop the button's spinner. A transport failure or a 429 past the budget propagates (the
    update is then left for the next poll, which answers it again); anything else is logged."""
    try:
        await _call("answerCallbackQuery", lambda: cq.answer(text=text[:200]), budget)
    except (_OutOfTime, NetworkError):
        raise
    except Exception as exc:  # an unanswered tap must not undo or contradict a recorded one
        log.warning("answerCallbackQuery failed: %s", _printable(scrub(str(exc))))


async def _mark(cq: CallbackQuery, note: str, budget: _Budget) -> None:
    """Show who decided what on the candidate message and remove its buttons (one call)."""
    msg = cq.message
    if msg is None or not hasattr(msg, "text"):
        return  # inaccessible message: nothing to edit
    try:
        if msg.text is not None:
            text = truncate(f"{msg.text}\n\n{note}", TEXT_LIMIT)
            await _call("editMessageText", lambda: msg.edit_text(text, reply_markup=None), budget)
        elif msg.caption is not None:
            caption = truncate(f"{msg.caption}\n\n{note}", CAPTION_LIMIT)
            await _call(
                "editMessageCaption",
                lambda: msg.edit_caption(caption=caption, reply_markup=None),
                budget,
            )
        else:
            await _call(
                "editMessageReplyMarkup", lambda: msg.edit_reply_markup(reply_markup=None), budget
            )
    except _OutOfTime:
        raise
    except BadRequest as exc:
        # A replay marks again; Telegram refuses an edit that changes nothing.
        level = logging.DEBUG if "not modified" in str(exc) else logging.WARNING
        log.log(level, "editing the candidate message failed: %s", _printable(scrub(str(exc))))
    except Exception as exc:  # the mark is cosmetic: the ledger and the answer already agree
        log.warning("editing the candidate message failed: %s", _printable(scrub(str(exc))))


async def _handle(
    update: Update,
    *,
    signing_key: bytes | str,
    approvers: set[int],
    review_chat_id: int,
    runs_dir: Path,
    now: float,
    result: PollResult,
    budget: _Budget,
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
        await _answer(cq, "Expired" if exc.reason == REASON_EXPIRED else INVALID, budget)
        return
    if cq.from_user is None or cq.from_user.id not in approvers:
        ignore("user not allowed")
        await _answer(cq, "Not allowed", budget)
        return
    if cq.message is None or cq.message.chat.id != review_chat_id:
        ignore("not in the review chat")
        await _answer(cq, "Not allowed here", budget)
        return
    where = ledger.resolve(runs_dir, action.artifact)
    if where is None:
        ignore("unknown artifact")
        await _answer(cq, "Unknown candidate", budget)
        return
    night, job_key, variant_id = where
    job_dir = ledger.job_dir_for(runs_dir, night, job_key)
    earlier = ledger.by_update(job_dir, uid)
    if earlier is not None:
        # Redelivered: the poll that recorded it was lost (crash, timeout, a 429 past the
        # budget). Answer and mark again from the ledger, and ask for the run it may have lost.
        ignore("replayed update")
        result.affected.add((night, job_key))
        note = _note(earlier)
        await _answer(cq, note, budget)
        await _mark(cq, note, budget)
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
        note = _note(decision)
        await _answer(cq, note, budget)
        await _mark(cq, note, budget)
        return
    first = ledger.find(job_dir, action.artifact) or {}
    ignore("already decided")
    result.affected.add((night, job_key))
    await _answer(
        cq, f"Already decided: {first.get('decision', '?')} by {first.get('by', '?')}", budget
    )


async def _malformed(update: Update, exc: Exception, result: PollResult, budget: _Budget) -> None:
    """An update our checks could not even process: refuse it, acknowledge it, say why."""
    uid = update.update_id
    why = f"{type(exc).__name__}: {_printable(scrub(str(exc)))}"
    log.warning("update %d acknowledged as malformed: %s", uid, why)
    result.ignored.append((uid, f"malformed update: {why}"))
    cq = update.callback_query
    if cq is None:
        return
    mine = next((d for d in result.recorded if d.get("update_id") == uid), None)
    try:
        # Never contradict a decision this very update recorded before it failed.
        await _answer(cq, _note(mine) if mine else INVALID, budget)
    except NetworkError as answer_exc:
        log.warning(
            "answering malformed update %d failed: %s", uid, _printable(scrub(str(answer_exc)))
        )


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
    budget_s: float = DEFAULT_BUDGET_S,
) -> PollResult:
    """One getUpdates round within `budget_s` seconds: record every valid tap once and answer
    it; next_offset acknowledges what was handled. A ledger that cannot be written, a network
    failure or a 429 past the budget stops the round; the rest comes again next poll."""
    protect(bot_token)
    result = PollResult(next_offset=offset)
    budget = _Budget(budget_s)
    phase = "connecting to the Bot API"

    async def run() -> None:
        nonlocal phase
        async with make_bot(bot_token, base_url) as bot:
            await _poll(bot)
            phase = "closing the Bot API client"

    async def _poll(bot: Bot) -> None:
        nonlocal phase
        phase = "getUpdates"
        try:
            updates = await _call(
                "getUpdates",
                lambda: bot.get_updates(
                    offset=offset,
                    timeout=timeout_s,
                    allowed_updates=ALLOWED_UPDATES,
                    read_timeout=timeout_s + 10,
                ),
                budget,
            )
        except _OutOfTime as exc:
            raise TelegramFailure(str(exc)) from None
        phase = "handling updates"
        for i, update in enumerate(updates):
            uid = update.update_id
            if budget.left() <= 0:
                result.left_for_next = len(updates) - i
                log.info("poll budget spent; %d update(s) left for the next poll", len(updates) - i)
                return
            try:
                await _handle(
                    update,
                    signing_key=signing_key,
                    approvers=approvers,
                    review_chat_id=review_chat_id,
                    runs_dir=Path(runs_dir),
                    now=time.time() if now is None else now,
                    result=result,
                    budget=budget,
                )
            except OSError as exc:
                # The ledger could not be written: stop before acknowledging this update so
                # Telegram delivers it again next poll.
                log.error("update %d not recorded: %s", uid, exc)
                result.left_for_next = len(updates) - i
                return
            except (NetworkError, _OutOfTime) as exc:
                # Whatever this update recorded is durable; its replay answers it again.
                log.warning(
                    "update %d left for the next poll: %s", uid, _printable(scrub(str(exc)))
                )
                result.left_for_next = len(updates) - i
                return
            except Exception as exc:  # one bad update must not hold back every one behind it
                try:
                    await _malformed(update, exc, result, budget)
                except _OutOfTime as late:
                    log.warning("update %d left for the next poll: %s", uid, late)
                    result.left_for_next = len(updates) - i
                    return
            result.next_offset = uid + 1

    try:
        asyncio.run(run())
    except TelegramFailure:
        raise
    except Exception as exc:
        text = f"{type(exc).__name__}: {_printable(scrub(str(exc)))}"
        if phase != "getUpdates" and phase != "connecting to the Bot API":
            # Decisions in this batch are already durable; let the caller keep the new offset.
            log.warning("poll ended early while %s: %s", phase, text)
            return result
        raise TelegramFailure(f"{phase} failed: {text}") from None
    return result
