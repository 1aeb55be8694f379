"""Component weights: the documented defaults, per-job overrides, renormalization."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping

from nightrun_dagster.creative_job.checks import SCORING_COMPONENTS


class Weights(Mapping[str, float]):
    """An immutable component → weight mapping that pickles (pool workers) and hashes
    (a frozen ScoreContext stays usable as a key)."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        self._items = {k: float(v) for k, v in weights.items()}

    def __getitem__(self, name: str) -> float:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._items.items())))

    def __repr__(self) -> str:
        return f"Weights({self._items!r})"


# Readable text carries the ad (brand, product, price), so it weighs most; UI integrity comes
# next for UI-anchored jobs because a drifted app screen is unusable; the rest share the remainder.
DEFAULT_WEIGHTS: Weights = Weights(
    {
        "sharpness": 1.0,
        "text": 2.0,
        "brand_color": 1.0,
        "ui_integrity": 1.5,
        "artifacts": 1.0,
        "temporal": 1.0,
    }
)

assert tuple(DEFAULT_WEIGHTS) == SCORING_COMPONENTS


class BadWeights(ValueError):
    """A weight names an unknown component or is negative, infinite or not a number."""


def check_weights(weights: Mapping[str, object]) -> dict[str, float]:
    """`weights` as floats; raises BadWeights for an unknown name or a bad value."""
    out = {}
    for name, value in weights.items():
        if name not in DEFAULT_WEIGHTS:
            raise BadWeights(f"scoring.weights.{name}: unknown scoring component")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadWeights(f"scoring.weights.{name}: must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise BadWeights(f"scoring.weights.{name}: must be finite and at least 0")
        out[name] = float(value)
    return out


def merge_weights(overrides: Mapping[str, object] | None) -> Weights:
    """DEFAULT_WEIGHTS with `overrides` (a job's `scoring.weights`) on top, checked."""
    return Weights({**DEFAULT_WEIGHTS, **check_weights(overrides or {})})


def applied_weights(weights: Mapping[str, float], applicable: Iterable[str]) -> dict[str, float]:
    """The weights of the applicable components, renormalized to sum to 1. When they are all
    zero every applicable component counts equally, so a total always exists."""
    names = [n for n in SCORING_COMPONENTS if n in set(applicable)]
    if not names:
        return {}
    raw = {n: float(weights.get(n, 0.0)) for n in names}
    total = sum(raw.values())
    if total <= 0:
        return {n: 1.0 / len(names) for n in names}
    return {n: w / total for n, w in raw.items()}
