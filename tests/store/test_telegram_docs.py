"""The Telegram records of a job and a night: typed, written with their schema, and read as
older nights wrote them (no schema, keys this version does not know)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from nightrun_dagster.store.models import DocumentError
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.telegram_docs import (
    ARTIFACTS_DOC,
    ArtifactIndex,
    ArtifactRef,
    OriginalSent,
    OriginalsSent,
    SentShortlist,
    SummaryStamp,
    TelegramSent,
    artifact_index_path,
    originals_sent_path,
    read_artifact_index,
    read_originals_sent,
    read_telegram_sent,
    summary_stamp_path,
    telegram_sent_path,
    try_read_summary_stamp,
    write_artifact_index,
    write_originals_sent,
    write_summary_stamp,
    write_telegram_sent,
)

DIGEST = "ab" * 32


@pytest.fixture
def job_dir(tmp_path: Path) -> JobDir:
    job = JobDir(tmp_path / "runs" / "2026-02-10" / "job_shoes")
    job.selection.mkdir(parents=True)
    return job


def test_each_record_comes_back_as_written(job_dir: JobDir) -> None:
    sent = TelegramSent()
    sent.shortlists()[DIGEST] = SentShortlist(
        chat_id=-1001, night="2026-02-10", expiry=99, albums=[[1, 2]], candidates={"a1": 3}
    )
    write_telegram_sent(job_dir, sent)
    originals = OriginalsSent()
    originals.originals()["a1"] = OriginalSent(variant_id="v0001", decision="approve", message_id=9)
    write_originals_sent(job_dir, originals)
    index = ArtifactIndex()
    index.artifacts()["a1"] = ArtifactRef(night="2026-02-10", job_key="shoes", variant_id="v0001")
    write_artifact_index(job_dir, index)
    write_summary_stamp(job_dir.path.parent, SummaryStamp(sha256=DIGEST, message_id=5))

    again = read_telegram_sent(job_dir).shortlists()[DIGEST]
    assert (again.chat_id, again.albums, again.candidates) == (-1001, [[1, 2]], {"a1": 3})
    assert read_telegram_sent(job_dir).candidate_artifacts() == {"a1"}
    assert read_originals_sent(job_dir).originals()["a1"].message_id == 9
    ref = read_artifact_index(artifact_index_path(job_dir)).artifacts()["a1"]
    assert (ref.night, ref.job_key, ref.variant_id) == ("2026-02-10", "shoes", "v0001")
    stamp = try_read_summary_stamp(job_dir.path.parent)
    assert stamp is not None and stamp.sha256 == DIGEST
    # Every file carries its schema, first; the entries keep their keys beside it.
    for path in (telegram_sent_path(job_dir), originals_sent_path(job_dir)):
        raw = json.loads(path.read_bytes())
        assert next(iter(raw)) == "schema" and raw["schema"] == 1
    assert summary_stamp_path(job_dir.path.parent).name == "telegram_summary.json"


def test_files_of_older_nights_read_and_keep_unknown_keys(job_dir: JobDir) -> None:
    old_sent = {
        DIGEST: {
            "chat_id": "-1001",
            "night": "2026-02-10",
            "job_key": "shoes",
            "expiry": 1770000000,
            "albums": [[11]],
            "candidates": {"a1": 12},
            "complete": True,
            "updated_at": "2026-02-11T07:40:00Z",
            "sent_by": "an older version",
        }
    }
    telegram_sent_path(job_dir).write_text(json.dumps(old_sent))
    old_originals = {"a1": {"variant_id": "v0001", "decision": "favorite", "message_id": 13}}
    originals_sent_path(job_dir).write_text(json.dumps(old_originals))
    old_index = {"a1": {"night": "2026-02-10", "job_key": "shoes", "variant_id": "v0001"}}
    artifact_index_path(job_dir).write_text(json.dumps(old_index))

    sent = read_telegram_sent(job_dir)
    entry = sent.shortlists()[DIGEST]
    assert sent.schema_version == 1 and entry.complete and entry.chat_id == "-1001"
    assert read_originals_sent(job_dir).originals()["a1"].decision == "favorite"
    assert list(read_artifact_index(artifact_index_path(job_dir)).artifacts()) == ["a1"]
    write_telegram_sent(job_dir, sent)
    rewritten = json.loads(telegram_sent_path(job_dir).read_bytes())
    assert rewritten[DIGEST]["sent_by"] == "an older version"
    assert rewritten[DIGEST]["updated_at"] == "2026-02-11T07:40:00Z"


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("telegram_sent.json", {DIGEST: {"candidates": {"a1": "not a message id"}}}, "a1"),
        ("originals_sent.json", {"a1": {"variant_id": "v0001"}}, "decision"),
        (
            "artifacts.json",
            {"a1": {"night": ["2026-02-10"], "job_key": "s", "variant_id": "v"}},
            "night",
        ),
    ],
)
def test_a_misshapen_record_names_its_file_and_field(
    job_dir: JobDir, name: str, data: object, field: str
) -> None:
    path = job_dir.selection / name
    path.write_text(json.dumps(data))
    readers = {
        "telegram_sent.json": lambda: read_telegram_sent(job_dir),
        "originals_sent.json": lambda: read_originals_sent(job_dir),
        "artifacts.json": lambda: read_artifact_index(path),
    }
    with pytest.raises(DocumentError) as caught:
        readers[name]()
    assert caught.value.path == path and field in caught.value.reason


def test_a_damaged_record_reads_as_empty_with_a_warning_naming_it(
    job_dir: JobDir, caplog: pytest.LogCaptureFixture
) -> None:
    path = artifact_index_path(job_dir)
    assert ARTIFACTS_DOC.read_or_empty(path).artifacts() == {}  # missing: quietly empty
    assert caplog.records == []
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert ARTIFACTS_DOC.read_or_empty(path, "starting afresh").artifacts() == {}
    assert str(path) in caplog.text and "starting afresh" in caplog.text
