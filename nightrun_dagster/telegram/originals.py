"""Send the full-resolution original of each approved or favorited candidate to the review chat,
once per decision, as a reply to its candidate message (recorded in `originals_sent.json`)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import ReplyParameters

from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.telegram_docs import (
    ORIGINALS_DOC,
    SENT_DOC,
    OriginalSent,
    originals_sent_path,
    telegram_sent_path,
    write_originals_sent,
)
from nightrun_dagster.store.variant_docs import read_params
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.redact import TelegramFailure, protect, scrub
from nightrun_dagster.telegram.send import MAX_ATTEMPTS, Caller, make_bot

log = logging.getLogger(__name__)

SENDS_ORIGINAL = ("approve", "favorite")


@dataclass
class OriginalsReport:
    sent: list[str] = field(default_factory=list)  # artifacts whose original went out now
    already_sent: int = 0  # sent by an earlier run: never again
    missing: dict[str, str] = field(default_factory=dict)  # artifact → why it was not sent
    retries: int = 0


def candidate_messages(job_dir: Path) -> dict[str, tuple[int | str, int]]:
    """artifact → (chat id, candidate message id), from `selection/telegram_sent.json`."""
    out: dict[str, tuple[int | str, int]] = {}
    for entry in SENT_DOC.read_or_empty(telegram_sent_path(job_dir)).shortlists().values():
        for art, mid in entry.candidates.items():
            out[art] = (entry.chat_id, mid)
    return out


def _original(job_dir: Path, variant_id: str) -> Path:
    folder = JobDir(job_dir)
    render = read_params(folder, variant_id).render
    file = render.outputs[0].file if render else None
    if file is None:
        raise KeyError(f"{variant_id} has no rendered output")
    return folder.variant(variant_id) / file


def send_originals(
    bot_token: str,
    job_dir: Path,
    *,
    base_url: str | None = None,
    per_message_delay: float = 1.0,
    max_attempts: int = MAX_ATTEMPTS,
) -> OriginalsReport:
    """Each approve/favorite decision of a candidate sent to the chat gets its original once;
    each send is recorded before the next, so a rerun (or a resume) sends only what is missing."""
    protect(bot_token)
    job_dir = Path(job_dir)
    record = ORIGINALS_DOC.read_or_empty(originals_sent_path(job_dir))
    done = record.originals()
    messages = candidate_messages(job_dir)
    first: dict[str, dict[str, Any]] = {}
    for decision in ledger.read(job_dir):
        first.setdefault(str(decision.get("artifact")), decision)
    report = OriginalsReport()
    todo: list[tuple[str, dict[str, Any], Path]] = []
    for art, decision in first.items():
        if decision.get("decision") not in SENDS_ORIGINAL or art not in messages:
            continue
        if art in done:
            report.already_sent += 1
            continue
        try:
            todo.append((art, decision, _original(job_dir, str(decision["variant_id"]))))
        except (OSError, KeyError, IndexError, TypeError, ValueError) as exc:
            report.missing[art] = f"{type(exc).__name__}: {exc}"
    if not todo:
        return report
    caller = Caller(per_message_delay, max_attempts)

    async def run() -> None:
        async with make_bot(bot_token, base_url) as bot:
            for art, decision, path in todo:
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    report.missing[art] = f"{type(exc).__name__}: {exc}"
                    continue
                chat_id, message_id = messages[art]
                variant = str(decision["variant_id"])
                call = {
                    "chat_id": chat_id,
                    "document": data,
                    "filename": f"{variant}_{path.name}",
                    # The candidate message may be gone; the file still goes out.
                    "reply_parameters": ReplyParameters(
                        message_id=message_id, allow_sending_without_reply=True
                    ),
                }
                msg = await caller("sendDocument", lambda call=call: bot.send_document(**call))
                done[art] = OriginalSent(
                    variant_id=variant,
                    decision=decision["decision"],
                    decided_at=decision.get("at"),
                    message_id=msg.message_id,
                    sent_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                )
                write_originals_sent(job_dir, record)
                report.sent.append(art)

    try:
        asyncio.run(run())
    except TelegramFailure:
        raise
    except Exception as exc:  # network or parsing errors: same rule, no token in the text
        raise TelegramFailure(
            f"sending originals failed: {type(exc).__name__}: {scrub(str(exc))}"
        ) from None
    finally:
        report.retries = caller.retries
    for art, why in report.missing.items():
        log.warning("original of %s not sent: %s", art, why)
    return report
