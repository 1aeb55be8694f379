"""Scoring many variants on every core: a process pool over chunks of variants."""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from nightrun_dagster.scoring.context import ScoreContext
from nightrun_dagster.scoring.ocr_cache import OcrCache
from nightrun_dagster.scoring.variant import score_variants_batch

# Variants per task: enough to spread tesseract's ~0.2 s language load over several images,
# few enough that progress moves and both workers stay busy to the end.
MAX_CHUNK = 8


def _init_worker() -> None:
    # One thread each for tesseract (OpenMP) and OpenCV: the pool already fills the cores,
    # and oversubscribed threads make OCR about 2.6× slower.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    import cv2

    cv2.setNumThreads(1)


def _score_chunk(
    dirs: list[Path], ctx: ScoreContext, force: bool, cache_dir: Path | None, ocr: bool
) -> list[dict[str, Any] | None]:
    cache = OcrCache(cache_dir) if cache_dir is not None else None
    return score_variants_batch(dirs, ctx, force=force, ocr_cache=cache, ocr=ocr)


def chunk_size(count: int, workers: int) -> int:
    return max(1, min(MAX_CHUNK, math.ceil(count / (workers * 3))))


def score_variants(
    variant_dirs: Sequence[Path],
    ctx: ScoreContext,
    *,
    workers: int | None = None,
    force: bool = False,
    cache_dir: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    ocr: bool = True,
) -> list[dict[str, Any] | None]:
    """score_variant for every folder, results in input order (None: not rendered ok, or
    pruned by retention before it was ever scored; a pruned variant's score.json is kept).
    `workers` defaults to every core; 1 scores in this process. `on_progress(done, total)`
    is called from this process after each chunk. OCR results are cached under `cache_dir`
    when given. Worker processes are spawned, not forked, so a caller's threads (Dagster's)
    are never copied mid-lock."""
    dirs = [Path(d) for d in variant_dirs]
    total = len(dirs)
    results: list[dict[str, Any] | None] = [None] * total
    if total == 0:
        return results
    workers = max(1, min(workers or os.cpu_count() or 1, total))
    size = chunk_size(total, workers)
    chunks = [list(range(i, min(i + size, total))) for i in range(0, total, size)]
    done = 0
    if workers == 1:
        for chunk in chunks:
            batch = _score_chunk([dirs[i] for i in chunk], ctx, force, cache_dir, ocr)
            for i, result in zip(chunk, batch, strict=True):
                results[i] = result
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, total)
        return results
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        futures: dict[Future[list[dict[str, Any] | None]], list[int]] = {
            pool.submit(_score_chunk, [dirs[i] for i in chunk], ctx, force, cache_dir, ocr): chunk
            for chunk in chunks
        }
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    chunk = futures[future]
                    for i, result in zip(chunk, future.result(), strict=True):
                        results[i] = result
                    done += len(chunk)
                    if on_progress is not None:
                        on_progress(done, total)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return results
