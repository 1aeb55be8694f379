"""Retention on a generated tree: exactly the right outputs go, approved/published/shortlisted
and metadata stay, approved and published are archived, dry runs and second runs change nothing."""

import asyncio
import hashlib
import io
import json
import os
import random
import shutil
import zlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from nightrun_dagster.comfy.render_loop import RenderRun, RenderSettings
from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.publish.package import build_package
from nightrun_dagster.retention import (
    RetentionPlan,
    UnsafePath,
    apply_retention,
    plan_retention,
    rank,
    sweep_temp,
)
from nightrun_dagster.selection.approvals import fold
from nightrun_dagster.selection.job import write_shortlist
from nightrun_dagster.store.atomic import atomic_write_bytes, atomic_write_json
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.selection_docs import write_approvals
from nightrun_dagster.store.variant_state import is_complete, read_params
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.signing import artifact_id

TODAY = date(2026, 2, 16)  # the Monday after Sunday night 2026-02-15
OLD = ["2026-02-01", "2026-02-05"]
YOUNG = ["2026-02-09", "2026-02-12"]  # 2026-02-09 is exactly keep_days before the cutoff
JOBS = ["alpha", "beta"]
K = 2
# variant -> score total; None: rendered, never scored; "failed": render failed (no outputs)
TOTALS: dict[str, Any] = {
    "v0001": 0.50,
    "v0002": 0.90,
    "v0003": None,
    "v0004": 0.70,
    "v0005": 0.70,
    "v0006": "failed",
    "v0007": 0.10,
    "v0008": 0.30,
}
JOB = {
    "job_id": "alpha",
    "created_at": "2026-02-01T10:00:00-03:00",
    "product": {"sku": "CF-1", "name": "Café Tostado 250 g", "brand": "Tostal", "price": 4999},
    "goal": {"objective": "sales", "offer": "2x1 los jueves", "cta": "Comprá ahora"},
    "platforms": [{"platform": "instagram", "format": "feed_1x1", "deliverable": "image"}],
    "assets": {"product_images": ["cafe.png"]},
    "copy": {
        "headline": "Café Tostado",
        "subheadline": "Recién molido",
        "language": "es-AR",
        "hashtags": ["#cafe"],
    },
    "generation": {
        "workflow": {"template_id": "product_hero_v1", "workflow_path": "wf.json"},
        "seed_strategy": {"mode": "fixed", "seed": 7},
        "variants": {},
    },
}
APPROVAL = {"by": "@ana_mkt", "at": "2026-02-02T09:15:00-03:00"}


def noise(seed: str) -> Image.Image:
    """A small noise image: every variant gets its own perceptual hash (no near-duplicates)."""
    rng = random.Random(zlib.crc32(seed.encode()))
    img = Image.new("RGB", (48, 60))
    img.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(2880)])
    return img


def encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def write_variant(job_dir: JobDir, night: str, vid: str, n: int) -> None:
    total = TOTALS[vid]
    params: dict[str, Any] = {
        "params_version": 1,
        "job_id": job_dir.path.name,
        "variant_id": vid,
        "night": night,
        "prompt": f"prompt {n}",
        "prompt_index": n,
        "loras": [],
        "seed": 1000 + n,
    }
    meta = job_dir.meta(vid)
    atomic_write_json(meta / "prompt.json", {"1": {"class_type": "KSampler"}})
    if total == "failed":
        params["render"] = {"status": "failed", "error": "OOM on every rung"}
        atomic_write_json(job_dir.params(vid), params)
        return
    img = noise(f"{night}/{job_dir.path.name}/{vid}")
    data = encode(img, "PNG")
    atomic_write_bytes(job_dir.out(vid) / "img_0001.png", data)
    atomic_write_bytes(job_dir.out(vid) / "img_0001.preview.jpg", encode(img, "JPEG"))
    atomic_write_json(meta / "comfy_history.json", {"p": {"status": {"completed": True}}})
    params["render"] = {
        "status": "ok",
        "outputs": [
            {
                "file": "out/img_0001.png",
                "preview": "out/img_0001.preview.jpg",
                "bytes": len(data),
                "kind": "image",
            }
        ],
    }
    atomic_write_json(job_dir.params(vid), params)
    if total is not None:
        component = {"score": total, "raw": total}
        output = {
            "file": "out/img_0001.png",
            "total": total,
            "components": {"sharpness": component, "text": component},
        }
        atomic_write_json(
            meta / "score.json",
            {"score_version": 1, "variant_id": vid, "outputs": [output], "total": total, "best": 0},
        )


def build_job(tree: Tree, night: str, key: str, job: CreativeJob) -> JobDir:
    job_dir = tree.job(night, key)
    atomic_write_bytes(job_dir.job_snapshot, b'{"job_id": "alpha"}\n')
    atomic_write_json(job_dir.inputs_manifest, {"files": {}})
    ids = sorted(TOTALS)
    atomic_write_json(job_dir.variants_index, {"variants": ids, "count": len(ids)})
    for n, vid in enumerate(ids):
        write_variant(job_dir, night, vid, n)
    # Real shortlist: one per cluster (each variant is its own), best three overall.
    _, short = write_shortlist(job_dir, night, key, key, ids, k=1, n=3)
    if key == "alpha":
        # v0007 approved from the CLI (not a pick, only in the ledger); v0005 a pick, favorited
        # and folded into approved.json; v0001 published without any decision on record.
        for vid, decision in (("v0007", "approve"), ("v0005", "favorite")):
            entry = {
                "artifact": artifact_id(night, key, vid),
                "night": night,
                "job_key": key,
                "variant_id": vid,
                "decision": decision,
                "by": "ana",
                "via": "cli",
                "at": "2026-02-02T09:00:00+00:00",
            }
            assert ledger.record(job_dir.path, entry)
        params = {v: read_params(job_dir, v).as_dict() for v in ids}
        approved = fold(short, ledger.read(job_dir.path), set(), params)
        write_approvals(job_dir, approved)
        build_package(job_dir.path, "v0001", job, approval=APPROVAL)
    # A partial download a killed run left in a losing and in a kept variant.
    atomic_write_bytes(job_dir.out("v0008") / ".img_0002.png.download", b"partial")
    atomic_write_bytes(job_dir.out("v0002") / ".img_0002.png.download", b"partial")
    return job_dir


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated tree, built once (the publish package runs OCR); each test copies it."""
    root = tmp_path_factory.mktemp("retention") / "night-runs"
    tree = Tree(root)
    job = CreativeJob.model_validate(JOB)
    for night in OLD + YOUNG:
        atomic_write_json(tree.night_plan(night), {"night": night, "mode": "exploration"})
        for key in JOBS:
            build_job(tree, night, key, job)
        atomic_write_json(tree.night(night) / "night_summary.json", {"night": night, "jobs": []})
    return root


@pytest.fixture
def root(template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "night-runs"
    shutil.copytree(template, dst, symlinks=True)
    return dst


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (folders too, as "dir"), the whole tree."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            out[Path(dirpath, d).relative_to(root).as_posix()] = "dir"
        for f in files:
            p = Path(dirpath, f)
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def expected_deletions() -> set[str]:
    """By hand: top 2 are v0002 and v0004 (v0004 wins the 0.70 tie by id); the shortlist is
    v0002, v0004, v0005; alpha also keeps v0007 (approved), v0001 (published)."""
    gone = {
        "alpha": ["v0003", "v0008"],
        "beta": ["v0001", "v0003", "v0007", "v0008"],
    }
    files = set()
    for night in OLD:
        for key, vids in gone.items():
            for vid in vids:
                base = f"runs/{night}/job_{key}/variants/{vid}/out"
                files |= {f"{base}/img_0001.png", f"{base}/img_0001.preview.jpg"}
            files.add(f"runs/{night}/job_{key}/variants/v0008/out/.img_0002.png.download")
    return files


def test_rank_best_first_ties_by_id_unscored_last() -> None:
    got = rank([("v3", None), ("v2", 0.5), ("v1", 0.5), ("v4", 0.9), ("v0", None)])
    assert got == ["v4", "v1", "v2", "v0", "v3"]


def test_apply_removes_exactly_the_unkept_outputs(root: Path) -> None:
    before = snapshot(root)
    plan = plan_retention(root, TODAY, keep_top_k=K, keep_days=7)
    assert plan.nights == OLD
    assert {plan.rel(p) for p in plan.delete} == expected_deletions()
    alpha = next(j for j in plan.jobs if j.night == OLD[0] and j.job_key == "alpha")
    assert alpha.kept_top == ["v0002", "v0004"]
    assert alpha.protected == {
        "v0001": ["published"],
        "v0002": ["shortlisted"],
        "v0004": ["shortlisted"],
        "v0005": ["approved"],
        "v0007": ["approved"],
    }
    assert plan.bytes_freed == sum((root / rel).stat().st_size for rel in expected_deletions())

    report = apply_retention(plan, dry_run=False)
    after = snapshot(root)
    removed = set(before) - set(after)
    assert removed == expected_deletions()
    assert report.bytes_freed == plan.bytes_freed
    assert {plan.rel(p) for p in report.deleted} == expected_deletions()
    # Everything that stayed is byte for byte what it was: meta, selection, publish, inputs,
    # night plan and summary, the young nights, the kept outputs.
    assert {k: after[k] for k in before if k in after} == {
        k: v for k, v in before.items() if k not in removed
    }
    meta = {k for k in before if "/meta/" in k or "/selection/" in k or "/publish/" in k}
    assert meta and not meta & removed
    assert not any(k.startswith(tuple(f"runs/{n}" for n in YOUNG)) for k in removed)
    # New files: a retention marker per pruned variant, the archive, the report.
    added = set(after) - set(before)
    markers = {k for k in added if k.endswith("/meta/retention.json")}
    assert markers == {
        f"runs/{n}/job_{key}/variants/{vid}/meta/retention.json"
        for n in OLD
        for key, vids in {
            "alpha": ["v0003", "v0008"],
            "beta": ["v0001", "v0003", "v0007", "v0008"],
        }.items()
        for vid in vids
    }
    assert report.report_path == root / "ops" / "retention" / "2026-02-16.json"
    assert report.report_path.is_file()


def test_approved_and_published_are_archived_with_equal_bytes(root: Path) -> None:
    plan = plan_retention(root, TODAY, keep_top_k=K)
    report = apply_retention(plan, dry_run=False)
    archived = {plan.rel(d) for _, d in report.archived}
    for night in OLD:
        base = f"archive/{night}/job_alpha"
        for vid in ("v0001", "v0005", "v0007"):
            assert f"{base}/{vid}/out/img_0001.png" in archived
            assert f"{base}/{vid}/out/img_0001.preview.jpg" in archived
        package = root / "runs" / night / "job_alpha" / "publish" / "v0001"
        for f in package.iterdir():
            assert f"{base}/v0001/publish/{f.name}" in archived
        assert not any(a.startswith(f"archive/{night}/job_beta") for a in archived)
    assert not any(n in a for a in archived for n in YOUNG)
    for src, dst in report.archived:
        assert src.read_bytes() == dst.read_bytes()
        assert src.is_file()  # kept in place too


def test_dry_run_changes_nothing(root: Path) -> None:
    before = snapshot(root)
    plan = plan_retention(root, TODAY, keep_top_k=K)
    report = apply_retention(plan, dry_run=True)
    assert snapshot(root) == before
    assert report.dry_run and report.report_path is None
    assert {plan.rel(p) for p in report.deleted} == expected_deletions()
    assert report.archived == plan.archive and report.archived


def test_second_apply_is_a_no_op(root: Path) -> None:
    apply_retention(plan_retention(root, TODAY, keep_top_k=K), dry_run=False)
    first = snapshot(root)
    plan = plan_retention(root, TODAY, keep_top_k=K)
    assert plan.delete == [] and plan.archive == [] and plan.bytes_freed == 0
    report = apply_retention(plan, dry_run=False)
    assert report.deleted == [] and report.archived == [] and report.markers == 0
    second = snapshot(root)
    day = "ops/retention/2026-02-16.json"
    assert {k: v for k, v in second.items() if k != day} == {
        k: v for k, v in first.items() if k != day
    }
    # Both runs are in the day's report.
    runs = json.loads((root / day).read_bytes())["runs"]
    assert [len(r["deleted"]) for r in runs] == [len(expected_deletions()), 0]


def test_young_nights_are_untouched_whatever_their_rank(root: Path) -> None:
    plan = plan_retention(root, TODAY, keep_top_k=0, keep_days=7)
    assert all(plan.rel(p).split("/")[1] in OLD for p in plan.delete)
    # A longer keep_days spares everything; keep_days=0 reaches every night before today.
    assert plan_retention(root, TODAY, keep_top_k=0, keep_days=30).delete == []
    assert {j.night for j in plan_retention(root, TODAY, keep_days=0).jobs} == set(OLD + YOUNG)


def test_a_pruned_variant_is_still_complete_and_never_rendered_again(root: Path) -> None:
    apply_retention(plan_retention(root, TODAY, keep_top_k=K), dry_run=False)
    job_dir = Tree(root).job(OLD[0], "beta")
    pruned = ["v0001", "v0003", "v0007", "v0008"]
    for vid in pruned:
        assert not (job_dir.out(vid) / "img_0001.png").exists()
        assert is_complete(job_dir, vid)

    def build(params: dict[str, Any], rung: int, uploads: Any) -> dict[str, Any]:
        raise AssertionError(f"{params['variant_id']} would be rendered again")

    # Nothing is listening on port 9: any render attempt fails instead of being skipped.
    run = RenderRun(
        job_dir,
        pruned,
        ["http://127.0.0.1:9"],
        build,
        settings=RenderSettings(unavailable_timeout=0),
    )
    report = asyncio.run(run.run())
    assert report.total == report.skipped == len(pruned)


def test_a_forged_plan_deletes_nothing(root: Path) -> None:
    before = snapshot(root)
    plan = plan_retention(root, TODAY, keep_top_k=K)
    young_meta = Tree(root).job(YOUNG[0], "alpha").params("v0001")
    forged = RetentionPlan(
        root=plan.root,
        today=plan.today,
        keep_top_k=K,
        keep_days=7,
        nights=plan.nights,
        delete=[*plan.delete, young_meta],
    )
    with pytest.raises(UnsafePath):
        apply_retention(forged, dry_run=False)
    assert snapshot(root) == before


def test_sweep_temp_removes_old_temp_files_only(tmp_path: Path) -> None:
    night = Tree(tmp_path).night("2026-02-09")
    job = JobDir(night / "job_alpha")
    now = 1_800_000_000.0
    old_files = [
        job.meta("v0001") / ".params.json.4242.tmp",  # atomic write of a killed process
        job.out("v0001") / ".img_0001.png.download",  # client download
        job.out("v0001") / ".img_0002.png.tmp",  # harvest copy
        job.out("v0002") / ".partial",  # any dot-file in out/ is a partial download
        night / ".night_summary.json.77.tmp",
    ]
    staging = job.publish / ".v0001.tmp-0a1b2c3d"  # a publish package never renamed
    young = job.out("v0003") / ".img_0001.png.download"
    keep = [
        job.out("v0001") / "img_0001.png",
        job.meta("v0001") / "params.json",
        job.path / ".notes",  # dot-file outside out/ and not a temp name: not ours to judge
        young,
    ]
    for p in [*old_files, *keep, staging / "feed.png"]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    for p in [*old_files, *keep, staging / "feed.png", staging]:
        if p != young:
            os.utime(p, (now - 3600, now - 3600))
    os.utime(young, (now - 10, now - 10))
    removed = sweep_temp(night, older_than_s=600, now=now)
    assert set(removed) == {*old_files, staging}
    assert all(not p.exists() for p in removed)
    assert all(p.exists() for p in keep)
