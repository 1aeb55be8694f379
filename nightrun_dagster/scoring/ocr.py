"""Tesseract OCR: two polarity-normalized pages per image, many images per tesseract call."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytesseract

from nightrun_dagster.scoring.text import Word

# Bump when anything below changes what OCR reads (pages, scale, tesseract config): cached
# results from another version are not reused.
PREP_VERSION = 1
PASSES = ("grey", "minrgb")
# Half scale of a 1080-wide render: tesseract reads ad lettering fine at this size and runs
# about 3× faster than at full size. Smaller images are not enlarged.
OCR_SHORT_SIDE = 540
# Sparse text (ads scatter words), and no inverted retry: both polarities are already pages.
TESSERACT_CONFIG = "--psm 11 -c tessedit_do_invert=0"
_LANGS = {
    "es": "spa",
    "en": "eng",
    "pt": "por",
    "fr": "fra",
    "de": "deu",
    "it": "ita",
    "ca": "cat",
    "gl": "glg",
    "nl": "nld",
}


class OcrUnavailable(RuntimeError):
    """Tesseract is not installed, or none of the languages the job needs are."""


def tesseract_languages(language: str) -> str:
    """A BCP-47 tag to tesseract languages: `es-AR` → `spa+eng` (English as well, for brand
    names and the odd English word); an unknown language reads as English."""
    primary = language.replace("_", "-").split("-")[0].lower()
    code = _LANGS.get(primary, "eng")
    return code if code == "eng" else f"{code}+eng"


@functools.lru_cache(maxsize=1)
def installed_languages() -> frozenset[str]:
    try:
        return frozenset(pytesseract.get_languages(config=""))
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrUnavailable(
            "tesseract is not installed or not on PATH (Debian: apt install tesseract-ocr "
            "tesseract-ocr-spa)"
        ) from exc


def usable_languages(wanted: str) -> str:
    """The installed part of `wanted` (`spa+eng`); raises OcrUnavailable when none is."""
    have = installed_languages()
    usable = [code for code in wanted.split("+") if code in have]
    if not usable:
        raise OcrUnavailable(
            f"tesseract has none of the languages {wanted!r} (installed: {sorted(have)}); "
            f"install tesseract-ocr-{wanted.split('+')[0]}"
        )
    return "+".join(usable)


def _strokes(page: np.ndarray, size: int) -> np.ndarray:
    """Dark strokes thinner than `size` as black on white; everything wider (badges, pills,
    panels, gradients) becomes white. Tesseract drops text inside a big dark shape, such as a
    brand name on a pill, so the shapes must go."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    strokes = cv2.morphologyEx(page, cv2.MORPH_BLACKHAT, kernel)
    # Doubling the contrast makes faint (off-palette, low-contrast) lettering readable.
    return cv2.subtract(np.full_like(strokes, 255), cv2.multiply(strokes, 2))


def prepare_pages(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The pages tesseract reads for one image: `grey` finds dark text on light ground;
    `minrgb` (255 - the per-pixel minimum of R, G, B) turns white text on any coloured badge,
    pill or dark background into dark text, where plain grey would often lose it."""
    h, w = rgb.shape[:2]
    scale = min(1.0, OCR_SHORT_SIDE / min(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    # The structuring element must be wider than the heaviest headline stroke (headlines are
    # sized by the width) yet narrower than a brand pill, or the pill would count as a stroke.
    k = min(31, max(9, round(rgb.shape[1] * 0.03))) | 1
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    inverted_min = cv2.subtract(np.full_like(grey, 255), rgb.min(axis=2))
    return {"grey": _strokes(grey, k), "minrgb": _strokes(inverted_min, k)}


def _words_from_data(data: dict[str, list[Any]], pages: int) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = [[] for _ in range(pages)]
    for page, level, text, conf in zip(
        data["page_num"], data["level"], data["text"], data["conf"], strict=True
    ):
        text = str(text).strip()
        if int(level) != 5 or not text or not 1 <= int(page) <= pages:
            continue
        out[int(page) - 1].append({"text": text, "conf": round(float(conf), 2)})
    return out


def run_tesseract(pages: Sequence[np.ndarray], langs: str) -> list[list[dict[str, Any]]]:
    """Words ({"text", "conf"}) per page, in tesseract's reading order. All pages go to one
    tesseract process through a list file: loading spa+eng costs about 0.2 s per process,
    more than reading one page."""
    if not pages:
        return []
    # One thread per tesseract: OpenMP threads fight each other and the pool (~2.6× slower).
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    with tempfile.TemporaryDirectory(prefix="nightrun-ocr-") as tmp:
        names = []
        for i, page in enumerate(pages):
            name = Path(tmp) / f"page_{i:04d}.pgm"  # PGM: no compression to pay for
            cv2.imwrite(str(name), page)
            names.append(str(name))
        listing = Path(tmp) / "pages.txt"
        listing.write_text("\n".join(names) + "\n")
        try:
            data = pytesseract.image_to_data(
                str(listing),
                lang=langs,
                config=TESSERACT_CONFIG,
                output_type=pytesseract.Output.DICT,
                timeout=60 + 10 * len(pages),
            )
        except pytesseract.TesseractNotFoundError as exc:
            raise OcrUnavailable("tesseract is not installed or not on PATH") from exc
    return _words_from_data(data, len(pages))


def words_of(result: dict[str, list[dict[str, Any]]]) -> list[Word]:
    """A cached or fresh OCR result (pass → words) as Words, pass by pass."""
    return [
        Word(str(w["text"]), float(w["conf"]), name)
        for name in PASSES
        for w in result.get(name, [])
    ]
