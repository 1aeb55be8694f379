"""What the scorer needs to know about a job: copy tokens, brand colours, UI base, weights."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.scoring.weights import (
    DEFAULT_WEIGHTS,
    Weights,
    check_weights,
    merge_weights,
)


@dataclass(frozen=True)
class ScoreContext:
    """The job's required tokens (brand, product name, price), its brand colours (HEX), the
    copy language, the base UI screenshot and mask for UI-anchored jobs, and the weights."""

    brand: str
    product: str
    price: str | None
    brand_colors: tuple[str, ...]
    language: str = "es-AR"
    base_ui: Path | None = None
    mask: Path | None = None
    weights: Mapping[str, float] = DEFAULT_WEIGHTS
    # Not a required token: a headline OCR reads back well is a mild plus (garbled lettering).
    headline: str | None = None

    def __post_init__(self) -> None:
        # Checked and immutable. Weights here are complete (a missing component weighs 0);
        # context_from_job merges a job's overrides into DEFAULT_WEIGHTS first.
        object.__setattr__(self, "weights", Weights(check_weights(self.weights)))
        object.__setattr__(self, "brand_colors", tuple(self.brand_colors))

    def fingerprint(self) -> str:
        """A hash of everything here that changes a score (UI files by content)."""
        doc = {
            "brand": self.brand,
            "product": self.product,
            "price": self.price,
            "brand_colors": [c.upper() for c in self.brand_colors],
            "language": self.language,
            "headline": self.headline,
            "base_ui": _file_sha256(self.base_ui),
            "mask": _file_sha256(self.mask),
            "weights": {k: float(v) for k, v in sorted(self.weights.items())},
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _file_sha256(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return f"unreadable:{path}"


def format_price(price: int | float | str | None) -> str | None:
    """The price as the job wrote it: strings verbatim, numbers as JSON writes them."""
    if price is None:
        return None
    if isinstance(price, str):
        return price
    return json.dumps(price)


def job_scoring_weights(job: CreativeJob) -> Mapping[str, object] | None:
    """The job extension `"scoring": {"weights": {…}}`, if the job has one."""
    scoring = (job.model_extra or {}).get("scoring")
    if isinstance(scoring, dict) and isinstance(scoring.get("weights"), dict):
        return scoring["weights"]
    return None


def context_from_job(
    job: CreativeJob, *, base_ui: Path | None = None, mask: Path | None = None
) -> ScoreContext:
    """The scoring context of a validated job; raises BadWeights for a bad `scoring.weights`
    (validation rejects those first)."""
    return ScoreContext(
        brand=job.product.brand,
        product=job.product.name,
        price=format_price(job.product.price),
        brand_colors=tuple(job.product.brand_colors or ()),
        language=job.copy_.language,
        base_ui=base_ui,
        mask=mask,
        weights=merge_weights(job_scoring_weights(job)),
        headline=job.copy_.headline,
    )


def job_ui_assets(job: CreativeJob, assets_root: Path) -> tuple[Path | None, Path | None]:
    """The job's first base UI screen and first mask under `assets_root`, where it has them."""
    screens = job.assets.base_ui_screens or []
    masks = job.assets.masks or []
    base = assets_root / screens[0] if screens else None
    mask = assets_root / masks[0] if masks and base is not None else None
    return base, mask
