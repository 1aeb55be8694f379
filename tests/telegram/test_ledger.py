"""Decisions ledger: first decision wins, torn lines never crash, artifacts resolve to folders."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nightrun_dagster.telegram import ledger


def _decision(artifact: str = "aaaaaaaaaa", decision: str = "approve", by: str = "ana") -> dict:
    return {
        "artifact": artifact,
        "night": "2026-02-10",
        "job_key": "shoes",
        "variant_id": "v0001",
        "decision": decision,
        "by": by,
        "via": "cli",
        "at": "2026-02-11T09:00:00+00:00",
    }


def test_first_decision_wins(tmp_path: Path) -> None:
    assert ledger.record(tmp_path, _decision())
    assert not ledger.record(tmp_path, _decision(decision="reject", by="bob"))
    assert ledger.record(tmp_path, _decision(artifact="bbbbbbbbbb", decision="favorite"))
    rows = ledger.read(tmp_path)
    assert [(r["artifact"], r["decision"], r["by"]) for r in rows] == [
        ("aaaaaaaaaa", "approve", "ana"),
        ("bbbbbbbbbb", "favorite", "ana"),
    ]
    lines = ledger.decisions_path(tmp_path).read_text().splitlines()
    assert all(json.loads(line) for line in lines)


def test_torn_last_line_is_ignored_and_closed_off(tmp_path: Path) -> None:
    ledger.record(tmp_path, _decision())
    path = ledger.decisions_path(tmp_path)
    with path.open("ab") as fh:
        fh.write(b'{"artifact": "bbbbbbbbbb", "decis')  # a crash mid-append
    assert [r["artifact"] for r in ledger.read(tmp_path)] == ["aaaaaaaaaa"]
    # The torn artifact is still undecided, and the next append is not glued to the fragment.
    assert ledger.record(tmp_path, _decision(artifact="bbbbbbbbbb", decision="reject"))
    assert [r["artifact"] for r in ledger.read(tmp_path)] == ["aaaaaaaaaa", "bbbbbbbbbb"]
    assert ledger.torn_path(tmp_path).read_bytes() == b'{"artifact": "bbbbbbbbbb", "decis\n'


def test_complete_line_without_newline_never_becomes_a_decision(tmp_path: Path) -> None:
    # A crash between the line and its newline: valid JSON, but never acknowledged as written.
    path = ledger.decisions_path(tmp_path)
    path.parent.mkdir(parents=True)
    torn = json.dumps(_decision(decision="approve", by="ana")).encode()
    path.write_bytes(torn)
    assert ledger.read(tmp_path) == []
    assert ledger.record(tmp_path, _decision(decision="reject", by="bob"))
    # The reject is what counts, now and after any later append.
    assert ledger.record(tmp_path, _decision(artifact="cccccccccc", decision="favorite"))
    assert ledger.find(tmp_path, "aaaaaaaaaa")["decision"] == "reject"
    assert [r["decision"] for r in ledger.read(tmp_path)] == ["reject", "favorite"]
    assert path.read_bytes().endswith(b"\n") and torn not in path.read_bytes()
    assert ledger.torn_path(tmp_path).read_bytes() == torn + b"\n"


def test_already_decided_still_repairs_the_tail(tmp_path: Path) -> None:
    assert ledger.record(tmp_path, _decision())
    path = ledger.decisions_path(tmp_path)
    with path.open("ab") as fh:
        fh.write(b'{"artifact": "aaaa')
    assert not ledger.record(tmp_path, _decision(decision="reject", by="bob"))
    assert path.read_bytes().endswith(b"\n")
    assert ledger.torn_path(tmp_path).read_bytes() == b'{"artifact": "aaaa\n'
    # A second torn tail is appended to the side file, not written over the first.
    with path.open("ab") as fh:
        fh.write(b'{"x')
    assert ledger.record(tmp_path, _decision(artifact="bbbbbbbbbb"))
    assert ledger.torn_path(tmp_path).read_bytes() == b'{"artifact": "aaaa\n{"x\n'
    assert [r["artifact"] for r in ledger.read(tmp_path)] == ["aaaaaaaaaa", "bbbbbbbbbb"]


def test_garbage_and_missing_ledger(tmp_path: Path) -> None:
    assert ledger.read(tmp_path) == []
    path = ledger.decisions_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not json\n\xff\xfe\n[1, 2]\n")
    assert ledger.read(tmp_path) == []


def test_rejects_incomplete_decisions(tmp_path: Path) -> None:
    bad: dict[str, Any] = _decision()
    del bad["by"]
    try:
        ledger.record(tmp_path, bad)
    except ValueError as exc:
        assert "by" in str(exc)
    else:
        raise AssertionError("a decision without `by` was recorded")
    assert not ledger.decisions_path(tmp_path).exists()


def test_resolve_sees_new_and_updated_indexes(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    job = runs / "2026-02-10" / "job_shoes"
    assert ledger.resolve(runs, "aaaaaaaaaa") is None
    ledger.write_artifact_index(
        job, {"aaaaaaaaaa": {"night": "2026-02-10", "job_key": "shoes", "variant_id": "v0001"}}
    )
    assert ledger.resolve(runs, "aaaaaaaaaa") == ("2026-02-10", "shoes", "v0001")
    ledger.write_artifact_index(
        job, {"bbbbbbbbbb": {"night": "2026-02-10", "job_key": "shoes", "variant_id": "v0002"}}
    )
    # Force a distinct mtime even on coarse file systems; the cache must notice the change.
    st = ledger.artifacts_path(job).stat()
    os.utime(ledger.artifacts_path(job), ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert ledger.resolve(runs, "bbbbbbbbbb") == ("2026-02-10", "shoes", "v0002")
    assert ledger.resolve(runs, "aaaaaaaaaa") == ("2026-02-10", "shoes", "v0001")
    assert ledger.resolve(runs, "cccccccccc") is None
