"""Sending a shortlist with the real python-telegram-bot client against the fake Bot API."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from nightrun_dagster.store.telegram_docs import read_artifact_index
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.redact import TelegramFailure
from nightrun_dagster.telegram.send import (
    album_sizes,
    candidate_text,
    send_shortlist,
    send_text,
    truncate,
)
from nightrun_dagster.telegram.signing import verify
from tests.telegram.fake_bot_api import FakeBotAPI

CHAT = -1001234
KEY = b"k3y"
# RetryAfter.__init__ itself reads its deprecated int attribute in PTB 22.8; not our code.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_album_sizes_never_leave_a_lonely_photo_in_a_group() -> None:
    assert album_sizes(0) == []
    assert album_sizes(1) == [1]
    assert album_sizes(10) == [10]
    assert album_sizes(11) == [6, 5]
    assert album_sizes(21) == [7, 7, 7]
    for n in range(2, 60):
        sizes = album_sizes(n)
        assert sum(sizes) == n and all(2 <= s <= 10 for s in sizes)


def test_truncate_is_clean_and_within_limit() -> None:
    text = "word " * 400 + "🙂" * 50
    out = truncate(text, 1024)
    assert len(out.encode("utf-16-le")) // 2 <= 1024
    assert out.endswith("…") and not out.endswith(" …")
    assert truncate("short", 1024) == "short"


def test_caption_names_template_seed_loras_params_and_score() -> None:
    pick = {"rank": 3, "variant_id": "v0003", "total": 0.81234, "components": {"text": 0.9}}
    params = {
        "template": {"id": "ui_anchored_v1", "version": "1.0.0"},
        "seed": 5001,
        "loras": [{"name": "brand", "weight": 0.8}, {"name": "off", "enabled": False}],
        "sampler": "dpmpp_2m",
        "steps": 28,
        "cfg": 5.5,
        "denoise": 0.45,
    }
    text = candidate_text(pick, params, "abcdefghij")
    for part in ("ui_anchored_v1", "seed 5001", "brand 0.8", "dpmpp_2m", "28 steps", "cfg 5.5"):
        assert part in text
    assert "denoise 0.45" in text and "score 0.812" in text and "text 0.90" in text
    assert "off" not in text
    long = candidate_text({**pick, "reason": "x" * 3000}, params, "abcdefghij")
    assert len(long) <= 1024


def test_sends_albums_then_signed_keyboards_once(
    api: FakeBotAPI, make_job: Callable[..., Path], token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    job = make_job(13)
    report = send_shortlist(
        token, CHAT, job, signing_key=KEY, base_url=api.base_url, per_message_delay=0
    )
    groups = api.sent("sendMediaGroup")
    assert [len(c.params["media"]) for c in groups] == [7, 6]
    assert all(2 <= len(c.params["media"]) <= 10 for c in groups)
    assert len(api.media) == 13 and not api.sent("sendPhoto")
    keyboards = api.keyboards()
    assert len(keyboards) == 13 == len(report.candidates)
    for kb in keyboards:
        assert [b["text"] for b in kb[0]] == ["✅ Approve", "⭐ Favorite", "❌ Reject"]
        for button in kb[0]:
            assert len(button["callback_data"].encode()) <= 64
            verify(button["callback_data"], KEY)
    for call in api.sent("sendMessage"):
        assert len(call.params["text"]) <= 1024
    index = read_artifact_index(ledger.artifacts_path(job)).artifacts()
    assert set(index) == set(report.candidates)

    calls_before = len(api.calls)
    again = send_shortlist(
        token, CHAT, job, signing_key=KEY, base_url=api.base_url, per_message_delay=0
    )
    assert again.already_sent and again.candidates == report.candidates
    assert len(api.calls) == calls_before  # not even getMe

    assert token.encode() not in _all_bytes(job.parent.parent)
    assert token not in caplog.text
    assert "HTTP Request" in caplog.text  # httpx did log the URLs, redacted


def test_single_leftover_photo_goes_as_send_photo(
    api: FakeBotAPI, make_job: Callable[..., Path], token: str
) -> None:
    send_shortlist(
        token, CHAT, make_job(1), signing_key=KEY, base_url=api.base_url, per_message_delay=0
    )
    assert len(api.sent("sendPhoto")) == 1 and not api.sent("sendMediaGroup")
    assert len(api.keyboards()) == 1


def test_retry_after_then_success_sends_nothing_twice(
    api: FakeBotAPI, make_job: Callable[..., Path], token: str
) -> None:
    job = make_job(3)
    api.fail_next(1, retry_after=1, methods={"sendMediaGroup"})
    api.fail_next(1, retry_after=1, methods={"sendMessage"})
    report = send_shortlist(
        token, CHAT, job, signing_key=KEY, base_url=api.base_url, per_message_delay=0
    )
    assert report.retries == 2
    assert len(api.media) == 3  # the album landed once
    texts = [c.params["text"] for c in api.sent("sendMessage")]
    assert len(texts) == 3 == len(set(texts))
    assert api.throttled == ["sendMediaGroup", "sendMessage"]
    assert len(api.messages) == 3 + 3


def test_failure_midway_resumes_without_duplicates(
    api: FakeBotAPI, make_job: Callable[..., Path], token: str
) -> None:
    job = make_job(4)
    api.fail_next(2, retry_after=1, methods={"sendMessage"})
    with pytest.raises(TelegramFailure) as err:
        send_shortlist(
            token,
            CHAT,
            job,
            signing_key=KEY,
            base_url=api.base_url,
            per_message_delay=0,
            max_attempts=2,
        )
    assert token not in str(err.value)
    assert len(api.media) == 4
    report = send_shortlist(
        token, CHAT, job, signing_key=KEY, base_url=api.base_url, per_message_delay=0
    )
    assert len(api.media) == 4 and len(report.candidates) == 4
    assert len(api.messages) == 4 + 4


def test_errors_never_carry_the_token(make_job: Callable[..., Path], token: str) -> None:
    # Nothing listens on port 9: a connection error whose text would include the URL.
    with pytest.raises(TelegramFailure) as err:
        send_text(token, CHAT, "hello", base_url="http://127.0.0.1:9/bot")
    assert token not in str(err.value) and token not in repr(err.value)


def test_send_text(api: FakeBotAPI, token: str) -> None:
    mid = send_text(token, CHAT, "night summary " + "x" * 5000, base_url=api.base_url)
    assert api.messages[mid]["text"].startswith("night summary")
    assert len(api.messages[mid]["text"]) <= 4096
