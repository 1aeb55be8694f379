"""Ground-truth sets for the scorer, built once per session: es-AR ads with known defects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.scoring.context import ScoreContext
from nightrun_dagster.scoring.ocr_cache import OcrCache
from nightrun_dagster.scoring.score import score_files
from nightrun_dagster.scoring.synthetic import COPIES, AdCopy, AdStyle, build_ad, save_png
from nightrun_dagster.store.atomic import atomic_write_json

SIZES = ((1080, 1350), (1080, 1920))


def ctx_for(copy: AdCopy, **changes: Any) -> ScoreContext:
    return ScoreContext(
        brand=copy.brand,
        product=copy.product,
        price=copy.price,
        brand_colors=copy.brand_colors,
        headline=copy.headline,
        **changes,
    )


def size_of(i: int) -> tuple[int, int]:
    return SIZES[i % 2]


@dataclass(frozen=True)
class Case:
    """One ground-truth image: which copy, which defect, where it is, its score document."""

    copy: AdCopy
    label: str
    path: Path
    doc: dict[str, Any]


def build_and_score(
    folder: Path, specs: list[tuple[AdCopy, str, AdStyle]], ocr: bool, suffix: str = ".png"
) -> list[Case]:
    """Draw every spec, then score each copy's images in one batch with that copy's context.
    Pixel-only sets use BMP: the same pixels, without seconds of PNG encoding of noise."""
    paths = []
    for n, (_, label, style) in enumerate(specs):
        path = folder / f"{n:03d}_{label}{suffix}"
        paths.append(save_png(build_ad(specs[n][0], style), path))
    cases: list[Case] = []
    by_copy: dict[str, list[int]] = {}
    for n, (copy, _, _) in enumerate(specs):
        by_copy.setdefault(copy.brand, []).append(n)
    docs: dict[int, dict[str, Any]] = {}
    for indices in by_copy.values():
        copy = specs[indices[0]][0]
        scored = score_files([paths[n] for n in indices], ctx_for(copy), ocr=ocr)
        docs.update(zip(indices, scored, strict=True))
    for n, (copy, label, _) in enumerate(specs):
        cases.append(Case(copy, label, paths[n], docs[n]))
    return cases


@pytest.fixture(scope="session")
def text_cases(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    """Every copy, alternating 1080×1350 and 1080×1920: all copy, price missing, no text."""
    specs = []
    for i, copy in enumerate(COPIES):
        w, h = size_of(i)
        specs += [
            (copy, "all", AdStyle(width=w, height=h, seed=i)),
            (copy, "no_price", AdStyle(width=w, height=h, seed=i, show_price=False)),
            (copy, "no_text", AdStyle(width=w, height=h, seed=i, show_text=False)),
        ]
    return build_and_score(tmp_path_factory.mktemp("text"), specs, ocr=True)


@pytest.fixture(scope="session")
def pixel_cases(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    """Sharpness, colour and artifact sets (no OCR needed): blur levels, off palette, noise."""
    specs = []
    for i, copy in enumerate(COPIES):
        w, h = size_of(i)
        base = AdStyle(width=w, height=h, seed=i)
        specs += [
            (copy, "sharp", base),
            (copy, "blur1", AdStyle(width=w, height=h, seed=i, blur=1.2)),
            (copy, "blur3", AdStyle(width=w, height=h, seed=i, blur=3.0)),
            (copy, "blur3_noise12", AdStyle(width=w, height=h, seed=i, blur=3.0, noise=12)),
            (copy, "off_palette", AdStyle(width=w, height=h, seed=i, off_palette=True)),
            (copy, "off_palette_b", AdStyle(width=w, height=h, seed=i + 50, off_palette=True)),
            (copy, "noise4", AdStyle(width=w, height=h, seed=i, noise=4)),
            (copy, "noise12", AdStyle(width=w, height=h, seed=i, noise=12)),
            (copy, "noise25", AdStyle(width=w, height=h, seed=i, noise=25)),
            (copy, "blocks", AdStyle(width=w, height=h, seed=i, blocks=18)),
            (copy, "specks", AdStyle(width=w, height=h, seed=i, specks=0.01)),
        ]
    return build_and_score(tmp_path_factory.mktemp("pixels"), specs, ocr=False, suffix=".bmp")


def by_label(cases: list[Case]) -> dict[tuple[str, str], Case]:
    return {(c.copy.brand, c.label): c for c in cases}


def pairwise_accuracy(
    cases: list[Case], pairs: list[tuple[str, str]], score: Callable[[Case], float]
) -> tuple[float, list[str]]:
    """Share of (better, worse) label pairs, over every copy, where better scores higher;
    with the failures spelled out for the assertion message."""
    index = by_label(cases)
    right, failures = 0, []
    total = 0
    for copy in COPIES:
        for better, worse in pairs:
            a, b = index[(copy.brand, better)], index[(copy.brand, worse)]
            total += 1
            if score(a) > score(b):
                right += 1
            else:
                failures.append(f"{copy.brand}: {better} {score(a):.3f} <= {worse} {score(b):.3f}")
    return right / total, failures


def component(name: str) -> Callable[[Case], float]:
    def get(case: Case) -> float:
        return float(case.doc["components"][name]["score"])

    return get


def make_variant(
    folder: Path, image: Path | None, status: str = "ok", variant_id: str | None = None
) -> Path:
    """A variant folder as the renders asset leaves it: out/ and meta/params.json."""
    folder.mkdir(parents=True, exist_ok=True)
    outputs = []
    if image is not None:
        target = folder / "out" / image.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(image.read_bytes())
        outputs.append({"file": f"out/{image.name}", "kind": "image"})
    atomic_write_json(
        folder / "meta" / "params.json",
        {"variant_id": variant_id or folder.name, "render": {"status": status, "outputs": outputs}},
    )
    return folder


class CountingTesseract:
    """Wraps run_tesseract where score.py calls it, counting calls and pages."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import nightrun_dagster.scoring.score as score_module

        self.calls = 0
        self.pages = 0
        real = score_module.run_tesseract

        def counted(pages: Any, langs: str) -> Any:
            self.calls += 1
            self.pages += len(pages)
            return real(pages, langs)

        monkeypatch.setattr(score_module, "run_tesseract", counted)


@pytest.fixture
def counting_tesseract(monkeypatch: pytest.MonkeyPatch) -> CountingTesseract:
    return CountingTesseract(monkeypatch)


@pytest.fixture
def ocr_cache(tmp_path: Path) -> OcrCache:
    return OcrCache(tmp_path / "ocr-cache")


class Helpers:
    """The helpers above, for test modules (importlib mode: tests cannot import conftest)."""

    ctx_for = staticmethod(ctx_for)
    size_of = staticmethod(size_of)
    by_label = staticmethod(by_label)
    pairwise_accuracy = staticmethod(pairwise_accuracy)
    component = staticmethod(component)
    make_variant = staticmethod(make_variant)


@pytest.fixture(scope="session")
def gt() -> type[Helpers]:
    return Helpers
