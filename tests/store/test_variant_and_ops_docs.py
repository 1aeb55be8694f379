"""The variant, job, night and ops documents typed in `store/`: each round-trips, an older
night's file (no schema, a key this version does not know) reads and keeps the key, a file of
the wrong shape names its file and field, and a failed rename keeps the old file."""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.store.atomic import atomic_write_json
from nightrun_dagster.store.models import SCHEMA, Document, DocumentError, read_document
from nightrun_dagster.store.night_records import (
    BLOCKED,
    BlockedRecord,
    CleanupRecord,
    read_blocked,
    try_read_blocked,
    try_read_cleanup,
    write_blocked,
    write_cleanup,
)
from nightrun_dagster.store.ops_docs import (
    OCR_ENTRY,
    BreakerHistoryEntry,
    BreakerLatch,
    OcrEntry,
    RecipeLibrary,
    RetentionDay,
    append_breaker_history,
    create_breaker_latch,
    read_breaker_history,
    read_breaker_latch,
    try_read_recipe_library,
    try_read_retention_day,
    write_breaker_latch,
    write_recipe_library,
    write_retention_day,
)
from nightrun_dagster.store.paths import Tree, VariantDir
from nightrun_dagster.store.variant_docs import (
    SCORE,
    ComfyHistory,
    PrunedFile,
    RenderOutput,
    RenderRecord,
    RenderStatus,
    RetentionMarker,
    ScoreDocument,
    ScoredOutput,
    Submitted,
    VariantParams,
    read_comfy_history,
    read_prompt,
    read_variant_params,
    render_status,
    try_read_params,
    try_read_retention_marker,
    try_read_score,
    try_read_submitted,
    write_comfy_history,
    write_params,
    write_prompt,
    write_retention_marker,
    write_score,
    write_submitted,
)

NIGHT = "2026-02-09"
DAY = "2026-03-01"


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "night-runs")


def variant_of(tree: Tree) -> VariantDir:
    return tree.job(NIGHT, "mate").variant_dir("v0001")


@dataclass(frozen=True)
class Kind:
    """One document kind: a sample, how it is written and read, and its path in a tree."""

    name: str
    sample: Document
    write: Callable[[Tree, Any], object]
    read: Callable[[Tree], Document | None]
    path: Callable[[Tree], Path]
    wrong_shape: dict[str, Any]  # a field of the wrong type …
    field: str  # … named in the error


PARAMS_DOC = VariantParams.model_validate(
    {
        "params_version": 1,
        "job_id": "mate-1",
        "variant_id": "v0001",
        "seed": 7,
        "cfg": 6.5,
        "loras": [{"name": "style", "weight": 0.7, "enabled": True}],
        "render": {
            "status": "ok",
            "prompt_id": "p-1",
            "outputs": [{"file": "out/img_0001.png", "preview": "out/p.jpg", "bytes": 9}],
            "elapsed_s": 1.5,
        },
        "server": {"comfyui_version": "0.3.64"},
    }
)

KINDS = [
    Kind(
        "params",
        PARAMS_DOC,
        lambda t, d: write_params(variant_of(t), d),
        lambda t: read_variant_params(variant_of(t)),
        lambda t: variant_of(t).params,
        {"render": {"status": "rendered"}},
        "render.status",
    ),
    Kind(
        "score",
        ScoreDocument(
            score_version=1,
            variant_id="v0001",
            outputs=[ScoredOutput(file="out/img_0001.png", total=0.8, components={"text": None})],
            total=0.8,
            inputs_sha256="ab",
            scorer_version=2,
        ),
        lambda t, d: write_score(variant_of(t), d),
        lambda t: try_read_score(variant_of(t)),
        lambda t: variant_of(t).score,
        {"outputs": [{"total": "high"}]},
        "outputs.0.total",
    ),
    Kind(
        "submitted",
        Submitted(prompt_id="p-1", endpoint="http://gpu:8188", rung=1, attempt=2),
        lambda t, d: write_submitted(variant_of(t), d),
        lambda t: try_read_submitted(variant_of(t)),
        lambda t: variant_of(t).submitted,
        {"endpoint": "http://gpu:8188"},
        "prompt_id",
    ),
    Kind(
        "retention marker",
        RetentionMarker(
            retention_version=1,
            policy={"keep_days": 14},
            files={"out/img_0001.png": PrunedFile(bytes=9, pruned_at="2026-03-01T04:00:00+00:00")},
        ),
        lambda t, d: write_retention_marker(variant_of(t), d),
        lambda t: try_read_retention_marker(variant_of(t)),
        lambda t: variant_of(t).retention,
        {"files": {"out/img_0001.png": {"bytes": "nine"}}},
        "files.out/img_0001.png.bytes",
    ),
    Kind(
        "blocked",
        BlockedRecord(reason="missing model x.safetensors", missing_models=["x.safetensors"]),
        lambda t, d: write_blocked(t.job(NIGHT, "mate"), d),
        lambda t: try_read_blocked(t.job(NIGHT, "mate")),
        lambda t: t.job(NIGHT, "mate").blocked,
        {"missing_nodes": "KSampler"},
        "missing_nodes",
    ),
    Kind(
        "cleanup",
        CleanupRecord(night=NIGHT, removed=["job_mate/.x.tmp"], at="2026-02-10T08:30:00+00:00"),
        lambda t, d: write_cleanup(t.night_dir(NIGHT), d),
        lambda t: try_read_cleanup(t.night_dir(NIGHT)),
        lambda t: t.night_dir(NIGHT).cleanup,
        {"removed": "everything"},
        "removed",
    ),
    Kind(
        "breaker latch",
        BreakerLatch(breaker="gpu_oom", reason="4 OOMs", value=4, threshold=3, night=NIGHT),
        lambda t, d: write_breaker_latch(t, d),
        lambda t: read_breaker_latch(t),
        lambda t: t.breaker_latch,
        {"value": "many"},
        "value",
    ),
    Kind(
        "retention report",
        RetentionDay(date=DAY, runs=[{"dry_run": False, "deleted": 3}]),
        lambda t, d: write_retention_day(t, d),
        lambda t: try_read_retention_day(t, DAY),
        lambda t: t.retention_report(DAY),
        {"date": DAY, "runs": {"dry_run": False}},
        "runs",
    ),
    Kind(
        "recipe library",
        RecipeLibrary(library_version=1, until_night=NIGHT, products={"VRD": {"recipes": []}}),
        lambda t, d: write_recipe_library(t.library, d),
        lambda t: try_read_recipe_library(t.library),
        lambda t: t.library / "recipes.json",
        {"reviewed_nights": "2026-02-09"},
        "reviewed_nights",
    ),
    Kind(
        "ocr cache entry",
        OcrEntry(image_sha256="ab", langs="eng", prep_version=1, passes={"plain": ["SALE"]}),
        lambda t, d: OCR_ENTRY.write(t.ocr_cache / "ab" / "ab.json", d),
        lambda t: OCR_ENTRY.try_read(t.ocr_cache / "ab" / "ab.json"),
        lambda t: t.ocr_cache / "ab" / "ab.json",
        {"image_sha256": "ab", "langs": "eng", "prep_version": 1, "passes": []},
        "passes",
    ),
]

# The reads that say "absent or damaged" with None; the others raise, as their callers need.
RAISING = {"params", "breaker latch"}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_document_round_trips_with_its_schema(tree: Tree, kind: Kind) -> None:
    kind.write(tree, kind.sample)
    assert kind.read(tree) == kind.sample
    assert kind.path(tree).read_text().startswith('{\n  "schema": 1,')


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_an_older_file_reads_and_keeps_what_this_version_does_not_know(
    tree: Tree, kind: Kind
) -> None:
    # As an older night wrote it: no schema, and a key this version does not know.
    data = {**kind.sample.model_dump(mode="json", by_alias=True, exclude_unset=True)}
    data.pop("schema", None)
    data["legacy_note"] = "kept"
    atomic_write_json(kind.path(tree), data)
    doc = kind.read(tree)
    assert doc is not None and doc.schema_version == SCHEMA
    kind.write(tree, doc)
    again = kind.read(tree)
    assert again is not None
    assert again.model_dump(by_alias=True)["legacy_note"] == "kept"
    assert again == doc


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_file_of_the_wrong_shape_names_its_file_and_field(tree: Tree, kind: Kind) -> None:
    path = kind.path(tree)
    atomic_write_json(path, kind.wrong_shape)
    if kind.name in RAISING:
        with pytest.raises(DocumentError) as caught:
            kind.read(tree)
        error = caught.value
    else:
        assert kind.read(tree) is None  # a record that may be damaged reads as absent …
        with pytest.raises(DocumentError) as caught:  # … and the strict read says why
            read_document(path, type(kind.sample))
        error = caught.value
    assert error.path == path and str(error).startswith(f"{path}: {kind.field}")


class RenameFailed(OSError):
    pass


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_write_that_fails_at_the_rename_keeps_the_old_document(
    tree: Tree, kind: Kind, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind.write(tree, kind.sample)
    path = kind.path(tree)
    before = path.read_bytes()
    tried: list[tuple[str, str]] = []

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        tried.append((os.fspath(src), os.fspath(dst)))
        raise RenameFailed("disk gone")

    monkeypatch.setattr(os, "replace", replace)
    changed = kind.sample.model_copy()
    changed.__pydantic_extra__ = {**(changed.__pydantic_extra__ or {}), "changed": True}
    with pytest.raises(RenameFailed):
        kind.write(tree, changed)
    assert tried and Path(tried[0][1]) == path and tried[0][0] != tried[0][1]
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_only_the_breaker_history_is_flushed_line_by_line(
    tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    for kind in KINDS:  # none of these is lost work: rewritten by the next run or its stage
        kind.write(tree, kind.sample)
    assert synced == []
    # The history is the only record of who cleared a latch: each line reaches the disk.
    entry = BreakerHistoryEntry(breaker="disk_free", night=NIGHT, resumed_by="ana")
    append_breaker_history(tree, entry)
    append_breaker_history(tree, entry.model_copy(update={"night": "2026-02-10"}))
    assert len(synced) == 2
    assert [e.night for e in read_breaker_history(tree)] == [NIGHT, "2026-02-10"]
    # The lines read as before the history was typed (json spacing, sorted keys).
    assert '"breaker": "disk_free"' in tree.breaker_history.read_text()


def test_the_breaker_history_skips_a_damaged_line_and_reads_old_ones(tree: Tree) -> None:
    tree.breaker_history.parent.mkdir(parents=True)
    tree.breaker_history.write_text(
        '{"breaker": "gpu_oom", "night": "2026-02-08", "resumed_by": "ana", "x": 1}\n'
        "{torn\n"
        '{"breaker": "latency", "value": "high"}\n'
    )
    (old,) = read_breaker_history(tree)
    assert (old.breaker, old.night, old.resumed_by, old.schema_version) == (
        "gpu_oom",
        "2026-02-08",
        "ana",
        1,
    )


def test_exactly_one_latch_is_created(tree: Tree) -> None:
    first = BreakerLatch(breaker="gpu_oom", reason="4 OOMs")
    assert create_breaker_latch(tree, first) is True
    assert create_breaker_latch(tree, BreakerLatch(breaker="latency")) is False
    assert read_breaker_latch(tree) == first
    assert sorted(p.name for p in tree.breaker_latch.parent.iterdir()) == ["breaker_latch.json"]


def test_params_keep_the_plan_apart_from_the_render_record(tree: Tree) -> None:
    variant = variant_of(tree)
    planned = {"params_version": 1, "variant_id": "v0001", "seed": 7, "cfg": 7, "template": None}
    write_params(variant, VariantParams.model_validate(planned))
    # Sparse: the plan's file holds the plan's keys, and no render record yet.
    on_disk = variant.params.read_text()
    assert '"render"' not in on_disk and '"cfg": 7\n' in on_disk
    doc = read_variant_params(variant)
    assert doc.plan() == planned and render_status(doc) is None
    rendered = VariantParams.model_validate(
        {**doc.plan(), "render": {"status": "failed", "error": "oom"}, "gpu": {"vram": 1}}
    )
    write_params(variant, rendered)
    back = try_read_params(variant)
    assert back is not None and back.plan() == planned
    assert back.status is RenderStatus.FAILED and back.render == RenderRecord(
        status=RenderStatus.FAILED, error="oom"
    )
    # render_status still reads plain data (files read as JSON by older callers).
    assert render_status({"render": {"status": "ok"}}) is RenderStatus.OK
    assert render_status({"render": {"status": "later"}}) is None
    assert render_status(None) is None
    assert PARAMS_DOC.render is not None
    assert PARAMS_DOC.render.outputs[0] == RenderOutput(
        file="out/img_0001.png", preview="out/p.jpg", bytes=9
    )


def test_the_graph_and_the_history_are_kept_as_the_server_has_them(tree: Tree) -> None:
    variant = variant_of(tree)
    graph = {"3": {"class_type": "KSampler", "inputs": {"seed": 7}}}
    write_prompt(variant, graph)
    assert read_prompt(variant) == graph  # POSTed again as is: no schema key in the graph
    write_comfy_history(variant, ComfyHistory.of("p-1", {"status": {"completed": True}}))
    assert read_comfy_history(variant).prompts() == {"p-1": {"status": {"completed": True}}}
    # An older history file: the prompt id is its only key.
    atomic_write_json(variant.comfy_history, {"p-0": {"outputs": {}}})
    assert read_comfy_history(variant).prompts() == {"p-0": {"outputs": {}}}


def test_read_or_why_tells_absent_from_damaged(tree: Tree) -> None:
    variant = variant_of(tree)
    assert SCORE.read_or_why(variant) == (None, None)
    atomic_write_json(variant.score, {"outputs": "none"})
    doc, why = SCORE.read_or_why(variant)
    assert doc is None and why is not None and why.startswith("score.json: outputs")
    variant.score.write_text("{not json")
    assert SCORE.read_or_why(variant.path)[1].startswith("score.json: not valid JSON")


def test_a_blocked_record_without_a_reason_still_says_blocked(tree: Tree) -> None:
    job_dir = tree.job(NIGHT, "mate")
    atomic_write_json(job_dir.blocked, {"missing_models": ["x"]})
    assert read_blocked(job_dir).reason == "blocked"
    assert BLOCKED.try_read(job_dir) == read_blocked(job_dir)
