"""`nightrun approve|favorite|reject` writes the same ledger as Telegram, first decision wins."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from nightrun_dagster.cli import approve
from nightrun_dagster.telegram import ledger
from nightrun_dagster.telegram.signing import artifact_id


def _run(command: str, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    approve.add_arguments(parser)
    args = parser.parse_args(list(argv))
    args.command = command
    return approve.command(args)


def test_by_path_then_by_short_id(
    make_job: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    job = make_job(2)
    root = job.parent.parent.parent
    assert _run("approve", "2026-02-10/shoes-2026/v0001", "--by", "ana", "--root", str(root)) == 0
    art = artifact_id("2026-02-10", "shoes-2026", "v0002")
    ledger.write_artifact_index(
        job, {art: {"night": "2026-02-10", "job_key": "shoes-2026", "variant_id": "v0002"}}
    )
    assert _run("reject", art.upper(), "--by", "bob", "--root", str(root)) == 0
    rows = ledger.read(job)
    assert [(r["variant_id"], r["decision"], r["by"], r["via"]) for r in rows] == [
        ("v0001", "approve", "ana", "cli"),
        ("v0002", "reject", "bob", "cli"),
    ]
    assert rows[0]["artifact"] == artifact_id("2026-02-10", "shoes-2026", "v0001")
    capsys.readouterr()
    assert _run("favorite", "2026-02-10/shoes-2026/v0001", "--by", "x", "--root", str(root)) == 1
    assert "already decided: approve by ana at " in capsys.readouterr().err
    assert len(ledger.read(job)) == 2


@pytest.mark.parametrize("artifact", ["nosuchid00", "2026-02-10/shoes-2026/v0099"])
def test_unknown_artifact(
    make_job: Callable[..., Path], capsys: pytest.CaptureFixture[str], artifact: str
) -> None:
    job = make_job(1)
    root = job.parent.parent.parent
    assert _run("approve", artifact, "--by", "ana", "--root", str(root)) == 1
    assert "unknown artifact" in capsys.readouterr().err
    assert ledger.read(job) == []
