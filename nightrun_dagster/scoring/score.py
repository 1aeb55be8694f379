"""Score one rendered output (image or video) against a job: components, weights, total.

Every component is a score in 0..1 with its raw measurements kept beside it:

- `sharpness` (weight 1.0): Laplacian variance and Tenengrad of a 540-wide grey copy, minus
  the energy of the measured noise.
- `text` (2.0): OCR with tesseract in the job's language (es-AR → spa+eng): brand, product
  name and price found (fuzzy; a price must match on the number), the confidence of the
  matched words, and how well the headline reads back.
- `brand_color` (1.0): k-means palette of a thumbnail and per-pixel CIEDE2000 to
  `product.brand_colors`; null when the job names none.
- `ui_integrity` (1.5): SSIM against the base UI screenshot inside the mask, at full
  resolution, over its structured pixels, penalized below 0.5; null without a base UI.
- `artifacts` (1.0): noise sigma, clipped and blown areas, 8×8 block noise, specks,
  near-blank or one-colour images.
- `temporal` (1.0): video only: brightness flicker over every frame, globally and per region.

These are DEFAULT_WEIGHTS. A job overrides any of them with the top-level extension
`"scoring": {"weights": {"text": 3, "sharpness": 0.5}}` (non-negative numbers, known names;
validation rejects anything else). The total is the weighted mean over the components that
apply to the output: the weights actually applied, renormalized to sum to 1, are stored in
the score document. Video outputs take the median of each image component over four evenly
spaced frames; OCR reads two of them and a token counts when either shows it.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nightrun_dagster.scoring.artifacts import artifacts
from nightrun_dagster.scoring.color import brand_color, thumbnail
from nightrun_dagster.scoring.context import ScoreContext
from nightrun_dagster.scoring.media import (
    UnreadableMedia,
    file_sha256,
    is_video,
    load_image,
    read_video,
)
from nightrun_dagster.scoring.ocr import (
    PASSES,
    prepare_pages,
    run_tesseract,
    tesseract_languages,
    usable_languages,
    words_of,
)
from nightrun_dagster.scoring.ocr_cache import OcrCache
from nightrun_dagster.scoring.sharpness import fixed_width, sharpness
from nightrun_dagster.scoring.temporal import temporal
from nightrun_dagster.scoring.text import Word, required_tokens, text_legibility
from nightrun_dagster.scoring.ui import UiReference, ui_integrity
from nightrun_dagster.scoring.weights import DEFAULT_WEIGHTS, applied_weights

__all__ = ["DEFAULT_WEIGHTS", "SCORER_VERSION", "error_document", "score_file", "score_files"]

# Bump when a change moves scores: score.json files written by another version are redone.
SCORER_VERSION = 2
VIDEO_SAMPLE_FRAMES = 4
VIDEO_OCR_FRAMES = 2
IMAGE_COMPONENTS = ("sharpness", "text", "brand_color", "ui_integrity", "artifacts")

Timings = dict[str, float]


@contextmanager
def _timed(timings: Timings | None, name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


@dataclass
class _Pending:
    """One output between its pixel checks and its OCR."""

    path: Path
    sha256: str
    kind: str
    components: dict[str, dict[str, Any] | None]
    ocr_frames: list[tuple[str, str]] = field(default_factory=list)  # (frame sha, label)


def _frame_sha(rgb: np.ndarray) -> str:
    digest = hashlib.sha256(f"{rgb.shape}".encode())
    digest.update(np.ascontiguousarray(rgb).data)
    return digest.hexdigest()


def _pixel_components(
    rgb: np.ndarray, ctx: ScoreContext, ui_ref: UiReference | None, timings: Timings | None
) -> dict[str, dict[str, Any] | None]:
    with _timed(timings, "resize"):
        # One small working copy feeds sharpness and, smaller again, the colour thumbnail.
        work = fixed_width(rgb)
        thumb = thumbnail(work)
    with _timed(timings, "sharpness"):
        sharp = sharpness(work)
    with _timed(timings, "brand_color"):
        colour = brand_color(thumb, ctx.brand_colors)
    ui = None
    if ui_ref is not None:
        with _timed(timings, "ui_integrity"):
            ui = ui_integrity(rgb, ui_ref)
    with _timed(timings, "artifacts"):
        art = artifacts(rgb, thumb)
    return {"sharpness": sharp, "brand_color": colour, "ui_integrity": ui, "artifacts": art}


def _median_component(
    results: list[dict[str, Any] | None], frames: list[int]
) -> dict[str, Any] | None:
    """A video's component: the median frame score, that frame's raw values, every score."""
    present = [(r, f) for r, f in zip(results, frames, strict=True) if r is not None]
    if not present:
        return None
    scores = [r["score"] for r, _ in present]
    median = statistics.median(scores)
    middle, _ = min(present, key=lambda rf: abs(rf[0]["score"] - median))
    raw = dict(middle["raw"])
    raw["per_frame"] = [{"frame": f, "score": r["score"]} for r, f in present]
    return {"score": float(median), "raw": raw}


class _OcrBatch:
    """Collects the frames to read, reads the cache misses in one tesseract call."""

    def __init__(self, langs: str, cache: OcrCache | None) -> None:
        self.langs = langs
        self.cache = cache
        self.results: dict[str, dict[str, Any]] = {}
        self._pages: dict[str, dict[str, np.ndarray]] = {}

    def want(self, sha: str, rgb: np.ndarray, timings: Timings | None) -> None:
        if sha in self.results or sha in self._pages:
            return
        if self.cache is not None:
            hit = self.cache.get(sha, self.langs)
            if hit is not None:
                self.results[sha] = hit
                return
        with _timed(timings, "ocr_prepare"):
            self._pages[sha] = prepare_pages(rgb)

    def run(self, timings: Timings | None) -> None:
        if not self._pages:
            return
        shas = list(self._pages)
        pages = [self._pages[s][name] for s in shas for name in PASSES]
        with _timed(timings, "ocr_tesseract"):
            words = run_tesseract(pages, self.langs)
        for i, sha in enumerate(shas):
            passes = {name: words[i * len(PASSES) + j] for j, name in enumerate(PASSES)}
            self.results[sha] = passes
            if self.cache is not None:
                self.cache.put(sha, self.langs, passes)
        self._pages.clear()


def _prepare(
    path: Path,
    sha: str,
    ctx: ScoreContext,
    ui_ref: UiReference | None,
    batch: _OcrBatch | None,
    timings: Timings | None,
) -> _Pending:
    if is_video(path):
        with _timed(timings, "decode"):
            video = read_video(path, VIDEO_SAMPLE_FRAMES)
        per_frame = [_pixel_components(f, ctx, ui_ref, timings) for f in video.frames]
        components: dict[str, dict[str, Any] | None] = {
            name: _median_component([pf[name] for pf in per_frame], video.indices)
            for name in ("sharpness", "brand_color", "ui_integrity", "artifacts")
        }
        with _timed(timings, "temporal"):
            components["temporal"] = temporal(video.small)
            components["temporal"]["raw"].update(
                frame_count=video.frame_count, fps=video.fps, sampled=video.indices
            )
        pending = _Pending(path, sha, "video", components)
        if batch is not None:
            # The first sampled frame and one from the middle: copy that animates in or out
            # still shows in one of them.
            picks = sorted({0, len(video.frames) // 2})[:VIDEO_OCR_FRAMES]
            for i in picks:
                frame_sha = _frame_sha(video.frames[i])
                batch.want(frame_sha, video.frames[i], timings)
                pending.ocr_frames.append((frame_sha, f"frame {video.indices[i]}"))
        return pending
    with _timed(timings, "decode"):
        rgb = load_image(path)
    pending = _Pending(path, sha, "image", _pixel_components(rgb, ctx, ui_ref, timings))
    if batch is not None:
        batch.want(sha, rgb, timings)
        pending.ocr_frames.append((sha, ""))
    return pending


def _text_component(
    pending: _Pending, batch: _OcrBatch, ctx: ScoreContext, timings: Timings | None
) -> dict[str, Any]:
    words: list[Word] = []
    for frame_sha, label in pending.ocr_frames:
        for word in words_of(batch.results[frame_sha]):
            source = f"{word.source} ({label})" if label else word.source
            words.append(Word(word.text, word.conf, source))
    with _timed(timings, "text_match"):
        result = text_legibility(
            words, required_tokens(ctx.brand, ctx.product, ctx.price), ctx.headline
        )
    result["raw"]["languages"] = batch.langs
    return result


def _round(value: Any) -> Any:
    """Six decimals are plenty and keep score.json readable."""
    if isinstance(value, float):
        return round(value, 6) if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    if isinstance(value, np.generic):
        return _round(value.item())
    return value


def _document(pending: _Pending, ctx: ScoreContext) -> dict[str, Any]:
    names = list(IMAGE_COMPONENTS) + (["temporal"] if pending.kind == "video" else [])
    components = {name: pending.components.get(name) for name in names}
    weights = applied_weights(ctx.weights, [n for n, c in components.items() if c is not None])
    total = sum(w * (components[n] or {}).get("score", 0.0) for n, w in weights.items())
    return _round(
        {
            "file": str(pending.path),
            "kind": pending.kind,
            "total": float(total),
            "components": components,
            "weights": weights,
            "sha256": pending.sha256,
        }
    )


def score_files(
    paths: Sequence[Path],
    ctx: ScoreContext,
    *,
    ocr_cache: OcrCache | None = None,
    ocr: bool = True,
    hashes: Sequence[str] | None = None,
    timings: Timings | None = None,
    record_errors: bool = False,
) -> list[dict[str, Any]]:
    """Score documents for `paths`, in order, reading all their text in one tesseract call.
    `hashes` may give the files' sha256 when the caller has them; `timings` accumulates
    seconds per step. A file that cannot be read raises UnreadableMedia, or with
    `record_errors` gets an error_document. Raises OcrUnavailable when OCR is asked for and
    tesseract cannot run."""
    ui_ref = UiReference(ctx.base_ui, ctx.mask) if ctx.base_ui is not None else None
    batch = None
    if ocr:
        batch = _OcrBatch(usable_languages(tesseract_languages(ctx.language)), ocr_cache)
    pending: list[_Pending | dict[str, Any]] = []
    for i, path in enumerate(paths):
        try:
            with _timed(timings, "hash"):
                sha = hashes[i] if hashes is not None else file_sha256(Path(path))
            pending.append(_prepare(Path(path), sha, ctx, ui_ref, batch, timings))
        except UnreadableMedia as exc:
            if not record_errors:
                raise
            pending.append(error_document(Path(path), str(exc)))
    if batch is not None:
        batch.run(timings)
    out = []
    for p in pending:
        if isinstance(p, dict):
            out.append(p)
            continue
        p.components["text"] = _text_component(p, batch, ctx, timings) if batch else None
        out.append(_document(p, ctx))
    return out


def error_document(path: Path, error: str) -> dict[str, Any]:
    """The score document of an output that could not be read: total 0, every component
    null (the same keys as a scored output), and the reason."""
    kind = "video" if is_video(path) else "image"
    names = list(IMAGE_COMPONENTS) + (["temporal"] if kind == "video" else [])
    return {
        "file": str(path),
        "kind": kind,
        "total": 0.0,
        "components": dict.fromkeys(names),
        "weights": {},
        "sha256": None,
        "error": error,
    }


def score_file(
    path: Path, ctx: ScoreContext, *, ocr_cache: OcrCache | None = None, ocr: bool = True
) -> dict[str, Any]:
    """One output's score document (see the module docstring); `ocr=False` leaves the text
    component out (null) and renormalizes the weights over the rest."""
    return score_files([path], ctx, ocr_cache=ocr_cache, ocr=ocr)[0]
