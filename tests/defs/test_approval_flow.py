"""Shortlist → Telegram review → a tap → approval sensor → approvals → publish packages."""

import hashlib
import json
from pathlib import Path

import dagster as dg
import pytest

from nightrun_dagster.cli.main import main
from nightrun_dagster.definitions import build_defs
from nightrun_dagster.defs.assets.approval import approvals, publish_packages, telegram_review
from nightrun_dagster.defs.assets.planning import job_spec, night_plan, variants
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.assets.selection import night_summary, scores, shortlist
from nightrun_dagster.defs.breakers import BreakersResource
from nightrun_dagster.defs.partitions import night_job_key
from nightrun_dagster.defs.resources import ComfyUIResource, NightrunResource, TelegramResource
from nightrun_dagster.defs.sensors import approval_sensor
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.store.telegram_docs import read_originals_sent, read_telegram_sent
from tests.telegram.fake_bot_api import FakeBotAPI

NIGHT = "2026-02-09"
KEY = "verde-yerba-static-2026-02"
TOKEN = "123456:TEST-token-never-written"
CHAT, APPROVER = -100777, 4242


def test_bot_api_base_url_defaults_to_telegram_and_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TELEGRAM_API_BASE_URL", raising=False)
    assert TelegramResource().base_url == "https://api.telegram.org/bot"
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://bot-api.internal:8081/bot")
    assert TelegramResource().base_url == "http://bot-api.internal:8081/bot"
    assert TelegramResource(base_url="http://other/bot").base_url == "http://other/bot"


def test_review_tap_approve_and_package(
    pg_instance: dg.DagsterInstance,
    tree: Tree,
    queued_examples: list[Path],
    emulator,
    capsys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pg_instance.add_dynamic_partitions("job", [KEY])
    with FakeBotAPI(TOKEN) as api:
        # A team's own Bot API server, named the way an operator would: in the environment.
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", api.base_url)
        telegram = TelegramResource(
            token=TOKEN,
            signing_key="k" * 32,
            review_chat_id=CHAT,
            approver_ids=str(APPROVER),
            per_message_delay_s=0,
            poll_timeout_s=0,
        )
        resources = {
            "nightrun": NightrunResource(root=str(tree.root), max_renders_per_night=6),
            "comfyui": ComfyUIResource(urls=emulator.url, poll_s=0.2),
            "breakers": BreakersResource(),
            "telegram": telegram,
        }
        assert dg.materialize(
            [night_plan], instance=pg_instance, partition_key=NIGHT, resources=resources
        ).success
        pk = night_job_key(NIGHT, KEY)
        config = {"ops": {"shortlist": {"config": {"k": 2, "n": 3}}}}
        run = dg.materialize(
            [job_spec, variants, renders, scores, shortlist, telegram_review],
            instance=pg_instance,
            partition_key=pk,
            resources=resources,
            run_config=config,
        )
        assert run.success
        job_dir = tree.job(NIGHT, KEY)
        picks = json.loads((job_dir.selection / "shortlisted.json").read_bytes())["picks"]
        assert api.sent("sendMediaGroup") and len(api.keyboards()) == len(picks)

        # the approver taps ✅ on the first candidate's message
        sent = read_telegram_sent(job_dir).shortlists()
        candidates = next(iter(sent.values())).candidates
        first_artifact, message_id = next(iter(candidates.items()))
        button = api.keyboards()[0][0][0]["callback_data"]
        assert button.startswith("a:") and len(button.encode()) <= 64
        api.inject_callback(user_id=APPROVER, chat_id=CHAT, message_id=message_id, data=button)
        api.inject_callback(user_id=999, chat_id=CHAT, message_id=message_id, data=button)

        defs = build_defs(tree.root, emulator.url)
        with dg.build_sensor_context(
            instance=pg_instance, resources=resources, definitions=defs
        ) as ctx:
            result = approval_sensor(ctx)
        assert isinstance(result, dg.SensorResult) and result.cursor
        assert [r.partition_key for r in result.run_requests] == [str(pk)]
        assert len(api.answers) == 2  # both taps answered; only one recorded
        assert api.documents == []  # the tick only answers and records; the run sends originals

        # a person without Telegram rejects the second pick from the command line
        code = main(
            [
                "reject",
                f"{NIGHT}/{KEY}/{picks[1]['variant_id']}",
                "--by",
                "marta",
                "--root",
                str(tree.root),
            ]
        )
        assert code == 0

        # the night's summary reaches the chat once, however often night_summary runs
        for _ in range(2):
            assert dg.materialize(
                [night_summary], instance=pg_instance, partition_key=NIGHT, resources=resources
            ).success
        summaries = [c for c in api.sent("sendMessage") if "Night 2026-02-09" in str(c.params)]
        assert len(summaries) == 1
        assert KEY in str(summaries[0].params) and "contact_sheet.html" in str(summaries[0].params)

        for _ in range(2):  # a rerun of the approvals run sends no original twice
            run = dg.materialize(
                [approvals, publish_packages],
                instance=pg_instance,
                partition_key=pk,
                resources=resources,
            )
            assert run.success
        # the approved original follows as a file, once, in reply to its candidate message
        assert len(api.documents) == 1 and api.documents[0]["chat_id"] in (CHAT, str(CHAT))
        assert api.documents[0]["reply_to"] == message_id
        originals = read_originals_sent(job_dir).originals()
        assert list(originals) == [first_artifact]
    doc = json.loads((job_dir.selection / "approved.json").read_bytes())
    assert [a["artifact"] for a in doc["approved"]] == [first_artifact]
    assert doc["approved"][0]["by"] and doc["approved"][0]["params"]["seed"] is not None
    approved_vid = doc["approved"][0]["variant_id"]
    assert doc["states"][approved_vid] == "approved"
    assert doc["states"][picks[1]["variant_id"]] == "rejected"
    assert list(doc["counts"]) and doc["counts"]["approved"] == 1
    original = json.loads(job_dir.params(approved_vid).read_bytes())["render"]["outputs"][0]["file"]
    assert api.documents[0]["data"] == (job_dir.variant(approved_vid) / original).read_bytes()
    package = job_dir.publish / approved_vid
    manifest = json.loads((package / "manifest.json").read_bytes())

    for name, entry in manifest["files"].items():
        assert hashlib.sha256((package / name).read_bytes()).hexdigest() == entry["sha256"]
    assert (package / "IG_feed_4x5_1080x1350.png").is_file()
    assert (package / "caption.txt").read_text().strip()
    # the token is in no file the night wrote
    for path in tree.root.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert TOKEN.encode() not in path.read_bytes(), path
