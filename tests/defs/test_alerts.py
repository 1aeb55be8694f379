"""The run-failure sensor against the fake Bot API: one message per failed run, naming the job,
the partition and the error, never the token; Telegram off or down never fails the sensor."""

from collections.abc import Iterator

import dagster as dg
import pytest

from nightrun_dagster.defs.alerts import run_failure_alert
from nightrun_dagster.defs.partitions import night_partitions
from nightrun_dagster.defs.resources import TelegramResource
from nightrun_dagster.defs.tags import MODE_TAG, PHASE_TAG
from tests.telegram.fake_bot_api import FakeBotAPI

TOKEN = "515151:AAH-alert-Secret_token-value-9876543210"
CHAT = -1004321
NIGHT = "2026-02-09"


@dg.asset(partitions_def=night_partitions)
def exploding_step() -> None:
    raise ValueError(f"ComfyUI answered 500 for http://x/bot{TOKEN}/boom\nsecond line")


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(TOKEN) as server:
        yield server


@pytest.fixture
def failed() -> Iterator[tuple[dg.DagsterInstance, dg.ExecuteInProcessResult]]:
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [exploding_step],
            instance=instance,
            partition_key=NIGHT,
            tags={MODE_TAG: "exploration", PHASE_TAG: "window"},
            raise_on_error=False,
        )
        assert not result.success
        yield instance, result


def evaluate(
    instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult, telegram: TelegramResource
) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
        resources={"telegram": telegram},
    )
    run_failure_alert(context)


def configured(api_url: str) -> TelegramResource:
    return TelegramResource(
        token=TOKEN, signing_key="k", review_chat_id=CHAT, base_url=api_url, approver_ids="1"
    )


def test_a_failed_run_is_reported_once(
    api: FakeBotAPI, failed: tuple[dg.DagsterInstance, dg.ExecuteInProcessResult]
) -> None:
    instance, result = failed
    evaluate(instance, result, configured(api.base_url))

    (call,) = api.sent("sendMessage")
    assert call.params["chat_id"] == CHAT
    text = call.params["text"]
    assert text.startswith("❌ Night Runs: run of __ephemeral_asset_job__ failed")
    assert f"partition: {NIGHT}" in text
    assert "phase: window, mode: exploration" in text
    assert f"run: {result.dagster_run.run_id}" in text
    assert "step exploding_step:" in text
    assert "ValueError: ComfyUI answered 500" in text and "second line" in text
    assert TOKEN not in text and "<bot-token>" in text


def test_telegram_off_or_down_never_fails_the_sensor(
    api: FakeBotAPI,
    failed: tuple[dg.DagsterInstance, dg.ExecuteInProcessResult],
    capsys: pytest.CaptureFixture[str],
) -> None:
    instance, result = failed
    capsys.readouterr()
    off = TelegramResource(review_chat_id=CHAT, base_url=api.base_url)  # no token: off
    evaluate(instance, result, off)
    assert api.sent("sendMessage") == []
    logged = capsys.readouterr().err
    assert "Telegram is not configured; failure not sent" in logged
    assert "ValueError: ComfyUI answered 500" in logged

    with FakeBotAPI(TOKEN) as gone:
        url = gone.base_url
    capsys.readouterr()
    # That server is stopped: the send fails, the sensor logs why and returns.
    evaluate(instance, result, configured(url))
    logged = capsys.readouterr().err
    assert "run failure not sent to Telegram (sendMessage" in logged
    assert "ValueError: ComfyUI answered 500" in logged
    assert TOKEN not in logged
