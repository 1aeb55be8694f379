"""Checks beyond the JSON Schema: keys, dates, colours, paths inside their roots, ranges."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath, PureWindowsPath

from nightrun_dagster.creative_job.limits import MAX_SEED, SpecLimits, deep_search
from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.creative_job.slug import BadJobId, job_key

_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
WEIGHT_RANGE = (0.0, 2.0)
# The scorer's component names, listed here so validation never imports the scoring room;
# tests/scoring checks that they equal the keys of scoring's DEFAULT_WEIGHTS.
SCORING_COMPONENTS = ("sharpness", "text", "brand_color", "ui_integrity", "artifacts", "temporal")


# The asset lists a template's LoadImage roles read, with how an error names each image.
IMAGE_ASSETS = {"product_images": "a product image", "base_ui_screens": "a base UI screen"}


@dataclass(frozen=True)
class TemplateFacts:
    """What the checks need to know of one good template (the spec room reads no template)."""

    file_name: str  # inside the workflows folder
    # asset list (a key of IMAGE_ASSETS) -> the node that loads its first file: "node 3, LoadImage"
    loads: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckContext:
    """Where a job's relative paths point and which workflow templates exist."""

    assets_root: Path
    workflows_dir: Path
    templates: Mapping[str, TemplateFacts]  # by template id
    limits: SpecLimits = field(default_factory=SpecLimits)
    # template id -> why jobs naming it cannot render ("workflows/foo.json is broken: …")
    broken: Mapping[str, str] = field(default_factory=dict)


Problem = tuple[str, str]  # (field, reason)


def semantic_problems(job: CreativeJob, ctx: CheckContext) -> list[Problem]:
    """Every problem the schema cannot express, as (field, reason) pairs."""
    return [
        *_identity(job),
        *_product(job),
        *_platforms(job),
        *_assets(job, ctx.assets_root),
        *_workflow(job, ctx),
        *_template_inputs(job, ctx),
        *_seeds(job),
        *_sweep_values(job),
        *_extensions(job, ctx.limits),
    ]


def _identity(job: CreativeJob) -> Iterator[Problem]:
    try:
        job_key(job.job_id)
    except BadJobId as exc:
        yield "job_id", str(exc)
    try:
        datetime.fromisoformat(job.created_at)
    except ValueError:
        yield "created_at", f"{job.created_at!r} is not an ISO-8601 date or date-time"


def _product(job: CreativeJob) -> Iterator[Problem]:
    for i, colour in enumerate(job.product.brand_colors or []):
        if not _HEX.match(colour):
            yield f"product.brand_colors[{i}]", f"{colour!r} is not a HEX colour like #1A2B3C"


def _platforms(job: CreativeJob) -> Iterator[Problem]:
    if not job.platforms:
        yield "platforms", "must list at least one placement"


def relative_path_problem(raw: str) -> str | None:
    """Why `raw` cannot be a path relative to an allowed root, or None if it can."""
    if not raw.strip():
        return "is empty"
    if raw.startswith(("/", "\\")) or PureWindowsPath(raw).drive:
        return f"{raw!r} is absolute; paths must be relative to their root"
    if ".." in PurePosixPath(raw.replace("\\", "/")).parts:
        return f"{raw!r} contains '..'; paths may not leave their root"
    return None


def contained_file_problem(raw: str, root: Path, what: str) -> str | None:
    """Why `raw` is not an existing file inside `root` (symlinks resolved), or None."""
    problem = relative_path_problem(raw)
    if problem:
        return problem
    resolved_root = root.resolve()
    target = (resolved_root / raw).resolve()
    if not target.is_relative_to(resolved_root):
        return f"{raw!r} resolves to {target}, outside the {what} {resolved_root}"
    if not target.is_file():
        return f"{raw!r} does not exist in the {what} {resolved_root}"
    return None


def _assets(job: CreativeJob, root: Path) -> Iterator[Problem]:
    a = job.assets
    lists = {
        "product_images": a.product_images,
        "base_ui_screens": a.base_ui_screens,
        "masks": a.masks,
        "style_refs": a.style_refs,
    }
    for name, paths in lists.items():
        for i, raw in enumerate(paths or []):
            problem = contained_file_problem(raw, root, "assets root")
            if problem:
                yield f"assets.{name}[{i}]", problem
    if a.logo is not None:
        problem = contained_file_problem(a.logo, root, "assets root")
        if problem:
            yield "assets.logo", problem


def _workflow(job: CreativeJob, ctx: CheckContext) -> Iterator[Problem]:
    wf = job.generation.workflow
    facts = ctx.templates.get(wf.template_id)
    broken = ctx.broken.get(wf.template_id)
    if broken is not None:
        yield "generation.workflow.template_id", broken
    elif facts is None:
        known = ", ".join(sorted(ctx.templates)) or "none"
        yield (
            "generation.workflow.template_id",
            f"unknown workflow template {wf.template_id!r} (known: {known})",
        )
    problem = relative_path_problem(wf.workflow_path)
    if problem:
        yield "generation.workflow.workflow_path", problem
        return
    # People write the bare file name, a path from the project root (workflows/x.json) or the
    # seed's marketing/comfy/workflows/x.json: the file name is what names the template.
    name = PurePosixPath(wf.workflow_path.replace("\\", "/")).name
    if facts is not None:
        if name != facts.file_name:
            yield (
                "generation.workflow.workflow_path",
                f"{wf.workflow_path!r} is not the file of template {wf.template_id!r} "
                f"({facts.file_name!r})",
            )
        return
    if broken is not None:
        return  # the template_id error already says what is wrong with that file
    owner = next((tid for tid, f in ctx.templates.items() if f.file_name == name), None)
    if owner is not None:
        reason = f"{name!r} is the file of template {owner!r}, not of {wf.template_id!r}"
    else:
        reason = f"no file {name!r} in the workflows folder {ctx.workflows_dir}"
    yield "generation.workflow.workflow_path", reason


def _template_inputs(job: CreativeJob, ctx: CheckContext) -> Iterator[Problem]:
    """Image lists the job leaves empty although its template (or its inputs_map) loads one."""
    wf = job.generation.workflow
    facts = ctx.templates.get(wf.template_id)
    if facts is None:
        return
    for asset_list, what in IMAGE_ASSETS.items():
        if getattr(job.assets, asset_list):
            continue
        field_name = f"assets.{asset_list}"
        node = facts.loads.get(asset_list)
        if node is not None:
            yield (
                field_name,
                f"template {wf.template_id} loads {what} ({node}); list one in {field_name}",
            )
            continue
        reads = sorted(k for k in wf.inputs_map or {} if _reads(k, field_name))
        if reads:
            yield (
                field_name,
                f"generation.workflow.inputs_map reads {reads[0]}; list one in {field_name}",
            )


def _reads(path: str, field_name: str) -> bool:
    return path == field_name or path.startswith((field_name + "[", field_name + "."))


def _seeds(job: CreativeJob) -> Iterator[Problem]:
    s = job.generation.seed_strategy
    base = "generation.seed_strategy"
    for name in ("seed", "seed_start"):
        value = getattr(s, name)
        if value is not None and not 0 <= value <= MAX_SEED:
            yield f"{base}.{name}", f"must be between 0 and {MAX_SEED}, got {value}"
    if s.count is not None and s.count < 1:
        yield f"{base}.count", f"must be at least 1, got {s.count}"
    if (
        s.mode == "sequence"
        and s.seed_start is not None
        and s.count is not None
        and s.count >= 1
        and s.seed_start + s.count - 1 > MAX_SEED
    ):
        yield f"{base}.count", f"seed_start + count runs past the largest seed {MAX_SEED}"


def _sweep_values(job: CreativeJob) -> Iterator[Problem]:
    v = job.generation.variants
    base = "generation.variants"
    for name in (
        "prompt_variants",
        "negative_variants",
        "loras",
        "samplers",
        "steps",
        "cfg",
        "denoise",
        "controlnet",
    ):
        value = getattr(v, name)
        if value is not None and len(value) == 0:
            yield f"{base}.{name}", "is empty; omit it to use the template's default"
    for i, text in enumerate(v.prompt_variants or []):
        if not text.strip():
            yield f"{base}.prompt_variants[{i}]", "is blank"
    for i, name in enumerate(v.samplers or []):
        if not name.strip():
            yield f"{base}.samplers[{i}]", "is blank"
    for i, steps in enumerate(v.steps or []):
        if steps < 1:
            yield f"{base}.steps[{i}]", f"must be at least 1, got {steps}"
    for i, cfg in enumerate(v.cfg or []):
        if not 0 < cfg <= 100:
            yield f"{base}.cfg[{i}]", f"must be above 0 and at most 100, got {cfg}"
    for i, d in enumerate(v.denoise or []):
        if not 0 < d <= 1:
            yield f"{base}.denoise[{i}]", f"must be above 0 and at most 1, got {d}"
    for i, lora in enumerate(v.loras or []):
        problem = relative_path_problem(lora.path)
        if problem:
            yield f"{base}.loras[{i}].path", problem
        if lora.weights is not None and not lora.weights:
            yield f"{base}.loras[{i}].weights", "is empty; omit it to use the default weights"
        yield from _weights(f"{base}.loras[{i}].weights", lora.weights or [])
    for i, cn in enumerate(v.controlnet or []):
        if not cn.weights:
            yield f"{base}.controlnet[{i}].weights", "must list at least one weight"
        yield from _weights(f"{base}.controlnet[{i}].weights", cn.weights)


def _weights(field_name: str, weights: list[float]) -> Iterator[Problem]:
    lo, hi = WEIGHT_RANGE
    for j, w in enumerate(weights):
        if not lo <= w <= hi:
            yield f"{field_name}[{j}]", f"must be between {lo:g} and {hi:g}, got {w}"


def _extensions(job: CreativeJob, limits: SpecLimits) -> Iterator[Problem]:
    extra = job.generation.model_extra or {}
    if "deep_search" in extra and not isinstance(extra["deep_search"], bool):
        yield "generation.deep_search", f"must be true or false, got {extra['deep_search']!r}"
    if "max_variants" in extra:
        value = extra["max_variants"]
        ceiling = limits.deep_search_ceiling if deep_search(job) else limits.cap
        if isinstance(value, bool) or not isinstance(value, int):
            yield "generation.max_variants", f"must be an integer, got {value!r}"
        elif not 1 <= value <= ceiling:
            hint = "" if deep_search(job) else " (set generation.deep_search to true to go higher)"
            yield "generation.max_variants", f"must be between 1 and {ceiling}, got {value}{hint}"
    yield from _scoring_weights(job.model_extra or {})


def _scoring_weights(extra: Mapping[str, object]) -> Iterator[Problem]:
    """The job extension `"scoring": {"weights": {component: weight ≥ 0, …}}`."""
    weights: Mapping[str, object] = extra
    path = ("scoring", "weights")
    for depth, key in enumerate(path, 1):
        if key not in weights:
            return  # left out: the default weights
        level = weights[key]
        if not isinstance(level, dict):
            yield ".".join(path[:depth]), f"must be an object, got {level!r}"
            return
        weights = level
    for name, value in weights.items():
        if name not in SCORING_COMPONENTS:
            known = ", ".join(SCORING_COMPONENTS)
            yield f"scoring.weights.{name}", f"unknown scoring component (known: {known})"
        elif isinstance(value, bool) or not isinstance(value, int | float):
            yield f"scoring.weights.{name}", f"must be a number, got {value!r}"
        elif not math.isfinite(value) or value < 0:
            yield f"scoring.weights.{name}", f"must be a finite number of at least 0, got {value}"
