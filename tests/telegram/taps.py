"""Helpers for tap tests: a reviewer taps a button on the fake Bot API, the poll handles it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nightrun_dagster.telegram.send import SendReport
from nightrun_dagster.telegram.updates import PollResult, poll_decisions
from tests.telegram.fake_bot_api import FakeBotAPI

CHAT = -1001234
KEY = "signing-key"
ANA, BOB, MALLORY = 11, 22, 666
NOW = 1_770_000_000.0


def runs_of(report: SendReport) -> Path:
    return report.job_dir.parent.parent


def button(api: FakeBotAPI, message_id: int, label: str) -> str:
    row = api.messages[message_id]["reply_markup"]["inline_keyboard"][0]
    return next(b["callback_data"] for b in row if label in b["text"])


def tap(api: FakeBotAPI, report: SendReport, n: int, label: str, **kw: Any) -> int:
    """Candidate `n` of `report` tapped (`label`: Approve, Favorite or Reject); its update id."""
    mid = list(report.candidates.values())[n]
    kw.setdefault("user_id", ANA)
    kw.setdefault("chat_id", CHAT)
    kw.setdefault("username", "ana" if kw["user_id"] == ANA else None)
    return api.inject_callback(message_id=mid, data=button(api, mid, label), **kw)


def poll(api: FakeBotAPI, token: str, runs: Path, offset: int | None, **kw: Any) -> PollResult:
    kw.setdefault("now", NOW + 60)
    return poll_decisions(
        token,
        offset=offset,
        signing_key=KEY,
        approvers={ANA, BOB},
        review_chat_id=CHAT,
        runs_dir=runs,
        timeout_s=0,
        base_url=api.base_url,
        **kw,
    )


def answers(api: FakeBotAPI) -> list[str]:
    return [a["text"] for a in api.answers]


def answer_to(api: FakeBotAPI, update_id: int) -> list[str]:
    """Every answer given to the callback query of `update_id`, in order."""
    cq = api.callback_ids[update_id]
    return [a["text"] for a in api.answers if a.get("callback_query_id") == cq]
