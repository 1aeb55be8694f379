"""Polling taps with the real client: who may decide, where, when, and exactly once."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.send import SendReport
from nightrun_dagster.telegram.updates import PollResult
from tests.telegram.fake_bot_api import FakeBotAPI
from tests.telegram.taps import (
    ANA,
    BOB,
    CHAT,
    KEY,
    MALLORY,
    NOW,
    answer_to,
    answers,
    button,
    poll,
    runs_of,
    tap,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def _poll(api: FakeBotAPI, token: str, report: SendReport, offset: int | None, **kw: Any):
    return poll(api, token, runs_of(report), offset, **kw)


def test_valid_approval_is_recorded_answered_and_marked(
    api: FakeBotAPI, sent: SendReport, token: str
) -> None:
    uid = tap(api, sent, 0, "Approve")
    result = _poll(api, token, sent, None)
    assert result.next_offset == uid + 1
    [decision] = result.recorded
    art = next(iter(sent.candidates))
    assert decision["artifact"] == art and decision["decision"] == "approve"
    assert decision["by"] == "@ana" and decision["via"] == "telegram"
    assert decision["update_id"] == uid
    assert result.affected == {("2026-02-10", "shoes-2026")}
    assert ledger.read(sent.job_dir) == [decision]
    assert answers(api)[0].startswith("Approved ✅ by @ana")
    msg = api.messages[sent.candidates[art]]
    assert "Approved ✅ by @ana" in msg["text"] and "reply_markup" not in msg
    # Inside the tick a tap costs an answer and an edit; the original is the approvals run's.
    tick = [c.method for c in api.calls if c.method not in {"getMe", "getUpdates"}]
    assert tick[-2:] == ["answerCallbackQuery", "editMessageText"]
    assert api.sent("sendDocument") == [] and api.documents == []


@pytest.mark.parametrize(
    ("who", "reason", "answer"),
    [
        ({"user_id": MALLORY}, "user not allowed", "Not allowed"),
        ({"chat_id": -999}, "not in the review chat", "Not allowed here"),
    ],
)
def test_unknown_user_and_other_chat_are_refused(
    api: FakeBotAPI, sent: SendReport, token: str, who: dict, reason: str, answer: str
) -> None:
    uid = tap(api, sent, 0, "Approve", **who)
    result = _poll(api, token, sent, None)
    assert result.recorded == [] and result.ignored == [(uid, reason)]
    assert answers(api) == [answer]
    assert ledger.read(sent.job_dir) == [] and api.edits == []


def test_forged_and_expired_tags_are_refused(api: FakeBotAPI, sent: SendReport, token: str) -> None:
    mid = next(iter(sent.candidates.values()))
    good = button(api, mid, "Reject")
    forged = "a" + good[1:]  # reject turned into approve, tag unchanged
    u1 = api.inject_callback(user_id=ANA, chat_id=CHAT, message_id=mid, data=forged)
    result = _poll(api, token, sent, None)
    assert result.ignored == [(u1, "bad callback: bad tag")]
    u2 = api.inject_callback(user_id=ANA, chat_id=CHAT, message_id=mid, data=good)
    late = _poll(api, token, sent, result.next_offset, now=NOW + 3600 + 1)
    assert late.ignored == [(u2, "bad callback: expired")]
    assert answers(api) == ["Invalid button", "Expired"]
    assert ledger.read(sent.job_dir) == []


def test_signed_but_unknown_artifact(api: FakeBotAPI, sent: SendReport, token: str) -> None:
    from nightrun_dagster.telegram.signing import sign

    mid = next(iter(sent.candidates.values()))
    data = sign("a", "zzzzzzzzzz", int(NOW + 3600), KEY)
    uid = api.inject_callback(user_id=ANA, chat_id=CHAT, message_id=mid, data=data)
    assert _poll(api, token, sent, None).ignored == [(uid, "unknown artifact")]


def test_double_tap_first_decision_wins(api: FakeBotAPI, sent: SendReport, token: str) -> None:
    mid = list(sent.candidates.values())[1]
    stale = button(api, mid, "Approve")  # still on Bob's screen after the message is marked
    tap(api, sent, 1, "Favorite")
    u2 = tap(api, sent, 1, "Reject", user_id=BOB, first_name="Bob")
    result = _poll(api, token, sent, None)
    assert [d["decision"] for d in result.recorded] == ["favorite"]
    assert result.ignored == [(u2, "already decided")]
    assert answers(api)[1] == "Already decided: favorite by @ana"
    # The run a tap on a decided candidate asks for is the same as the first tap's.
    late = api.inject_callback(user_id=BOB, chat_id=CHAT, message_id=mid, data=stale)
    again = _poll(api, token, sent, result.next_offset)
    assert again.ignored == [(late, "already decided")] and again.recorded == []
    assert again.affected == {("2026-02-10", "shoes-2026")}
    assert [d["decision"] for d in ledger.read(sent.job_dir)] == ["favorite"]


def test_replay_after_restart_with_old_offset(
    api: FakeBotAPI, sent: SendReport, token: str
) -> None:
    uid = tap(api, sent, 2, "Approve")
    first = _poll(api, token, sent, None)
    assert len(first.recorded) == 1
    # The sensor crashed before saving next_offset: the same update is delivered again.
    again = _poll(api, token, sent, None)
    assert again.recorded == [] and again.ignored == [(uid, "replayed update")]
    assert again.next_offset == first.next_offset
    # The lost tick's run is asked for again, and the user hears what the ledger says.
    assert again.affected == first.affected == {("2026-02-10", "shoes-2026")}
    [decision] = ledger.read(sent.job_dir)
    told = answer_to(api, uid)
    assert told[0] == told[1] == f"Approved ✅ by @ana at {decision['at']}"
    assert len(ledger.read(sent.job_dir)) == 1
    # Once acknowledged, Telegram forgets it.
    done = _poll(api, token, sent, again.next_offset)
    assert done == PollResult(next_offset=again.next_offset)


def test_ledger_written_even_if_answer_fails(api: FakeBotAPI, sent: SendReport, token: str) -> None:
    tap(api, sent, 0, "Approve")
    api.fail_next(1, methods={"answerCallbackQuery"})
    result = _poll(api, token, sent, None)
    assert len(result.recorded) == 1 and len(ledger.read(sent.job_dir)) == 1
    assert api.throttled == ["answerCallbackQuery"]


def test_mixed_traffic_records_exactly_the_legitimate_decisions(
    api: FakeBotAPI, sent: SendReport, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    arts = list(sent.candidates)
    tap(api, sent, 0, "Approve")
    tap(api, sent, 0, "Approve")  # double tap
    tap(api, sent, 1, "Approve", user_id=MALLORY)
    tap(api, sent, 1, "Reject", user_id=BOB)
    api.inject_message(user_id=ANA, chat_id=CHAT, text="looks good!")
    tap(api, sent, 2, "Favorite", chat_id=-5)
    tap(api, sent, 3, "Reject")
    r1 = _poll(api, token, sent, None)
    tap(api, sent, 2, "Favorite", user_id=BOB)
    r2 = _poll(api, token, sent, r1.next_offset)
    _poll(api, token, sent, None)  # a restart replaying nothing new
    got = {(d["artifact"], d["decision"], d["user_id"]) for d in ledger.read(sent.job_dir)}
    assert got == {
        (arts[0], "approve", ANA),
        (arts[1], "reject", BOB),
        (arts[3], "reject", ANA),
        (arts[2], "favorite", BOB),
    }
    assert len(ledger.read(sent.job_dir)) == 4
    assert len(r1.recorded) + len(r2.recorded) == 4
    assert len(api.answers) == 7 + 1  # every tap answered, the replay too; messages not
    assert any(reason == "not a callback query" for _, reason in r1.ignored)
    runs = runs_of(sent)
    for path in runs.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    assert token not in caplog.text
