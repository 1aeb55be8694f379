"""Polling under faults: bad updates, an unwritable ledger, forged tags and 429s never stall it."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.send import SendReport
from nightrun_dagster.telegram.signing import sign
from nightrun_dagster.telegram.updates import PollResult
from tests.telegram.fake_bot_api import FakeBotAPI
from tests.telegram.taps import ANA, CHAT, KEY, NOW, answer_to, answers, button, poll, runs_of, tap
from tests.telegram.test_signing import forged_tags

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
JOB = ("2026-02-10", "shoes-2026")


def _our_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("nightrun_dagster") and r.levelno >= logging.WARNING
    ]


def test_lone_surrogate_in_callback_data_is_refused_and_acknowledged(
    api: FakeBotAPI, sent: SendReport, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    mid = next(iter(sent.candidates.values()))
    bad = api.inject_callback(
        user_id=ANA, chat_id=CHAT, message_id=mid, data=button(api, mid, "Approve")[:-1] + "\udc80"
    )
    good = tap(api, sent, 1, "Approve")
    # The update reaches the client as Telegram's JSON can carry it: an escaped lone surrogate.
    raw = httpx.get(f"{api.base_url}{token}/getUpdates").content
    assert b'"data":"' in raw and b"\\udc80" in raw

    result = poll(api, token, runs_of(sent), None)
    assert result.next_offset == good + 1  # both acknowledged
    assert result.ignored == [(bad, "bad callback: malformed")]
    assert answer_to(api, bad) == ["Invalid button"]
    assert [d["update_id"] for d in result.recorded] == [good]
    assert answer_to(api, good)[0].startswith("Approved ✅ by @ana")
    assert f"update {bad} ignored: bad callback: malformed" in caplog.text
    assert not any("getUpdates" in m for m in _our_warnings(caplog))
    # Acknowledged: it never comes back.
    assert poll(api, token, runs_of(sent), result.next_offset) == PollResult(result.next_offset)


def test_update_that_breaks_handling_counts_as_malformed(
    api: FakeBotAPI, sent: SendReport, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # A hand-edited index of another night: the night holds a NUL byte, so reading the ledger
    # of this (validly signed) artifact raises ValueError deep inside the handling.
    broken = runs_of(sent) / "2026-02-11" / "job_broken" / "selection"
    broken.mkdir(parents=True)
    entry = {"night": "2026-02-11\x00", "job_key": "broken", "variant_id": "v0001"}
    (broken / ledger.ARTIFACTS).write_text(json.dumps({"zzzzzzzzzz": entry}))
    mid = next(iter(sent.candidates.values()))
    data = sign("a", "zzzzzzzzzz", int(NOW + 3600), KEY)
    bad = api.inject_callback(user_id=ANA, chat_id=CHAT, message_id=mid, data=data)
    good = tap(api, sent, 2, "Reject")

    result = poll(api, token, runs_of(sent), None)
    assert result.next_offset == good + 1
    [(uid, reason)] = result.ignored
    assert uid == bad and reason.startswith("malformed update: ValueError")
    assert answer_to(api, bad) == ["Invalid button"]
    assert [d["decision"] for d in ledger.read(sent.job_dir)] == ["reject"]
    [warning] = _our_warnings(caplog)
    assert warning.startswith(f"update {bad} acknowledged as malformed: ValueError")
    assert "getUpdates" not in warning


def test_unwritable_ledger_is_retried_not_acknowledged(
    api: FakeBotAPI, sent: SendReport, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = ledger.decisions_path(sent.job_dir)
    path.mkdir(parents=True)  # a folder where the ledger should be: every write fails
    first = tap(api, sent, 0, "Approve")
    second = tap(api, sent, 1, "Favorite")
    stuck = poll(api, token, runs_of(sent), None)
    assert stuck.next_offset is None and stuck.left_for_next == 2
    assert stuck.recorded == [] and answers(api) == []  # nobody is told anything untrue
    assert f"update {first} not recorded" in caplog.text
    path.rmdir()
    done = poll(api, token, runs_of(sent), stuck.next_offset)
    assert done.next_offset == second + 1 and len(done.recorded) == 2
    assert [d["update_id"] for d in ledger.read(sent.job_dir)] == [first, second]


def test_forged_tags_are_invalid_buttons_through_the_client(
    api: FakeBotAPI, sent: SendReport, token: str
) -> None:
    mid = next(iter(sent.candidates.values()))
    forged = forged_tags(button(api, mid, "Approve"))
    uids = [
        api.inject_callback(user_id=ANA, chat_id=CHAT, message_id=mid, data=data) for data in forged
    ]
    result = poll(api, token, runs_of(sent), None)
    assert result.next_offset == uids[-1] + 1
    assert result.ignored == [(u, "bad callback: bad tag") for u in uids]
    assert [answer_to(api, u) for u in uids] == [["Invalid button"]] * len(forged)
    assert ledger.read(sent.job_dir) == [] and api.edits == []


def test_rate_limit_that_fits_the_budget_is_waited_out(
    api: FakeBotAPI, sent: SendReport, token: str
) -> None:
    first = tap(api, sent, 0, "Approve")
    second = tap(api, sent, 1, "Reject")
    api.fail_next(1, retry_after=1, methods={"answerCallbackQuery"})
    result = poll(api, token, runs_of(sent), None, budget_s=10)
    assert api.throttled == ["answerCallbackQuery"]
    assert result.next_offset == second + 1 and len(result.recorded) == 2
    assert answer_to(api, first)[0].startswith("Approved ✅")
    assert answer_to(api, second)[0].startswith("Rejected ❌")


def test_rate_limit_past_the_budget_leaves_the_rest_for_the_next_poll(
    api: FakeBotAPI, sent: SendReport, token: str
) -> None:
    uids = [tap(api, sent, n, "Approve") for n in range(3)]
    api.fail_next(1, retry_after=60, methods={"answerCallbackQuery"})
    cut = poll(api, token, runs_of(sent), None, budget_s=5)
    # The first tap was recorded before its answer was refused; nothing was acknowledged.
    assert cut.next_offset is None and cut.left_for_next == 3
    assert [d["update_id"] for d in cut.recorded] == [uids[0]]
    assert answers(api) == [] and cut.affected == {JOB}
    rest = poll(api, token, runs_of(sent), cut.next_offset)
    assert rest.next_offset == uids[-1] + 1 and rest.ignored == [(uids[0], "replayed update")]
    decisions = {d["update_id"]: d for d in ledger.read(sent.job_dir)}
    assert list(decisions) == uids  # each once
    for uid in uids:
        assert answer_to(api, uid) == [f"Approved ✅ by @ana at {decisions[uid]['at']}"]


def test_spent_budget_acknowledges_nothing(api: FakeBotAPI, sent: SendReport, token: str) -> None:
    tap(api, sent, 0, "Approve")
    result = poll(api, token, runs_of(sent), None, budget_s=0)
    assert result.next_offset is None and result.left_for_next == 1
    assert ledger.read(sent.job_dir) == [] and answers(api) == []
