"""`nightrun bench score`: scoring speed at 1080×1350, with and without OCR, and token recall."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from nightrun_dagster.cli.bench import machine
from nightrun_dagster.cli.user_input import existing_folder, positive_int
from nightrun_dagster.scoring.context import ScoreContext
from nightrun_dagster.scoring.pool import score_variants
from nightrun_dagster.scoring.score import score_files
from nightrun_dagster.scoring.synthetic import COPIES, AdStyle, build_ad, save_png
from nightrun_dagster.store.variant_docs import VariantParams, write_params

WIDTH, HEIGHT = 1080, 1350
TARGET_OCR_PER_S = 3.0  # on 2 cores, the acceptance figures
TARGET_NO_OCR_PER_S = 20.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", type=positive_int, default=32, help="benchmark images (default 32)")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=os.cpu_count() or 1,
        help="pool size (default all cores)",
    )
    p.add_argument(
        "--dir", type=existing_folder, help="where to build the images (default: temp folder)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _style(i: int) -> AdStyle:
    """Every copy, on and off palette, some with mild grain: text is always drawn, so every
    required token is ground truth for recall."""
    return AdStyle(
        width=WIDTH, height=HEIGHT, seed=i, off_palette=i % 5 == 4, noise=4.0 if i % 3 == 2 else 0
    )


def build_set(work: Path, count: int) -> list[tuple[Path, ScoreContext]]:
    """`count` ground-truth ads, each as a rendered variant folder (params.json + out/)."""
    items = []
    for i in range(count):
        copy = COPIES[i % len(COPIES)]
        vdir = work / "variants" / f"v{i + 1:04d}"
        save_png(build_ad(copy, _style(i)), vdir / "out" / "img_0001.png")
        write_params(
            vdir,
            VariantParams.model_validate(
                {
                    "variant_id": vdir.name,
                    "render": {"status": "ok", "outputs": [{"file": "out/img_0001.png"}]},
                }
            ),
        )
        ctx = ScoreContext(
            brand=copy.brand,
            product=copy.product,
            price=copy.price,
            brand_colors=copy.brand_colors,
            headline=copy.headline,
        )
        items.append((vdir, ctx))
    return items


def _one_process(items: list[tuple[Path, ScoreContext]], ocr: bool) -> dict[str, Any]:
    """Every image in this process, per copy so each batch has its own context."""
    timings: dict[str, float] = {}
    docs = []
    start = time.perf_counter()
    by_copy: dict[str, list[Path]] = {}
    contexts: dict[str, ScoreContext] = {}
    for vdir, ctx in items:
        by_copy.setdefault(ctx.brand, []).append(vdir / "out" / "img_0001.png")
        contexts[ctx.brand] = ctx
    for brand, paths in by_copy.items():
        docs += score_files(paths, contexts[brand], ocr=ocr, timings=timings)
    wall = time.perf_counter() - start
    n = len(items)
    return {
        "images": n,
        "wall_s": wall,
        "images_per_s": n / wall,
        "ms_per_image": {k: 1000 * v / n for k, v in sorted(timings.items())},
        "docs": docs,
    }


def _import_scorer(_: int) -> None:
    import nightrun_dagster.scoring.variant  # noqa: F401  (what a pool worker imports)


def pool_startup_s(workers: int) -> float:
    """Seconds to spawn the workers and import the scorer in them, once per pool."""
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(_import_scorer, range(workers)))
    return time.perf_counter() - start


def _all_cores(items: list[tuple[Path, ScoreContext]], workers: int, ocr: bool) -> dict:
    # One pool run takes one context, as a job's night does; a pool per copy would measure
    # spawning. Speed does not depend on which tokens are looked for, so the first copy's
    # context serves (recall comes from the one-process run, with the right contexts).
    ctx = items[0][1]
    dirs = [vdir for vdir, _ in items]
    start = time.perf_counter()
    score_variants(dirs, ctx, workers=workers, force=True, ocr=ocr)
    wall = time.perf_counter() - start
    return {"images": len(dirs), "wall_s": wall, "images_per_s": len(dirs) / wall}


def token_recall(docs: list[dict[str, Any]]) -> dict[str, Any]:
    found = sum(len(d["components"]["text"]["tokens_found"]) for d in docs)
    missing = sum(len(d["components"]["text"]["tokens_missing"]) for d in docs)
    by_kind: dict[str, list[int]] = {}
    for d in docs:
        for t in d["components"]["text"]["raw"]["tokens"]:
            by_kind.setdefault(t["kind"], [0, 0])[0 if t["found"] else 1] += 1
    return {
        "recall": found / max(1, found + missing),
        "tokens": found + missing,
        "by_kind": {k: f / max(1, f + m) for k, (f, m) in by_kind.items()},
        "missed": [
            {"file": Path(d["file"]).parent.parent.name, "missing": d["components"]["text"][k]}
            for d in docs
            for k in ("tokens_missing",)
            if d["components"]["text"][k]
        ],
    }


def run_bench(count: int, workers: int, work: Path) -> dict[str, Any]:
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    items = build_set(work, count)
    no_ocr = _one_process(items, ocr=False)
    with_ocr = _one_process(items, ocr=True)
    startup = pool_startup_s(workers)
    pool_no_ocr = _all_cores(items, workers, ocr=False)
    pool_ocr = _all_cores(items, workers, ocr=True)
    for row in (pool_no_ocr, pool_ocr):
        # A night scores hundreds of variants per pool, so the spawn cost is reported apart.
        steady = max(1e-9, row["wall_s"] - startup)
        row["images_per_s_excluding_startup"] = row["images"] / steady
    recall = token_recall(with_ocr.pop("docs"))
    no_ocr.pop("docs")
    return {
        "bench": "score",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "image": f"{WIDTH}x{HEIGHT}",
        "images": count,
        "workers": workers,
        "one_process": {"no_ocr": no_ocr, "ocr": with_ocr},
        "all_cores": {"no_ocr": pool_no_ocr, "ocr": pool_ocr, "pool_startup_s": startup},
        "token_recall": recall,
        "targets": {
            "ocr_images_per_s_2_cores": TARGET_OCR_PER_S,
            "no_ocr_images_per_s_2_cores": TARGET_NO_OCR_PER_S,
            "token_recall": 0.95,
        },
    }


def command(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="nightrun-bench-score-", dir=args.dir))
    try:
        result = run_bench(args.images, args.workers, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
        return 0
    one, pool = result["one_process"], result["all_cores"]
    rows = [
        ("images", f"{result['images']} at {result['image']}"),
        ("1 process, no OCR", f"{one['no_ocr']['images_per_s']:.1f} images/s"),
        ("1 process, OCR", f"{one['ocr']['images_per_s']:.2f} images/s"),
        (
            f"{result['workers']} workers, no OCR",
            f"{pool['no_ocr']['images_per_s']:.1f} images/s "
            f"({pool['no_ocr']['images_per_s_excluding_startup']:.1f} without pool start-up)",
        ),
        (
            f"{result['workers']} workers, OCR",
            f"{pool['ocr']['images_per_s']:.2f} images/s "
            f"({pool['ocr']['images_per_s_excluding_startup']:.2f} without pool start-up)",
        ),
        ("pool start-up", f"{pool['pool_startup_s']:.2f} s"),
        ("token recall", f"{result['token_recall']['recall']:.3f}"),
    ]
    for name, ms in one["ocr"]["ms_per_image"].items():
        rows.append((f"  {name}", f"{ms:.1f} ms/image"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k.ljust(width)}  {v}")
    return 0
