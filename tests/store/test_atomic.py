"""Atomic writes: a failure leaves neither a half-written file nor a temporary one."""

from pathlib import Path

import pytest

from nightrun_dagster.store.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    move_without_clobber,
    write_new_tree,
)


class Boom(Exception):
    pass


def test_json_write_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.json"
    atomic_write_json(path, {"x": "ñ"})
    assert path.read_text() == '{\n  "x": "ñ"\n}\n'
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.json"]


def test_failed_tree_leaves_nothing(tmp_path: Path) -> None:
    def files():
        yield "v0001/meta/params.json", b"{}"
        raise Boom

    with pytest.raises(Boom):
        write_new_tree(tmp_path / "variants", files())
    assert list(tmp_path.iterdir()) == []


def test_tree_appears_complete(tmp_path: Path) -> None:
    write_new_tree(tmp_path / "variants", [("v0001/meta/p.json", b"1"), ("index.json", b"2")])
    assert (tmp_path / "variants" / "v0001" / "meta" / "p.json").read_bytes() == b"1"
    with pytest.raises(FileExistsError):
        write_new_tree(tmp_path / "variants", [])


def test_move_without_clobber(tmp_path: Path) -> None:
    dst = tmp_path / "rejected"
    for i in range(3):
        src = tmp_path / "bad.json"
        src.write_text(str(i))
        move_without_clobber(src, dst)
    assert sorted(p.name for p in dst.iterdir()) == ["bad.1.json", "bad.2.json", "bad.json"]
    assert (dst / "bad.json").read_text() == "0"
