"""The sensors: queue files become job partitions (bad ones rejected, nothing lost); button taps
become approvals runs, even when a tick's result is lost or an update is malformed."""

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from nightrun_dagster.definitions import build_defs
from nightrun_dagster.defs.resources import NightrunResource, TelegramResource
from nightrun_dagster.defs.sensors import approval_sensor, job_queue_sensor
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.send import SendReport, send_shortlist
from nightrun_dagster.workflows.templates import DEFAULT_WORKFLOWS_DIR
from tests.telegram.fake_bot_api import FakeBotAPI

DATA = Path(__file__).resolve().parents[1] / "data" / "jobs"


def tick(instance: dg.DagsterInstance, nightrun: NightrunResource, cursor: str | None = None):
    defs = build_defs(Path(nightrun.root))
    with dg.build_sensor_context(
        instance=instance, resources={"nightrun": nightrun}, definitions=defs, cursor=cursor
    ) as ctx:
        result = job_queue_sensor(ctx)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions("job", list(request.partition_keys))
    return result


def test_good_and_bad_files_in_one_folder(
    tree: Tree, nightrun: NightrunResource, queued_examples: list[Path]
) -> None:
    bad_files = {
        "broken.json": b'{"job_id": "x", "created_at": ',
        "wrong_enum.json": None,
        "escape.json": None,
    }
    doc = json.loads(queued_examples[0].read_bytes())
    doc["goal"]["objective"] = "fame"
    doc["job_id"] = "wrong-enum"
    bad_files["wrong_enum.json"] = json.dumps(doc).encode()
    doc = json.loads(queued_examples[0].read_bytes())
    doc["job_id"] = "escape"
    doc["assets"]["product_images"] = ["../../etc/passwd"]
    bad_files["escape.json"] = json.dumps(doc).encode()
    for name, data in bad_files.items():
        (tree.queue / name).write_bytes(data)
    good_bytes = {p.name: p.read_bytes() for p in queued_examples}

    with dg.instance_for_test() as instance:
        result = tick(instance, nightrun)
        assert isinstance(result, dg.SensorResult)
        keys = set(instance.get_dynamic_partitions("job"))
        assert keys == {
            "verde-yerba-static-2026-02",
            "mitienda-checkout-ui-2026-02",
            "verde-teaser-reel-2026-02",
        }
        # the good files stay where they were, byte for byte
        for name, data in good_bytes.items():
            assert (tree.queue / name).read_bytes() == data
        # every bad file moved with its bytes unchanged, beside a report naming field + reason
        for name, data in bad_files.items():
            assert not (tree.queue / name).exists()
            assert (tree.rejected / name).read_bytes() == data
            report = json.loads((tree.rejected / f"{name}.error.json").read_bytes())
            assert report["file"] == name and report["rejected_at"]
            assert report["errors"] and all(e["reason"] for e in report["errors"])
        fields = {
            name: [
                e["field"]
                for e in json.loads((tree.rejected / f"{name}.error.json").read_bytes())["errors"]
            ]
            for name in bad_files
        }
        assert fields["broken.json"] == ["(json)"]
        assert fields["wrong_enum.json"] == ["goal.objective"]
        assert fields["escape.json"] == ["assets.product_images[0]"]
        escape = json.loads((tree.rejected / "escape.json.error.json").read_bytes())
        assert escape["errors"][0]["json_path"] == "$.assets.product_images[0]"
        # nothing lost: every file is either still queued or rejected
        assert len(list(tree.queue.glob("*.json"))) + len(bad_files) == len(good_bytes) + len(
            bad_files
        )

        # a second tick with the returned cursor adds nothing and says why
        again = tick(instance, nightrun, cursor=result.cursor)
        assert isinstance(again, dg.SkipReason)
        assert set(instance.get_dynamic_partitions("job")) == keys


def test_new_file_later_becomes_a_partition_once(
    tree: Tree, nightrun: NightrunResource, queued_examples: list[Path]
) -> None:
    with dg.instance_for_test() as instance:
        first = tick(instance, nightrun)
        doc = json.loads(queued_examples[0].read_bytes())
        doc["job_id"] = "Promo Café #2"
        (tree.queue / "promo.json").write_text(json.dumps(doc))
        second = tick(instance, nightrun, cursor=first.cursor)
        assert isinstance(second, dg.SensorResult)
        assert "promo-cafe-2" in instance.get_dynamic_partitions("job")
        third = tick(instance, nightrun, cursor=second.cursor)
        assert isinstance(third, dg.SkipReason)
        assert len(instance.get_dynamic_partitions("job")) == 4


def test_duplicate_job_key_rejects_the_newer_file(
    tree: Tree, nightrun: NightrunResource, queued_examples: list[Path]
) -> None:
    original = queued_examples[0]
    copy = tree.queue / "zz_copy.json"
    shutil.copy(original, copy)
    older = original.stat().st_mtime - 60
    os.utime(original, (older, older))
    with dg.instance_for_test() as instance:
        tick(instance, nightrun)
    assert original.exists() and not copy.exists()
    report = json.loads((tree.rejected / "zz_copy.json.error.json").read_bytes())
    assert report["errors"][0]["field"] == "job_id"
    assert original.name in report["errors"][0]["reason"]


def test_rejected_name_clash_keeps_both(tree: Tree, nightrun: NightrunResource) -> None:
    with dg.instance_for_test() as instance:
        (tree.queue / "bad.json").write_bytes(b"[1]")
        tick(instance, nightrun)
        (tree.queue / "bad.json").write_bytes(b"[2]")
        tick(instance, nightrun)
    assert (tree.rejected / "bad.json").read_bytes() == b"[1]"
    assert (tree.rejected / "bad.1.json").read_bytes() == b"[2]"
    assert (tree.rejected / "bad.1.json.error.json").is_file()


def test_files_still_being_written_wait(tree: Tree) -> None:
    settling = NightrunResource(root=str(tree.root), queue_settle_seconds=3600)
    (tree.queue / "half.json").write_bytes(b'{"job_id": ')
    with dg.instance_for_test() as instance:
        tick(instance, settling)
        assert instance.get_dynamic_partitions("job") == []
    assert (tree.queue / "half.json").read_bytes() == b'{"job_id": '
    assert not tree.rejected.exists()


def test_unmovable_bad_file_does_not_fail_the_tick(
    tree: Tree, nightrun: NightrunResource, queued_examples: list[Path]
) -> None:
    (tree.queue / "bad.json").write_bytes(b"nope")
    tree.rejected.parent.mkdir(parents=True, exist_ok=True)
    tree.rejected.write_text("a file where the rejected/ folder should be")
    with dg.instance_for_test() as instance:
        result = tick(instance, nightrun)
        assert isinstance(result, dg.SensorResult)
        assert len(instance.get_dynamic_partitions("job")) == 3
    assert (tree.queue / "bad.json").read_bytes() == b"nope"


def test_broken_templates_reject_only_their_jobs_and_are_logged_each_tick(
    tree: Tree, queued_examples: list[Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    workflows = tmp_path / "workflows"
    shutil.copytree(DEFAULT_WORKFLOWS_DIR, workflows)
    # A plain ComfyUI export (no _workflow_metadata) and a file that is not JSON.
    node = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}}}
    (workflows / "plain_export.json").write_text(json.dumps(node))
    (workflows / "half_written.json").write_text('{"1": ')
    for template_id in ("plain_export", "half_written"):
        doc = json.loads(queued_examples[0].read_bytes())
        doc["job_id"] = f"uses-{template_id}"
        doc["generation"]["workflow"] = {
            "template_id": template_id,
            "workflow_path": f"{template_id}.json",
        }
        (tree.queue / f"uses_{template_id}.json").write_text(json.dumps(doc))
    nightrun = NightrunResource(
        root=str(tree.root), queue_settle_seconds=0, workflows_dir=str(workflows)
    )

    with dg.instance_for_test() as instance:
        capfd.readouterr()
        result = tick(instance, nightrun)
        # The sensor's log reaches the instance's console handler, on stderr.
        log = capfd.readouterr().err
        assert isinstance(result, dg.SensorResult)
        # every good job still became a partition
        assert set(instance.get_dynamic_partitions("job")) == {
            "verde-yerba-static-2026-02",
            "mitienda-checkout-ui-2026-02",
            "verde-teaser-reel-2026-02",
        }
        for template_id, why in (
            ("plain_export", "a plain ComfyUI export"),
            ("half_written", "not valid JSON"),
        ):
            name = f"uses_{template_id}.json"
            report = json.loads((tree.rejected / f"{name}.error.json").read_bytes())
            (error,) = report["errors"]
            assert error["field"] == "generation.workflow.template_id"
            assert f"{workflows / template_id}.json is broken: " in error["reason"]
            assert why in error["reason"]
        (summary,) = [m for m in log.splitlines() if "broken workflow template" in m]
        assert " - WARNING - " in summary
        assert "2 broken workflow template(s)" in summary
        assert "plain_export.json is broken" in summary and "half_written.json is broken" in summary

        # The next tick says it again, once.
        again = tick(instance, nightrun, cursor=result.cursor)
        assert isinstance(again, dg.SkipReason)
        assert capfd.readouterr().err.count("broken workflow template") == 1


TOKEN = "123456:TEST-token-never-written"
CHAT, APPROVER, SECOND = -100777, 4242, 4343
NIGHT, KEY = "2026-02-09", "verde-yerba-static-2026-02"


@pytest.fixture
def bot_api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(TOKEN) as api:
        yield api


@pytest.fixture
def telegram(bot_api: FakeBotAPI) -> TelegramResource:
    return TelegramResource(
        token=TOKEN,
        signing_key="k" * 32,
        review_chat_id=CHAT,
        approver_ids=[APPROVER, SECOND],
        base_url=bot_api.base_url,
        per_message_delay_s=0,
        poll_timeout_s=0,
    )


@pytest.fixture
def review(tree: Tree, bot_api: FakeBotAPI, telegram: TelegramResource) -> SendReport:
    """A shortlist of two candidates sent to the review chat."""
    job = tree.job(NIGHT, KEY)
    job.selection.mkdir(parents=True)
    picks = [{"rank": n, "variant_id": f"v{n:04d}"} for n in (1, 2)]
    shortlist = {"night": NIGHT, "job_key": KEY, "picks": picks}
    (job.selection / "shortlisted.json").write_text(json.dumps(shortlist))
    return send_shortlist(
        TOKEN,
        CHAT,
        job.path,
        signing_key=telegram.signing_key,
        base_url=bot_api.base_url,
        per_message_delay=0,
    )


def approval_tick(
    instance: dg.DagsterInstance,
    nightrun: NightrunResource,
    telegram: TelegramResource,
    cursor: str | None = None,
) -> dg.SensorResult:
    defs = build_defs(Path(nightrun.root))
    resources = {"nightrun": nightrun, "telegram": telegram}
    with dg.build_sensor_context(
        instance=instance, resources=resources, definitions=defs, cursor=cursor
    ) as ctx:
        result = approval_sensor(ctx)
    assert isinstance(result, dg.SensorResult), result
    return result


def _press(
    api: FakeBotAPI, review: SendReport, n: int, code: str, user: int, data: str | None = None
) -> int:
    message_id = list(review.candidates.values())[n]
    if data is None:
        row = api.messages[message_id]["reply_markup"]["inline_keyboard"][0]
        data = next(b["callback_data"] for b in row if b["callback_data"].startswith(code + ":"))
    return api.inject_callback(user_id=user, chat_id=CHAT, message_id=message_id, data=data)


def test_lost_tick_still_requests_the_approvals_run_once(
    pg_instance: dg.DagsterInstance,
    nightrun: NightrunResource,
    telegram: TelegramResource,
    bot_api: FakeBotAPI,
    review: SendReport,
) -> None:
    pg_instance.add_dynamic_partitions("job", [KEY])
    message_id = next(iter(review.candidates.values()))
    stale = bot_api.messages[message_id]["reply_markup"]["inline_keyboard"][0][2]["callback_data"]
    uid = _press(bot_api, review, 0, "a", APPROVER)
    lost = approval_tick(pg_instance, nightrun, telegram)  # its result never reaches Dagster
    [first] = lost.run_requests
    assert first.partition_key == str(dg.MultiPartitionKey({"night": NIGHT, "job": KEY}))

    # The next tick starts from the old cursor: the same tap comes back as a replay.
    replay = approval_tick(pg_instance, nightrun, telegram)
    assert replay.cursor == str(uid + 1)
    [again] = replay.run_requests
    # Same partition, same run key: Dagster submits it once, whether or not the lost one ran.
    assert (again.partition_key, again.run_key) == (first.partition_key, first.run_key)
    assert len(ledger.read(review.job_dir)) == 1

    # A second approver taps ❌ on the already decided candidate: the same run is asked for.
    late = _press(bot_api, review, 0, "r", SECOND, data=stale)
    decided = approval_tick(pg_instance, nightrun, telegram, cursor=replay.cursor)
    assert decided.cursor == str(late + 1)
    assert [r.run_key for r in decided.run_requests] == [first.run_key]

    # Nothing new: no run. A new decision: a new ledger state, a new run key.
    quiet = approval_tick(pg_instance, nightrun, telegram, cursor=decided.cursor)
    assert quiet.run_requests == [] and quiet.cursor == decided.cursor
    _press(bot_api, review, 1, "f", SECOND)
    changed = approval_tick(pg_instance, nightrun, telegram, cursor=quiet.cursor)
    [new] = changed.run_requests
    assert new.partition_key == first.partition_key and new.run_key != first.run_key
    assert [d["decision"] for d in ledger.read(review.job_dir)] == ["approve", "favorite"]


def test_malformed_update_is_acknowledged_and_the_decision_behind_it_runs(
    pg_instance: dg.DagsterInstance,
    nightrun: NightrunResource,
    telegram: TelegramResource,
    bot_api: FakeBotAPI,
    review: SendReport,
    capfd: pytest.CaptureFixture[str],
) -> None:
    pg_instance.add_dynamic_partitions("job", [KEY])
    message_id = next(iter(review.candidates.values()))
    good_data = bot_api.messages[message_id]["reply_markup"]["inline_keyboard"][0][0]
    bad = _press(bot_api, review, 0, "a", APPROVER, data=good_data["callback_data"] + "\udc80")
    good = _press(bot_api, review, 1, "a", APPROVER)
    capfd.readouterr()
    result = approval_tick(pg_instance, nightrun, telegram)
    log = capfd.readouterr().err
    assert result.cursor == str(good + 1)  # both acknowledged: the bad one never comes back
    assert len(result.run_requests) == 1
    assert [d["update_id"] for d in ledger.read(review.job_dir)] == [good]
    answers = {a["callback_query_id"]: a["text"] for a in bot_api.answers}
    assert answers[bot_api.callback_ids[bad]] == "Invalid button"
    assert answers[bot_api.callback_ids[good]].startswith("Approved ✅")
    assert f"update {bad} ignored: bad callback: malformed" in log
    assert "getUpdates" not in log and "could not be polled" not in log
    again = approval_tick(pg_instance, nightrun, telegram, cursor=result.cursor)
    assert again.run_requests == [] and again.cursor == result.cursor
