"""The night's summary message: what it says, and that one text reaches the chat once."""

from __future__ import annotations

from pathlib import Path

import pytest

from nightrun_dagster.store.night_records import JobDigest, NightSummary
from nightrun_dagster.store.telegram_docs import try_read_summary_stamp
from nightrun_dagster.telegram.summary import send_summary_once, summary_text
from tests.telegram.conftest import CHAT
from tests.telegram.fake_bot_api import FakeBotAPI

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def _digest() -> NightSummary:
    return NightSummary(
        night="2026-02-10",
        jobs=[
            JobDigest(
                job="shoes",
                variants=12,
                rendered=10,
                failed=2,
                shortlisted=3,
                best_total=0.8765,
                best="v0007",
            ),
            JobDigest(job="bags", variants=4, blocked=True),
        ],
    )


def test_the_summary_counts_every_job_and_says_why_the_night_was_cut_short() -> None:
    text = summary_text(_digest(), Path("/runs/2026-02-10/contact_sheet.html"), "oom tripped")
    lines = text.splitlines()
    assert lines[0] == ("Night 2026-02-10: 10 renders, 2 failed, 3 shortlisted across 2 jobs")
    assert lines[1] == "⛔ oom tripped"
    assert lines[2] == "• shoes: 10/12 rendered, 2 failed, 3 shortlisted, best 0.88 (v0007)"
    assert lines[3] == "• bags BLOCKED: 0/4 rendered, 0 failed, 0 shortlisted, no pick"
    assert lines[-1] == "Contact sheet: /runs/2026-02-10/contact_sheet.html"
    assert "⛔" not in summary_text(_digest(), Path("sheet.html"))


def test_one_text_is_sent_once_and_a_new_text_again(
    api: FakeBotAPI, token: str, tmp_path: Path
) -> None:
    night_dir = tmp_path / "runs" / "2026-02-10"
    night_dir.mkdir(parents=True)
    first = summary_text(_digest(), Path("sheet.html"))
    assert send_summary_once(token, CHAT, night_dir, first, api.base_url) == "sent"
    assert send_summary_once(token, CHAT, night_dir, first, api.base_url) == "already sent"
    changed = summary_text(_digest(), Path("sheet.html"), "disk tripped")
    assert send_summary_once(token, CHAT, night_dir, changed, api.base_url) == "sent"
    assert [c.params["text"] for c in api.sent("sendMessage")] == [first, changed]
    stamp = try_read_summary_stamp(night_dir)
    assert stamp is not None and stamp.message_id is not None


def test_a_failed_send_is_told_not_raised_and_stamps_nothing(
    api: FakeBotAPI, tmp_path: Path
) -> None:
    said: list[str] = []
    wrong = "1:not-the-token-the-server-knows"
    told = send_summary_once(wrong, CHAT, tmp_path, "Night 2026-02-10", api.base_url, said.append)
    assert told.startswith("failed: ") and said == [
        f"night summary not sent to Telegram: {told[8:]}"
    ]
    assert wrong not in told  # scrubbed
    assert try_read_summary_stamp(tmp_path) is None and api.rejected_tokens >= 1
