"""The queue sensor: good files become job partitions, bad ones are rejected, nothing lost."""

import json
import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from nightrun_dagster.definitions import build_defs
from nightrun_dagster.defs.resources import NightrunResource
from nightrun_dagster.defs.sensors import job_queue_sensor
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.workflows.templates import DEFAULT_WORKFLOWS_DIR

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
