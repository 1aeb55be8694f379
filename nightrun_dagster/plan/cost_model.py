"""What a render costs in GPU seconds: its cost units (pixels × steps × frames), lines fitted
on past renders per template, version and endpoint, and the priors used before any (pure)."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import fmean, median
from typing import Any

from nightrun_dagster.store.cost_docs import (
    CostEntry,
    CostModelDocument,
    CostPrior,
    CostSource,
    FitMethod,
)

__all__ = [
    "CONTROLNET_FACTOR",
    "DEFAULT_PER_UNIT_S",
    "LORA_FACTOR",
    "CostModel",
    "CostSample",
    "CostSource",
    "Estimate",
    "estimated_time_seconds",
    "fit",
    "render_units",
    "template_prior",
]

# One cost unit: a 1024×1024 image sampled 20 steps. Sampling time grows with pixels × steps
# (× frames for video, each frame is latent work), so units make renders of every size
# comparable and a template's fit holds across the sizes and step counts a job sweeps.
REFERENCE_WIDTH = 1024
REFERENCE_HEIGHT = 1024
REFERENCE_STEPS = 20
REFERENCE_UNITS = REFERENCE_WIDTH * REFERENCE_HEIGHT * REFERENCE_STEPS
# Each enabled LoRA patches the model's weights and adds a little per step (~5 % on SDXL).
LORA_FACTOR = 0.05
# A ControlNet runs a second network beside the UNet at every step (~30 % more).
CONTROLNET_FACTOR = 1.3
# Nothing known of a template: 30 s a unit, a mid-range GPU on SDXL-class work, so an unknown
# template is budgeted like a slow one rather than flooding the night.
DEFAULT_PER_UNIT_S = 30.0
# A render slower than this many times the template's median seconds per unit is not its cost
# (a model load, a server hiccup, a swap to CPU): left out of the fit.
OUTLIER_FACTOR = 5.0
# Fewer renders, or all of one size, cannot separate the fixed cost from the per-unit cost.
MIN_LINEAR_SAMPLES = 3


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return default
    return float(value)


def _lora_enabled(lora: Any) -> bool:
    # A listed LoRA is applied unless it says `enabled: false`.
    return isinstance(lora, Mapping) and lora.get("enabled", True) is not False


def _controlnet_set(controlnet: Any) -> bool:
    if isinstance(controlnet, Mapping):
        return bool(controlnet) and controlnet.get("enabled", True) is not False
    return bool(controlnet)


def render_units(shape: Mapping[str, Any]) -> float:
    """The render's cost units: width × height × steps × frames over one 1024×1024 20-step
    image, × (1 + LORA_FACTOR per enabled LoRA), × CONTROLNET_FACTOR with a ControlNet. A size
    or step count the shape leaves open (a template that takes none) counts as the reference's,
    the same way for the renders measured and the renders estimated."""
    width = _number(shape.get("width"), REFERENCE_WIDTH)
    height = _number(shape.get("height"), REFERENCE_HEIGHT)
    steps = _number(shape.get("steps"), REFERENCE_STEPS)
    frames = max(_number(shape.get("frames"), 1.0), 1.0)
    units = width * height * steps * frames / REFERENCE_UNITS
    loras = shape.get("loras")
    enabled = sum(1 for lora in loras if _lora_enabled(lora)) if isinstance(loras, list) else 0
    units *= 1 + LORA_FACTOR * enabled
    if _controlnet_set(shape.get("controlnet")):
        units *= CONTROLNET_FACTOR
    return units


@dataclass(frozen=True)
class CostSample:
    """One rendered variant: its template, the server, its cost units and ComfyUI's seconds."""

    template_id: str
    version: str
    endpoint: str
    units: float
    seconds: float
    night: str
    # ComfyUI cached none of the graph's nodes: the render loaded its models first (the first
    # render of a template on a server, or after a switch). A one-off, not the template's cost.
    cold: bool = False


@dataclass(frozen=True)
class Estimate:
    """Seconds of one render, where the figure comes from and how many renders back it."""

    seconds: float
    source: CostSource
    samples: int
    detail: str = ""  # which fallback answered (another endpoint, another version …)


def _fit_group(group: list[CostSample]) -> CostEntry | None:
    measured = [s for s in group if s.units > 0 and s.seconds > 0]
    warm = [s for s in measured if not s.cold]
    # Only cold renders (every one loaded its models): the best there is, kept.
    usable = warm or measured
    if not usable:
        return None
    typical = median(s.seconds / s.units for s in usable)
    kept = [s for s in usable if s.seconds <= OUTLIER_FACTOR * typical * s.units]
    units = [s.units for s in kept]
    seconds = [s.seconds for s in kept]
    intercept, per_unit, method = 0.0, sum(seconds) / sum(units), FitMethod.RATIO
    if len(kept) >= MIN_LINEAR_SAMPLES and len(set(units)) >= 2:
        mu, ms = fmean(units), fmean(seconds)
        sxx = sum((u - mu) ** 2 for u in units)
        slope = sum((u - mu) * (s - ms) for u, s in zip(units, seconds, strict=True)) / sxx
        if slope > 0:
            method, intercept, per_unit = FitMethod.LINEAR, ms - slope * mu, slope
            if intercept < 0:
                # A negative fixed cost is noise: the best line through zero instead.
                intercept = 0.0
                per_unit = sum(u * s for u, s in zip(units, seconds, strict=True)) / sum(
                    u * u for u in units
                )
    errors = [abs(intercept + per_unit * u - s) / s for u, s in zip(units, seconds, strict=True)]
    first = group[0]
    return CostEntry(
        template_id=first.template_id,
        version=first.version,
        endpoint=first.endpoint,
        intercept_s=intercept,
        per_unit_s=per_unit,
        method=method,
        samples=len(kept),
        outliers=len(usable) - len(kept),
        cold=len(measured) - len(usable),
        units_min=min(units),
        units_max=max(units),
        mae_pct=100.0 * fmean(errors),
        nights=sorted({s.night for s in kept}),
    )


def fit(samples: Iterable[CostSample]) -> list[CostEntry]:
    """One entry per (template, version, endpoint): seconds = intercept + per_unit × units by
    least squares when ≥ MIN_LINEAR_SAMPLES renders of ≥ 2 sizes allow it (intercept ≥ 0), else
    the ratio Σ seconds / Σ units; cold renders (models loaded first) left out when warm ones
    exist, and outliers (> OUTLIER_FACTOR × the median seconds per unit). Sorted by key."""
    groups: dict[tuple[str, str, str], list[CostSample]] = defaultdict(list)
    for s in samples:
        groups[(s.template_id, s.version, s.endpoint)].append(s)
    entries = (_fit_group(groups[key]) for key in sorted(groups))
    return [e for e in entries if e is not None]


_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_ESTIMATED_TIME = re.compile(
    r"^\s*(?:[<≤~≈]|up\s+to|about|under)?\s*(\d+(?:\.\d+)?)"
    r"(?:\s*(?:-|–|—|to)\s*(\d+(?:\.\d+)?))?\s*"
    r"(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?)\b",
    re.IGNORECASE,
)


def estimated_time_seconds(text: Any) -> float | None:
    """Seconds of one render from a template's `estimated_time` ("20-35 s on RTX 3080" → 27.5,
    "3-6 min …" → 270, "<2 s …" → 2: a bound is taken as the figure); None when unparseable."""
    if not isinstance(text, str):
        return None
    m = _ESTIMATED_TIME.match(text)
    if m is None:
        return None
    low = float(m.group(1))
    high = float(m.group(2)) if m.group(2) else low
    if high < low:
        return None
    seconds = (low + high) / 2 * _UNIT_SECONDS[m.group(3)[0].lower()]
    return seconds if seconds > 0 else None


def template_prior(
    template_id: str,
    version: str,
    defaults: Mapping[str, Any],
    estimated_time: Any = None,
    warmup_seconds: Iterable[float] = (),
) -> CostPrior:
    """The template's cost before any measured render, at its default shape (no LoRA, no
    ControlNet): its `estimated_time` (METADATA), else the mean of the warm-up preloads of its
    jobs, each taken as one render at the default shape (WARMUP: a preload also loads the
    models, so it errs slow), else DEFAULT_PER_UNIT_S per unit."""
    units = render_units(defaults)
    quoted = estimated_time_seconds(estimated_time)
    preloads = [s for s in warmup_seconds if s > 0]
    if quoted is not None:
        seconds, source, detail = quoted, CostSource.METADATA, str(estimated_time)
    elif preloads:
        seconds, source = fmean(preloads), CostSource.WARMUP
        detail = f"{len(preloads)} warm-up preload(s)"
    else:
        seconds, source = DEFAULT_PER_UNIT_S * units, CostSource.DEFAULT
        detail = f"{DEFAULT_PER_UNIT_S:g} s per unit"
    return CostPrior(
        template_id=template_id,
        version=version,
        units_at_default=units,
        seconds_at_default=seconds,
        per_unit_s=seconds / units,
        source=source,
        detail=detail,
    )


class CostModel:
    """Estimates from a fitted CostModelDocument. Fallbacks, best first:
    1. the fit of this template and version on this endpoint (MEASURED);
    2. its fits on the other endpoints, mean seconds, scaled by this endpoint's speed relative
       to them where both ran some other template (MEASURED);
    3. the fits of other versions of the template, mean seconds (MEASURED: a new version
       mostly keeps its model and graph, and a real render beats a figure quoted for
       another GPU; `detail` names the versions);
    4. the template's prior (METADATA, WARMUP or DEFAULT, any version when this one has none);
    5. DEFAULT_PER_UNIT_S per unit."""

    def __init__(self, doc: CostModelDocument) -> None:
        self.doc = doc
        self._entries: dict[tuple[str, str], list[CostEntry]] = defaultdict(list)
        for e in doc.entries:
            self._entries[(e.template_id, e.version)].append(e)
        self._priors: dict[tuple[str, str], CostPrior] = {
            (p.template_id, p.version): p for p in doc.priors
        }

    def entry(self, template_id: str, version: str, endpoint: str) -> CostEntry | None:
        return next(
            (e for e in self._entries.get((template_id, version), []) if e.endpoint == endpoint),
            None,
        )

    def prior(self, template_id: str, version: str | None = None) -> CostPrior | None:
        """The template's prior for `version`, else for any version of it."""
        if version is not None and (template_id, version) in self._priors:
            return self._priors[(template_id, version)]
        return next((p for p in self.doc.priors if p.template_id == template_id), None)

    def endpoint_speed(self, endpoint: str) -> float:
        """How many times the seconds of the other endpoints a render takes on `endpoint`: the
        geometric mean, over templates fitted on it and elsewhere, of its per-unit seconds over
        theirs; 1.0 when nothing compares."""
        ratios = []
        for entries in self._entries.values():
            own = [e.per_unit_s for e in entries if e.endpoint == endpoint]
            others = [e.per_unit_s for e in entries if e.endpoint != endpoint]
            if own and others and own[0] > 0:
                ratios.append(own[0] / fmean(others))
        if not ratios:
            return 1.0
        return math.exp(fmean(math.log(r) for r in ratios))

    def estimate(
        self, template_id: str, version: str, units: float, endpoint: str | None = None
    ) -> Estimate:
        """Seconds of one render of `units` cost units (see the class for the fallbacks)."""
        entries = self._entries.get((template_id, version), [])
        own = self.entry(template_id, version, endpoint) if endpoint is not None else None
        if own is not None:
            return Estimate(own.seconds(units), CostSource.MEASURED, own.samples, own.endpoint)
        if entries:
            speed = self.endpoint_speed(endpoint) if endpoint is not None else 1.0
            seconds = speed * fmean(e.seconds(units) for e in entries)
            where = ", ".join(e.endpoint for e in entries)
            detail = f"other endpoints ({where})" if endpoint is not None else where
            if speed != 1.0:
                detail += f" × {speed:.2f} speed of {endpoint}"
            return Estimate(seconds, CostSource.MEASURED, sum(e.samples for e in entries), detail)
        versions = [e for (t, _), es in self._entries.items() if t == template_id for e in es]
        if versions:
            seconds = fmean(e.seconds(units) for e in versions)
            names = ", ".join(sorted({e.version for e in versions}))
            return Estimate(
                seconds,
                CostSource.MEASURED,
                sum(e.samples for e in versions),
                f"version {names}, not {version}",
            )
        prior = self.prior(template_id, version)
        if prior is not None:
            samples = 1 if prior.source == CostSource.WARMUP else 0
            return Estimate(prior.per_unit_s * units, prior.source, samples, prior.detail)
        return Estimate(DEFAULT_PER_UNIT_S * units, CostSource.DEFAULT, 0, "unknown template")
