"""The night's summary message for the review chat: its wording, and sending it once per
distinct text (`runs/<night>/telegram_summary.json` keeps the digest of the one sent)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from nightrun_dagster.store.night_records import NightSummary
from nightrun_dagster.store.telegram_docs import (
    SummaryStamp,
    try_read_summary_stamp,
    write_summary_stamp,
)
from nightrun_dagster.telegram.redact import TelegramFailure
from nightrun_dagster.telegram.send import send_text

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4000


def summary_text(digest: NightSummary, sheet: Path, cut_line: str | None = None) -> str:
    """One message for the whole night: counts, best scores, failures, where to look;
    `cut_line` (the breaker that cut the night short) second when there is one."""
    jobs = digest.jobs
    lines = [
        f"Night {digest.night}: {sum(j.rendered for j in jobs)} renders, "
        f"{sum(j.failed for j in jobs)} failed, {sum(j.shortlisted for j in jobs)} "
        f"shortlisted across {len(jobs)} jobs"
    ]
    if cut_line:
        lines.append("⛔ " + cut_line)
    for j in jobs:
        best = f"best {j.best_total:.2f} ({j.best})" if j.best_total is not None else "no pick"
        flag = " BLOCKED" if j.blocked else ""
        lines.append(
            f"• {j.job}{flag}: {j.rendered}/{j.variants} rendered, "
            f"{j.failed} failed, {j.shortlisted} shortlisted, {best}"
        )
    lines.append(f"Contact sheet: {sheet}")
    return "\n".join(lines)[:MESSAGE_LIMIT]


def send_summary_once(
    token: str,
    chat_id: int | str,
    night_dir: Path,
    text: str,
    base_url: str | None = None,
    warn: Callable[[str], object] = log.warning,
) -> str:
    """Send `text` unless this very text was sent for the night; says what happened. A failure
    is told to `warn`, not raised: the summary is not worth failing the night's last steps."""
    key = hashlib.sha256(text.encode()).hexdigest()
    stamp = try_read_summary_stamp(night_dir)
    if stamp is not None and stamp.sha256 == key:
        return "already sent"
    try:
        message_id = send_text(token, chat_id, text, base_url)
    except TelegramFailure as exc:  # scrubbed of the token
        warn(f"night summary not sent to Telegram: {exc}")
        return f"failed: {exc}"
    write_summary_stamp(night_dir, SummaryStamp(sha256=key, message_id=message_id))
    return "sent"
