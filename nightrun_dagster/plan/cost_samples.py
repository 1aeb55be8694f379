"""The cost model's inputs: every good render of the past nights (params.json, read through
store/) as a cost sample, and `learn_costs`, which fits them and adds every template's prior."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from nightrun_dagster.intake.validate import Intake
from nightrun_dagster.plan.cost_model import CostSample, fit, render_units, template_prior
from nightrun_dagster.store.cost_docs import CostModelDocument
from nightrun_dagster.store.night_records import try_read_warmup
from nightrun_dagster.store.paths import JobDir, Tree, VariantDir
from nightrun_dagster.store.variant_docs import RenderStatus, VariantParams, try_read_params
from nightrun_dagster.workflows.templates import Template

DEFAULT_LOOKBACK_NIGHTS = 7


def past_nights(tree: Tree, before_night: str | None, lookback_nights: int) -> list[str]:
    """The latest `lookback_nights` night folders strictly before `before_night` (all nights
    when None), oldest first. Nights that exist, not calendar days: a week the farm stood
    still does not leave the model with nothing to learn from."""
    if lookback_nights <= 0:
        return []
    try:
        entries = list(os.scandir(tree.root / "runs"))
    except OSError:
        return []
    nights = []
    for entry in entries:
        try:
            date.fromisoformat(entry.name)
        except ValueError:
            continue
        if (before_night is None or entry.name < before_night) and entry.is_dir():
            nights.append(entry.name)
    return sorted(nights)[-lookback_nights:]


def _dirs(path: Path, prefix: str) -> Iterator[Path]:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name.startswith(prefix) and entry.is_dir():
            yield Path(entry.path)


def sample_of(params: VariantParams, night: str) -> CostSample | None:
    """The render as a cost sample; None unless it rendered fine at full quality (status ok, no
    degrade rung) with ComfyUI's execution seconds and endpoint recorded."""
    render, template = params.render, params.template
    if render is None or render.status != RenderStatus.OK or not template:
        return None
    if render.degrade_level not in (None, 0):
        return None  # a degraded render is cheaper on purpose: not the template's cost
    seconds, endpoint = render.server_s, render.endpoint
    template_id = template.get("id")
    if seconds is None or seconds <= 0 or not endpoint or not isinstance(template_id, str):
        return None
    # The shape's keys (width, height, steps, frames, loras, controlnet) are the plan's, kept
    # as extra keys of the document: read there, without dumping the whole model.
    units = render_units(params.model_extra or {})
    cold = render.cached_nodes is not None and not render.cached_nodes
    return CostSample(
        template_id, str(template.get("version") or ""), endpoint, units, seconds, night, cold
    )


@dataclass
class _Scan:
    samples: list[CostSample] = field(default_factory=list)
    # (night, job key) -> (template id, version): which template a warm-up preload rendered.
    job_templates: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)


def _scan(tree: Tree, nights: list[str]) -> _Scan:
    found = _Scan()
    for night in nights:
        for job_path in _dirs(tree.night(night), "job_"):
            key = job_path.name.removeprefix("job_")
            for variant_path in _dirs(JobDir(job_path).variants, "v"):
                params = try_read_params(VariantDir(variant_path))
                if params is None:
                    continue  # damaged or not planned: nothing to learn from it
                template = params.template or {}
                if isinstance(template.get("id"), str):
                    found.job_templates.setdefault(
                        (night, key), (template["id"], str(template.get("version") or ""))
                    )
                sample = sample_of(params, night)
                if sample is not None:
                    found.samples.append(sample)
    return found


def cost_samples(
    tree: Tree, before_night: str | None = None, lookback_nights: int = DEFAULT_LOOKBACK_NIGHTS
) -> list[CostSample]:
    """Every good render (see `sample_of`) of the `lookback_nights` nights before
    `before_night`, oldest night first."""
    return _scan(tree, past_nights(tree, before_night, lookback_nights)).samples


def _warmup_seconds(
    tree: Tree, nights: list[str], job_templates: Mapping[tuple[str, str], tuple[str, str]]
) -> dict[tuple[str, str], list[float]]:
    """(template id, version) -> the seconds of each successful warm-up preload of its jobs."""
    found: dict[tuple[str, str], list[float]] = defaultdict(list)
    for night in nights:
        report = try_read_warmup(tree.night_dir(night))
        for server in report.servers if report else []:
            preload = server.get("preload")
            if not isinstance(preload, dict) or preload.get("ok") is not True:
                continue
            seconds, job = preload.get("seconds"), preload.get("job")
            template = job_templates.get((night, job)) if isinstance(job, str) else None
            if template and isinstance(seconds, int | float) and seconds > 0:
                found[template].append(float(seconds))
    return found


def learn_costs(
    tree: Tree,
    templates: Intake | Mapping[str, Template],
    before_night: str | None = None,
    lookback_nights: int = DEFAULT_LOOKBACK_NIGHTS,
    *,
    now: datetime | None = None,
) -> CostModelDocument:
    """The cost model of the nights before `before_night`: a fit per template, version and
    endpoint, and the prior of every template in the registry (`templates`: the intake's
    workflows folder, or the templates by id)."""
    registry = templates.templates() if isinstance(templates, Intake) else templates
    nights = past_nights(tree, before_night, lookback_nights)
    scan = _scan(tree, nights)
    preloads = _warmup_seconds(tree, nights, scan.job_templates)
    priors = [
        template_prior(
            t.template_id,
            t.version,
            t.defaults,
            t.metadata.get("estimated_time"),
            preloads.get((t.template_id, t.version), []),
        )
        for _, t in sorted(registry.items())
    ]
    return CostModelDocument(
        fitted_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        before_night=before_night,
        lookback_nights=lookback_nights,
        nights=sorted({s.night for s in scan.samples}),
        entries=fit(scan.samples),
        priors=priors,
    )
