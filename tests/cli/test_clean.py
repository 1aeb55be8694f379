"""`nightrun clean`: a dry run lists what would go and changes nothing; a real run prunes; --json
prints one object; a bad --today is a clear usage error."""

import hashlib
import json
from pathlib import Path

import pytest

from nightrun_dagster.cli.main import main
from nightrun_dagster.store.atomic import atomic_write_bytes, atomic_write_json
from nightrun_dagster.store.paths import Tree

OLD, YOUNG, KEY = "2026-02-01", "2026-02-14", "alpha"
TODAY = "2026-02-16"


def build(root: Path) -> None:
    """One job on an old and a young night: v0001 scores best, v0002 and v0003 lose."""
    tree = Tree(root)
    for night in (OLD, YOUNG):
        job = tree.job(night, KEY)
        for vid, total in (("v0001", 0.9), ("v0002", 0.5), ("v0003", 0.1)):
            data = f"{night}/{vid}".encode() * 40
            atomic_write_bytes(job.out(vid) / "img_0001.png", data)
            output = {"file": "out/img_0001.png", "bytes": len(data), "kind": "image"}
            atomic_write_json(job.params(vid), {"render": {"status": "ok", "outputs": [output]}})
            atomic_write_json(job.meta(vid) / "comfy_history.json", {})
            atomic_write_json(job.meta(vid) / "score.json", {"total": total})


def digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def losers() -> list[str]:
    return [f"runs/{OLD}/job_{KEY}/variants/{v}/out/img_0001.png" for v in ("v0002", "v0003")]


def test_dry_run_lists_the_files_and_changes_nothing(tmp_path: Path, capsys) -> None:
    build(tmp_path)
    before = digest(tmp_path)
    args = ["clean", "--root", str(tmp_path), "--today", TODAY, "--keep-top-k", "1"]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert digest(tmp_path) == before
    listed = [line.removeprefix("would delete ") for line in out.splitlines()]
    assert [line for line in listed if line.startswith("runs/")] == losers()
    assert "dry run: nothing changed" in out
    assert f"{OLD}  {KEY}" in out  # the per-job table
    assert "would delete 2 files" in out


def test_real_run_deletes_them_and_json_is_one_object(tmp_path: Path, capsys) -> None:
    build(tmp_path)
    args = ["clean", "--root", str(tmp_path), "--today", TODAY, "--keep-top-k", "1"]
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dry_run"] is False
    assert doc["deleted"] == losers()
    assert all(not (tmp_path / rel).exists() for rel in losers())
    assert (tmp_path / f"runs/{OLD}/job_{KEY}/variants/v0001/out/img_0001.png").is_file()
    assert (tmp_path / f"runs/{YOUNG}/job_{KEY}/variants/v0003/out/img_0001.png").is_file()
    assert (tmp_path / "ops" / "retention" / f"{TODAY}.json").is_file()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "deleted 0 files" in out and "report: " in out


def test_a_longer_days_window_keeps_everything(tmp_path: Path, capsys) -> None:
    build(tmp_path)
    before = digest(tmp_path)
    args = ["clean", "--root", str(tmp_path), "--today", TODAY, "--days", "30", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["deleted"] == [] and doc["plan"]["nights"] == []
    assert {k: v for k, v in digest(tmp_path).items() if not k.startswith("ops/")} == before


def test_bad_today_is_a_clear_error(tmp_path: Path, capsys) -> None:
    build(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["clean", "--root", str(tmp_path), "--today", "16/02/2026"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--today" in err and "'16/02/2026' is not a date like 2026-02-16" in err


def test_negative_keep_top_k_and_a_root_without_runs(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["clean", "--root", str(tmp_path), "--keep-top-k", "-1"])
    assert "is negative" in capsys.readouterr().err
    assert main(["clean", "--root", str(tmp_path / "nowhere"), "--dry-run"]) == 1
    assert "no runs/ under" in capsys.readouterr().err
