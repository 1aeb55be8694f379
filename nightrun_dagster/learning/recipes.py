"""The recipe library: per product, the approved recipes (prompt, template, LoRAs, sampler
settings, seed) ranked by approvals then score, and every arm's approval record.

Written to `<root>/library/recipes.json` (plus a readable `recipes.md`); the document has no
timestamps, so building it again over the same nights gives the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from nightrun_dagster.expand.arms import lora_set, params_arm_key
from nightrun_dagster.expand.axes import LoraArm
from nightrun_dagster.learning.bandit import ArmStats, Reviewed, reviewed_jobs
from nightrun_dagster.store.atomic import atomic_write_bytes, dump_json
from nightrun_dagster.store.ops_docs import (
    RECIPES_MD,
    RecipeLibrary,
    try_read_recipe_library,
    write_recipe_library,
)
from nightrun_dagster.store.paths import Tree
from nightrun_dagster.store.variant_docs import try_read_score

LIBRARY_VERSION = 1
DEFAULT_TOP = 20  # recipes kept per product
UNKNOWN_PRODUCT = "unknown"


@dataclass
class _Recipe:
    recipe: dict[str, Any]
    arm: str | None
    approvals: int = 0
    favorites: int = 0
    best_score: float | None = None
    nights: set[str] = field(default_factory=set)
    jobs: set[str] = field(default_factory=set)
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Product:
    info: dict[str, Any]
    jobs: set[str] = field(default_factory=set)
    reviewed: int = 0  # job-nights with at least one decision
    shown: int = 0
    approved: int = 0
    recipes: dict[str, _Recipe] = field(default_factory=dict)
    arms: dict[str, ArmStats] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def library_dir(root: Path) -> Path:
    return Tree(Path(root)).library


def recipe_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """What reproduces a variant's look, from its params.json (the night and ids left out)."""
    template = params.get("template") or {}
    return {
        "prompt": params.get("prompt"),
        "negative": params.get("negative"),
        "template": {
            "id": template.get("id"),
            "version": template.get("version"),
            "sha256": template.get("sha256"),
            "model": template.get("model"),
        },
        "loras": [
            {"name": a.get("name"), "path": a.get("path"), "weight": a.get("weight")}
            for a in params.get("loras") or []
            if a.get("enabled")
        ],
        "sampler": params.get("sampler"),
        "steps": params.get("steps"),
        "cfg": params.get("cfg"),
        "denoise": params.get("denoise"),
        "controlnet": params.get("controlnet"),
        "seed": params.get("seed"),
        "width": params.get("width"),
        "height": params.get("height"),
    }


def recipe_id(recipe: Mapping[str, Any]) -> str:
    return hashlib.sha256(dump_json(recipe)).hexdigest()[:12]


def build_library(
    runs_dir: Path,
    until_night: str,
    *,
    lookback_nights: int | None = None,
    top: int = DEFAULT_TOP,
) -> dict[str, Any]:
    """The library over the reviewed nights up to `until_night` (included), all of them or the
    last `lookback_nights`. Products are keyed by SKU; recipes are ranked by approvals, then
    best score total, then id."""
    since = None
    if lookback_nights is not None:
        since = (date.fromisoformat(until_night) - timedelta(days=lookback_nights - 1)).isoformat()
    products: dict[str, _Product] = {}
    nights: set[str] = set()
    for job in reviewed_jobs(runs_dir, since, until_night):
        nights.add(job.night)
        sku = str(job.product.get("sku") or UNKNOWN_PRODUCT)
        product = products.setdefault(sku, _Product(_product_info(job.product, sku)))
        _add(product, job)
    return {
        "library_version": LIBRARY_VERSION,
        "since_night": since,
        "until_night": until_night,
        "reviewed_nights": sorted(nights),
        "products": {sku: _product_doc(p, top) for sku, p in sorted(products.items())},
    }


def write_library(folder: Path, library: Mapping[str, Any]) -> Path:
    """Write `recipes.json` and `recipes.md` into `folder` atomically; returns the JSON path."""
    path = write_recipe_library(folder, RecipeLibrary.model_validate(library))
    atomic_write_bytes(Path(folder) / RECIPES_MD, render_markdown(library).encode())
    return path


def read_library(folder: Path) -> dict[str, Any] | None:
    """The library as plain data (what `build_library` returns), or None when absent or
    damaged."""
    doc = try_read_recipe_library(folder)
    return doc.as_dict() if doc else None


def top_arms(library: Mapping[str, Any], limit: int = 10) -> list[dict[str, Any]]:
    """The best arms over all products, by posterior approval rate, then evidence."""
    rows = [
        {"sku": sku, **arm}
        for sku, product in library.get("products", {}).items()
        for arm in product.get("arms", [])
    ]
    rows.sort(key=lambda r: (-r["posterior_mean"], -r["shown"], r["sku"], r["arm"]))
    return rows[:limit]


def arm_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| product | arm | shown | approved | approval rate |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sku']} | {r['label']} | {r['shown']} | {r['approved']} "
            f"| {r['posterior_mean']:.0%} |"
        )
    return "\n".join(lines)


def render_markdown(library: Mapping[str, Any]) -> str:
    out = [f"# Recipe library (nights up to {library.get('until_night')})", ""]
    for sku, p in library.get("products", {}).items():
        out += [
            f"## {p.get('name') or sku} ({sku})",
            "",
            f"{p['approved']} approved of {p['shown']} shown over {p['reviewed']} reviewed "
            f"job-nights; jobs: {', '.join(p['jobs'])}.",
            "",
            "| # | approvals | score | template | LoRAs | sampler | steps | cfg | seed | prompt |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for n, r in enumerate(p["recipes"], 1):
            loras = ", ".join(f"{a['name']}@{a['weight']:g}" for a in r["loras"]) or "–"
            score = "–" if r["best_score"] is None else f"{r['best_score']:.3f}"
            prompt = str(r["prompt"]).replace("|", "/")
            out.append(
                f"| {n} | {r['approvals']} | {score} | {r['template']['id']} "
                f"{r['template']['version']} | {loras} | {r['sampler']} | {r['steps']} "
                f"| {r['cfg']} | {r['seed']} | {prompt} |"
            )
        out += ["", arm_table([{"sku": sku, **a} for a in p["arms"]]), ""]
    return "\n".join(out) + "\n"


def _product_info(product: Mapping[str, Any], sku: str) -> dict[str, Any]:
    return {"sku": sku, "name": product.get("name"), "brand": product.get("brand")}


def _add(product: _Product, job: Reviewed) -> None:
    product.jobs.add(job.job_key)
    product.reviewed += 1
    for vid, params in job.shown.items():
        approved = job.approved(vid)
        product.shown += 1
        product.approved += int(approved)
        arm = params_arm_key(params)
        if arm is not None:
            product.arms[arm] = product.arms.get(arm, ArmStats()) + ArmStats(1, int(approved))
            product.labels.setdefault(arm, _arm_label(params))
        if not approved:
            continue
        recipe = recipe_of(params)
        entry = product.recipes.setdefault(recipe_id(recipe), _Recipe(recipe, arm))
        entry.approvals += 1
        entry.favorites += int(job.decisions.get(vid) == "favorite")
        entry.nights.add(job.night)
        entry.jobs.add(job.job_key)
        score = _score_total(job, vid)
        if score is not None and (entry.best_score is None or score > entry.best_score):
            entry.best_score = score
        entry.examples.append(
            {"night": job.night, "job_key": job.job_key, "variant_id": vid, "score": score}
        )


def _product_doc(p: _Product, top: int) -> dict[str, Any]:
    ranked = sorted(
        p.recipes.items(),
        key=lambda kv: (
            -kv[1].approvals,
            -(kv[1].best_score if kv[1].best_score is not None else float("-inf")),
            kv[0],
        ),
    )
    arms = [
        {
            "arm": arm,
            "label": p.labels.get(arm, arm),
            "shown": s.shown,
            "approved": s.approved,
            "posterior_mean": round(s.posterior_mean, 4),
        }
        for arm, s in p.arms.items()
    ]
    arms.sort(key=lambda a: (-a["posterior_mean"], -a["shown"], a["arm"]))
    return {
        **p.info,
        "jobs": sorted(p.jobs),
        "reviewed": p.reviewed,
        "shown": p.shown,
        "approved": p.approved,
        "recipe_count": len(p.recipes),
        "recipes": [
            {
                "recipe_id": rid,
                "arm": r.arm,
                **r.recipe,
                "approvals": r.approvals,
                "favorites": r.favorites,
                "best_score": r.best_score,
                "nights_seen": len(r.nights),
                "nights": sorted(r.nights),
                "jobs": sorted(r.jobs),
                "examples": r.examples,
            }
            for rid, r in ranked[:top]
        ],
        "arms": arms,
    }


def _arm_label(params: Mapping[str, Any]) -> str:
    """`static_ad_v1 p2 style@0.7`: template, prompt position, LoRA set."""
    loras = [
        LoraArm(str(a.get("name")), "", float(w) if a.get("enabled") and w is not None else None)
        for a in params.get("loras") or []
        for w in [a.get("weight")]
    ]
    template = (params.get("template") or {}).get("id")
    return f"{template} p{int(params.get('prompt_index', 0)) + 1} {lora_set(loras)}"


def _score_total(job: Reviewed, variant_id: str) -> float | None:
    doc = try_read_score(job.job_dir.variant_dir(variant_id))
    return doc.total if doc else None
