"""The shortlist of an old night, made again after retention pruned its losers' pictures."""

import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from nightrun_dagster.retention import apply_retention, plan_retention
from nightrun_dagster.selection.job import write_shortlist
from nightrun_dagster.selection.phash import DUPLICATE_DISTANCE, phash
from nightrun_dagster.store.atomic import atomic_write_bytes, atomic_write_json
from nightrun_dagster.store.paths import JobDir, Tree
from nightrun_dagster.store.selection_docs import read_shortlist

NIGHT = "2026-02-03"
TODAY = date(2026, 3, 3)
KEY = "mate"
# variant -> (prompt index: its cluster, picture, total; None: never scored)
VARIANTS: dict[str, tuple[int, str, float | None]] = {
    "v0001": (0, "A", 0.90),  # pick 1
    "v0002": (0, "B", 0.85),  # its cluster already holds k=1
    "v0003": (1, "A2", 0.80),  # a near-duplicate of v0001's picture
    "v0004": (1, "C", 0.70),  # pick 2
    "v0005": (2, "D", 0.60),  # pick 3
    "v0006": (2, "E", 0.50),  # after n=3 picks
    "v0007": (0, "F", None),
}
FAILED = "v0008"
PRUNED = {"v0002", "v0003", "v0006", "v0007"}  # neither the top 1 nor shortlisted


def picture(name: str) -> Image.Image:
    """A flat-coloured poster of random blocks; `X2` is `X` a little brighter (same pHash)."""
    rng = random.Random(name[0])
    img = Image.new("RGB", (96, 120), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = rng.randrange(80), rng.randrange(100)
        fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(10, 50), y + rng.randrange(10, 60)), fill=fill)
    if name.endswith("2"):
        img = img.point(lambda v: min(255, v + 6))
    return img


def write_variant(jd: JobDir, vid: str, prompt_index: int, pic: str, total: float | None) -> None:
    path = jd.out(vid) / "img_0001.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    picture(pic).save(path, "PNG")
    atomic_write_json(jd.meta(vid) / "comfy_history.json", {vid: {"status": {}}})
    output = {"file": "out/img_0001.png", "bytes": path.stat().st_size, "kind": "image"}
    params = {"variant_id": vid, "prompt_index": prompt_index, "loras": []}
    atomic_write_json(jd.params(vid), params | {"render": {"status": "ok", "outputs": [output]}})
    if total is None:
        return
    comps = {"sharpness": {"score": total, "raw": 1.0}, "text": {"score": 1 - total, "raw": 0.5}}
    out = {"file": "out/img_0001.png", "total": total, "components": comps}
    doc = {"score_version": 1, "variant_id": vid, "outputs": [out], "total": total, "best": 0}
    atomic_write_json(jd.meta(vid) / "score.json", doc)


@pytest.fixture
def job_dir(tmp_path: Path) -> JobDir:
    jd = Tree(tmp_path / "night-runs").job(NIGHT, KEY)
    for vid, (prompt_index, pic, total) in VARIANTS.items():
        write_variant(jd, vid, prompt_index, pic, total)
    atomic_write_json(jd.params(FAILED), {"variant_id": FAILED, "render": {"status": "failed"}})
    atomic_write_bytes(jd.job_snapshot, b'{"job_id": "mate"}\n')
    return jd


def ids() -> list[str]:
    return [*VARIANTS, FAILED]


def shortlist(jd: JobDir, k: int = 1, n: int = 3) -> dict[str, Any]:
    _, doc = write_shortlist(jd, NIGHT, "mate", KEY, ids(), k=k, n=n)
    assert read_shortlist(jd) == doc
    return doc.model_dump(mode="json", by_alias=True)


def prune(jd: JobDir) -> set[str]:
    report = apply_retention(plan_retention(jd.path.parents[2], TODAY, keep_top_k=1), False)
    return {p.parts[-3] for p in report.deleted}


def same(doc: dict[str, Any]) -> dict[str, Any]:
    """What a re-run must reproduce: all but the time and the note on missing pictures."""
    return {k: v for k, v in doc.items() if k not in ("selected_at", "missing_pictures")}


def test_the_pictures_are_what_the_scenario_needs(job_dir: JobDir) -> None:
    hashes = {v: phash(job_dir.out(v) / "img_0001.png") for v in VARIANTS}
    for a in VARIANTS:
        for b in VARIANTS:
            distance = bin(hashes[a] ^ hashes[b]).count("1")
            near = {a, b} == {"v0001", "v0003"} or a == b
            assert (distance <= DUPLICATE_DISTANCE) == near, (a, b, distance)


def test_an_old_nights_shortlist_comes_out_the_same(job_dir: JobDir) -> None:
    before = shortlist(job_dir)
    assert [p["variant_id"] for p in before["picks"]] == ["v0001", "v0004", "v0005"]
    assert before["duplicate_groups"] == {"d1": ["v0001", "v0003"]}
    assert before["missing_pictures"] == {"ranked": [], "left_out": []}
    assert set(before["phashes"]) == set(VARIANTS) - {"v0007"}

    assert prune(job_dir) == PRUNED
    assert not any((job_dir.out(v) / "img_0001.png").exists() for v in PRUNED)

    after = shortlist(job_dir)
    assert same(after) == same(before)
    # Ranked from their kept scores and recorded pHashes: the clusters still count them (the
    # reasons say "of 2") and v0003 is still v0001's near-duplicate.
    assert after["missing_pictures"] == {"ranked": ["v0002", "v0003", "v0006"], "left_out": []}
    assert "#1 of 2 in cluster p1" in after["picks"][0]["reason"]
    # Once more: the recorded pHashes carried over, so nothing drifts run after run.
    assert same(shortlist(job_dir)) == same(before)


def test_a_pruned_variant_is_never_picked(job_dir: JobDir) -> None:
    shortlist(job_dir)
    prune(job_dir)
    # Wider limits than the shortlist retention protected: v0002, v0003 and v0006 would make
    # it now, but there is nothing left of them to show a reviewer.
    wide = shortlist(job_dir, k=2, n=10)
    picked = [p["variant_id"] for p in wide["picks"]]
    assert picked == ["v0001", "v0004", "v0005"]
    assert [p["rank"] for p in wide["picks"]] == [1, 2, 3]
    for pick in wide["picks"]:
        assert (job_dir.variant(pick["variant_id"]) / pick["file"]).is_file()
    assert wide["missing_pictures"] == {"ranked": [], "left_out": ["v0002", "v0003", "v0006"]}
    assert wide["candidates"] == 3
    # Their pHashes stay on record: back to the old limits, the old shortlist again.
    assert set(wide["phashes"]) == set(VARIANTS) - {"v0007"}
    again = shortlist(job_dir)
    assert [p["variant_id"] for p in again["picks"]] == ["v0001", "v0004", "v0005"]
    assert again["missing_pictures"]["ranked"] == ["v0002", "v0003", "v0006"]


def test_a_shortlist_without_recorded_phashes_still_runs(job_dir: JobDir) -> None:
    # As a shortlist written before pHashes were recorded: pruned variants cannot be ranked.
    doc = shortlist(job_dir)
    del doc["phashes"]
    atomic_write_json(job_dir.shortlisted, doc)
    prune(job_dir)
    after = shortlist(job_dir)
    assert [p["variant_id"] for p in after["picks"]] == ["v0001", "v0004", "v0005"]
    assert after["missing_pictures"] == {"ranked": [], "left_out": ["v0002", "v0003", "v0006"]}
    assert after["candidates"] == 3
