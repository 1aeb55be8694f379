"""is_complete: a render is complete with every output in place, or with the ones retention
pruned listed in `meta/retention.json`; anything else missing means not complete."""

from pathlib import Path

from nightrun_dagster.store.atomic import atomic_write_bytes, atomic_write_json
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.variant_state import HISTORY, RETENTION, is_complete, pruned_outputs

VID = "v0001"


def rendered(tmp_path: Path) -> JobDir:
    job = JobDir(tmp_path / "job_a")
    atomic_write_bytes(job.out(VID) / "img_0001.png", b"png-bytes")
    atomic_write_bytes(job.out(VID) / "img_0001.preview.jpg", b"jpg")
    atomic_write_json(job.meta(VID) / HISTORY, {})
    output = {"file": "out/img_0001.png", "preview": "out/img_0001.preview.jpg", "bytes": 9}
    atomic_write_json(job.params(VID), {"render": {"status": "ok", "outputs": [output]}})
    return job


def test_complete_with_every_output(tmp_path: Path) -> None:
    assert is_complete(rendered(tmp_path), VID)


def test_a_missing_output_is_incomplete_unless_retention_pruned_it(tmp_path: Path) -> None:
    job = rendered(tmp_path)
    (job.out(VID) / "img_0001.png").unlink()
    (job.out(VID) / "img_0001.preview.jpg").unlink()
    assert not is_complete(job, VID)
    atomic_write_json(job.meta(VID) / RETENTION, {"files": {"out/img_0001.png": {"bytes": 9}}})
    assert pruned_outputs(job, VID) == {"out/img_0001.png"}
    assert not is_complete(job, VID)  # the preview is gone too and not listed
    atomic_write_json(
        job.meta(VID) / RETENTION,
        {"files": {"out/img_0001.png": {"bytes": 9}, "out/img_0001.preview.jpg": {"bytes": 3}}},
    )
    assert is_complete(job, VID)


def test_pruned_outputs_of_a_variant_without_marker_or_with_a_broken_one(tmp_path: Path) -> None:
    job = rendered(tmp_path)
    assert pruned_outputs(job, VID) == set()
    atomic_write_bytes(job.meta(VID) / RETENTION, b"{not json")
    assert pruned_outputs(job, VID) == set()
    (job.out(VID) / "img_0001.png").unlink()
    assert not is_complete(job, VID)
