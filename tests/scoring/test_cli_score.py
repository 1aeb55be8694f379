"""`nightrun score` (cli/score.py) and `nightrun bench score` (cli/bench_score.py)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.cli import bench_score
from nightrun_dagster.cli import score as score_cli
from nightrun_dagster.scoring.synthetic import (
    COPIES,
    AdStyle,
    build_ad,
    build_ui_screen,
    save_png,
    ui_mask,
    ui_render,
)

REPO = Path(__file__).resolve().parents[2]
COPY = COPIES[0]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    score_cli.add_arguments(parser)
    rc = score_cli.command(parser.parse_args(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    """A job for the Ñandú ground-truth copy, its assets beside it (as in job_specs/)."""
    folder = tmp_path / "job"
    shutil.copytree(REPO / "job_specs" / "assets", folder / "assets")
    doc = json.loads((REPO / "job_specs" / "static_sdxl_ad.json").read_text())
    doc["product"].update(
        name=COPY.product, brand=COPY.brand, price=COPY.price, brand_colors=list(COPY.brand_colors)
    )
    doc["copy"]["headline"] = COPY.headline
    (folder / "job.json").write_text(json.dumps(doc, ensure_ascii=False))
    return folder


def test_json_lines_shape(tmp_path: Path, job_dir: Path, capsys: pytest.CaptureFixture) -> None:
    good = save_png(build_ad(COPY, AdStyle(seed=0)), tmp_path / "good.png")
    no_price = save_png(build_ad(COPY, AdStyle(seed=0, show_price=False)), tmp_path / "np.png")
    rc, out, _ = run(
        [str(good), str(no_price), "--job", str(job_dir / "job.json"), "--json"], capsys
    )
    assert rc == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["path"] for line in lines] == [str(good), str(no_price)]
    for line in lines:
        assert set(line["components"]) == {
            "sharpness",
            "text",
            "brand_color",
            "ui_integrity",
            "artifacts",
        }
        assert line["components"]["ui_integrity"] is None
        for name in ("sharpness", "text", "brand_color", "artifacts"):
            assert 0.0 <= line["components"][name] <= 1.0
        assert 0.0 <= line["total"] <= 1.0
    assert lines[0]["tokens_found"] == [COPY.brand, COPY.product, COPY.price]
    assert lines[0]["tokens_missing"] == []
    assert lines[1]["tokens_missing"] == [COPY.price]
    assert lines[0]["total"] > lines[1]["total"]


def test_base_ui_mask_and_detail(tmp_path: Path, job_dir: Path, capsys: Any) -> None:
    base = build_ui_screen(1080, 1350)
    base_path = save_png(base, tmp_path / "base.png")
    mask_path = save_png(ui_mask(1080, 1350), tmp_path / "mask.png")
    intact = save_png(ui_render(base, 0.0), tmp_path / "intact.png")
    drifted = save_png(ui_render(base, 0.2), tmp_path / "drifted.png")
    argv = [str(intact), str(drifted), "--job", str(job_dir / "job.json")]
    argv += ["--base-ui", str(base_path), "--mask", str(mask_path), "--json", "--detail"]
    argv += ["--no-ocr"]
    rc, out, _ = run(argv, capsys)
    assert rc == 0
    a, b = (json.loads(line) for line in out.splitlines())
    assert a["components"]["ui_integrity"] > 0.9 > b["components"]["ui_integrity"]
    assert a["components"]["text"] is None and a["tokens_found"] is None
    assert a["detail"]["ui_integrity"]["raw"]["mask"] == str(mask_path)


def test_table_and_missing_image(tmp_path: Path, job_dir: Path, capsys: Any) -> None:
    good = save_png(build_ad(COPY, AdStyle(seed=0, width=540, height=675)), tmp_path / "g.png")
    rc, out, err = run(
        [str(good), str(tmp_path / "nope.png"), "--job", str(job_dir / "job.json")], capsys
    )
    assert rc == 1
    assert "nope.png: no such file" in err
    assert str(good) in out and "total" in out.splitlines()[0]


def test_json_reports_unreadable_images_per_line(
    tmp_path: Path, job_dir: Path, capsys: Any
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG nope")
    argv = [str(broken), str(tmp_path / "gone.png"), "--job", str(job_dir / "job.json")]
    rc, out, err = run([*argv, "--json", "--no-ocr"], capsys)
    assert rc == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["path"] for line in lines] == [str(broken), str(tmp_path / "gone.png")]
    assert all(line.get("error") for line in lines)
    assert "broken.png" in err and "gone.png" in err


def test_bad_job_file_prints_validation_errors(tmp_path: Path, job_dir: Path, capsys: Any) -> None:
    doc = json.loads((job_dir / "job.json").read_text())
    doc["scoring"] = {"weights": {"text": -2, "glamour": 1}}
    del doc["product"]["brand"]
    bad = job_dir / "bad.json"
    bad.write_text(json.dumps(doc))
    image = save_png(build_ad(COPY, AdStyle(seed=0, width=270, height=338)), tmp_path / "i.png")
    rc, out, err = run([str(image), "--job", str(bad)], capsys)
    assert rc == 2 and out == ""
    assert f"{bad}: product.brand: required field is missing" in err
    rc, out, err = run([str(image), "--job", str(tmp_path / "absent.json")], capsys)
    assert rc == 2 and "cannot read" in err
    del doc["scoring"]["weights"]["glamour"]
    doc["product"]["brand"] = COPY.brand
    bad.write_text(json.dumps(doc))
    rc, _, err = run([str(image), "--job", str(bad)], capsys)
    assert rc == 2 and "scoring.weights.text: must be a finite number of at least 0" in err
    rc, _, err = run([str(image), "--job", str(job_dir / "job.json"), "--base-ui", "x.png"], capsys)
    assert rc == 2 and "--base-ui: x.png: no such file" in err


def test_bench_score_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    bench_score.add_arguments(parser)
    args = parser.parse_args(["--images", "3", "--workers", "1", "--json", "--dir", str(tmp_path)])
    assert bench_score.command(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["bench"] == "score" and doc["image"] == "1080x1350" and doc["images"] == 3
    for mode in ("no_ocr", "ocr"):
        assert doc["one_process"][mode]["images_per_s"] > 0
        assert doc["all_cores"][mode]["images_per_s"] > 0
    costs = doc["one_process"]["ocr"]["ms_per_image"]
    assert {"decode", "sharpness", "brand_color", "artifacts", "ocr_tesseract"} <= set(costs)
    assert "ocr_tesseract" not in doc["one_process"]["no_ocr"]["ms_per_image"]
    assert doc["token_recall"]["tokens"] == 9 and doc["token_recall"]["recall"] >= 0.95
    assert list(tmp_path.iterdir()) == []  # the benchmark images are cleaned up


def _job_without_assets_folder(tmp_path: Path, job_dir: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(job_dir / "job.json", folder / "job.json")
    return folder / "job.json"


def test_assets_are_found_as_validate_finds_them(
    tmp_path: Path, job_dir: Path, capsys: Any
) -> None:
    image = save_png(build_ad(COPY, AdStyle(seed=0, width=270, height=338)), tmp_path / "i.png")
    argv = [str(image), "--json", "--no-ocr"]
    # Beside the job file, without an assets/ folder.
    loose = _job_without_assets_folder(tmp_path, job_dir, "loose")
    for asset in (job_dir / "assets").iterdir():
        shutil.copy(asset, loose.parent / asset.name)
    rc, out, err = run([*argv, "--job", str(loose), "--root", str(tmp_path / "empty")], capsys)
    assert rc == 0, err
    assert json.loads(out)["path"] == str(image)
    # In <root>/assets, the artifact root's.
    alone = _job_without_assets_folder(tmp_path, job_dir, "alone")
    root = tmp_path / "night-runs"
    shutil.copytree(job_dir / "assets", root / "assets")
    rc, out, err = run([*argv, "--job", str(alone), "--root", str(root)], capsys)
    assert rc == 0, err
    # An explicit --assets-root wins.
    rc, _, err = run([*argv, "--job", str(alone), "--assets-root", str(job_dir / "assets")], capsys)
    assert rc == 0, err


def test_assets_found_nowhere_is_a_clear_error(tmp_path: Path, job_dir: Path, capsys: Any) -> None:
    image = save_png(build_ad(COPY, AdStyle(seed=0, width=270, height=338)), tmp_path / "i.png")
    alone = _job_without_assets_folder(tmp_path, job_dir, "alone")
    root = tmp_path / "night-runs"
    rc, out, err = run([str(image), "--job", str(alone), "--root", str(root)], capsys)
    assert rc == 2 and out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert any(
        line.startswith(f"{alone}: assets.product_images[0]: ") and str(root / "assets") in line
        for line in lines
    ), err
    assert lines[-1] == (
        f"looked for the job's assets in {alone.parent / 'assets'}, {alone.parent}, "
        f"{root / 'assets'}; pass --assets-root DIR"
    )


def test_a_job_without_product_images_scores(tmp_path: Path, job_dir: Path, capsys: Any) -> None:
    # static_ad_v1 loads no product image: the schema allows an empty list, so does scoring.
    doc = json.loads((job_dir / "job.json").read_text())
    doc["assets"]["product_images"] = []
    (job_dir / "no_product.json").write_text(json.dumps(doc, ensure_ascii=False))
    image = save_png(build_ad(COPY, AdStyle(seed=0, width=270, height=338)), tmp_path / "i.png")
    rc, out, err = run(
        [str(image), "--job", str(job_dir / "no_product.json"), "--json", "--no-ocr"], capsys
    )
    assert rc == 0, err
    assert 0.0 <= json.loads(out)["total"] <= 1.0
