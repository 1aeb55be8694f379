"""The data a contact sheet embeds: one row per variant, read from the job folder's JSON files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nightrun_dagster.store.models import document_data
from nightrun_dagster.store.paths import VariantDir
from nightrun_dagster.store.selection_docs import ShortlistPick, try_read_shortlist
from nightrun_dagster.store.variant_docs import (
    PARAMS,
    SCORE,
    RenderStatus,
    render_status,
    try_read_retention_marker,
)
from nightrun_dagster.store.variants_index import try_read_variants_index

# Order of the component bars and of the sort menu; components a scorer adds later still show,
# after these, in the order score.json lists them.
COMPONENTS = ("sharpness", "text", "brand_color", "ui_integrity", "artifacts", "temporal")

# Status of a variant, best first: rows are sorted by it whenever their sort value is missing.
STATUSES = ("scored", "unscored", "pending", "failed", "missing")


def _safe_rel(rel: Any) -> str | None:
    """A variant-relative output path, or None when it could point outside the variant folder:
    the page turns it into a link, and a sidecar is not trusted to stay inside its folder."""
    if not isinstance(rel, str) or not rel or rel.startswith(("/", "\\")):
        return None
    parts = rel.replace("\\", "/").split("/")
    if any(p in ("", ".", "..") for p in parts) or ":" in parts[0]:
        return None
    return "/".join(parts)


def _href(prefix: str, variant_id: str, rel: str) -> str:
    # Percent-encoded so a space or `#` in a file name still makes a working relative URL.
    return quote(f"{prefix}variants/{variant_id}/{rel}")


def _num(value: Any) -> float | None:
    # NaN and infinities (json.loads reads them) would make the embedded JSON invalid.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def weight_label(weight: Any) -> str:
    """`0.7`, `1.0`: the spelling the LoRA filter and the cards share."""
    w = _num(weight)
    return "?" if w is None else repr(round(w, 3))


def _components(raw: Any) -> dict[str, float | None]:
    """Component name -> its 0..1 score; None for a component the scorer did not apply."""
    if not isinstance(raw, dict):
        return {}
    out: dict[str, float | None] = {}
    for name in [*COMPONENTS, *(k for k in raw if k not in COMPONENTS)]:
        if name not in raw:
            continue
        value = raw[name]
        # score.json nests {"score": …, "raw": …}; a shortlist pick holds the bare number.
        out[name] = _num(value.get("score")) if isinstance(value, dict) else _num(value)
    return out


def variant_ids(job_dir: Path) -> list[str]:
    """The ids `variants/index.json` lists, or the variant folders when there is no index."""
    index = try_read_variants_index(job_dir)
    if index is not None:
        return [v for v in index.variants if _safe_rel(v) == v]
    root = job_dir / "variants"
    return sorted(p.name for p in root.glob("v*") if p.is_dir()) if root.is_dir() else []


def shortlist_picks(job_dir: Path) -> dict[str, ShortlistPick]:
    """Variant id -> its best-ranked pick in `selection/shortlisted.json` (empty when absent
    or unreadable)."""
    doc = try_read_shortlist(job_dir)
    picks: dict[str, ShortlistPick] = {}
    for pick in doc.picks if doc else []:
        held = picks.get(pick.variant_id)
        if held is None or pick.rank < held.rank:
            picks[pick.variant_id] = pick
    return picks


def _pruned(vdir: Path) -> dict[str, str | None]:
    """Output path (relative to the variant folder) -> when retention pruned it, for every file
    `meta/retention.json` lists and that is really gone."""
    marker = try_read_retention_marker(vdir)
    gone: dict[str, str | None] = {}
    for rel, entry in marker.files.items() if marker else ():
        if _safe_rel(rel) == rel and not (vdir / rel).is_file():
            gone[rel] = entry.pruned_at
    return gone


def _outputs(
    prefix: str, vid: str, vdir: Path, render: dict[str, Any], score: dict[str, Any] | None
) -> list[dict[str, Any]]:
    scored = {}
    if score and isinstance(score.get("outputs"), list):
        scored = {o.get("file"): o for o in score["outputs"] if isinstance(o, dict)}
    gone = _pruned(vdir)
    outs = []
    for item in render.get("outputs") or []:
        if not isinstance(item, dict) or (rel := _safe_rel(item.get("file"))) is None:
            continue
        kind = "video" if item.get("kind") == "video" else "image"
        pruned = rel in gone
        preview = _safe_rel(item.get("preview"))
        if preview is None or not (vdir / preview).is_file():
            # A still image is its own thumbnail (unless pruned); a video without its poster
            # gets none.
            preview = rel if kind == "image" and not pruned else None
        s = scored.get(item.get("file")) or {}
        out = {
            # A pruned output has no file to link to: the card says so instead.
            "file": None if pruned else _href(prefix, vid, rel),
            "thumb": _href(prefix, vid, preview) if preview else None,
            "kind": kind,
            "name": rel,
            "total": _num(s.get("total")),
            "components": _components(s.get("components")),
            # The scorer could not read this output (its total is then 0): say why.
            "error": str(s["error"]) if s.get("error") else None,
        }
        if pruned:  # only then: the page's data stays as small as before for everything else
            out |= {"pruned": True, "pruned_at": gone[rel]}
        outs.append(out)
    return outs


def _loras(raw: Any) -> list[dict[str, Any]]:
    loras = []
    for lora in raw if isinstance(raw, list) else []:
        if isinstance(lora, dict) and lora.get("enabled") and lora.get("name"):
            name = str(lora["name"])
            loras.append({"name": name, "weight": _num(lora.get("weight"))})
    return loras


def _row(job_dir: Path, vid: str, picks: dict[str, ShortlistPick], prefix: str) -> dict[str, Any]:
    variant = VariantDir(job_dir / "variants" / vid)
    vdir = variant.path
    params_doc, params_error = PARAMS.read_or_why(variant)
    score_doc, score_error = SCORE.read_or_why(variant)
    # Plain data from here: the page embeds what the files say, each value checked as it goes.
    params = params_doc.as_dict() if params_doc else {}
    score = document_data(score_doc) if score_doc else None
    render = params.get("render") if isinstance(params.get("render"), dict) else {}
    status = render_status(params)

    outputs = _outputs(prefix, vid, vdir, render, score) if status is RenderStatus.OK else []
    pick = picks.get(vid)
    # The card shows the output the shortlist picked, else the scorer's best, else the first.
    main = 0
    if pick and pick.file:
        main = next((i for i, o in enumerate(outputs) if o["name"] == pick.file), 0)
    elif score and isinstance(score.get("best"), int) and 0 <= score["best"] < len(outputs):
        main = score["best"]
    first = outputs[main] if outputs else None

    if not params:
        state, error = "missing", params_error or "meta/params.json is missing"
    elif status is RenderStatus.FAILED:
        state, error = "failed", str(render.get("error") or "render failed")
    elif status is not RenderStatus.OK:
        state, error = "pending", None
    elif not outputs:
        state, error = "failed", "render lists no outputs"
    elif score is None:
        state, error = "unscored", score_error
    else:
        state, error = "scored", None

    total = None
    components: dict[str, float | None] = {}
    if state == "scored" and first is not None:
        total = first["total"] if first["total"] is not None else _num(score.get("total"))
        components = first["components"]
        error = first["error"]

    raw_seed = params.get("seed")
    seed = raw_seed if isinstance(raw_seed, int) and not isinstance(raw_seed, bool) else None
    loras = _loras(params.get("loras"))
    controlnet = params.get("controlnet") if isinstance(params.get("controlnet"), dict) else None
    template = params.get("template") if isinstance(params.get("template"), dict) else {}
    return {
        "id": vid,
        "status": state,
        "error": error,
        "prompt": str(params.get("prompt") or ""),
        "prompt_index": params.get("prompt_index"),
        "negative": str(params.get("negative") or ""),
        "seed": seed,
        # Shown as text: a seed above 2**53 would lose digits as a JavaScript number.
        "seed_text": str(seed) if seed is not None else "?",
        "sampler": params.get("sampler"),
        "steps": params.get("steps"),
        "cfg": _num(params.get("cfg")),
        "denoise": _num(params.get("denoise")),
        "width": params.get("width"),
        "height": params.get("height"),
        "frames": params.get("frames"),
        "loras": loras,
        "lora_tags": [f"{lo['name']}@{weight_label(lo['weight'])}" for lo in loras],
        "controlnet": (
            f"{controlnet.get('type')}@{weight_label(controlnet.get('weight'))}"
            if controlnet
            else None
        ),
        "template": str(template.get("id") or "?"),
        "template_version": template.get("version"),
        "degrade_rung": render.get("degrade_rung"),
        "elapsed_s": _num(render.get("elapsed_s")),
        "total": total,
        "components": components,
        "outputs": outputs,
        "main": main,
        # Outputs retention removed (old night, not kept): scores and parameters stay.
        "pruned": sum(1 for o in outputs if o.get("pruned")),
        "rank": pick.rank if pick else None,
        "cluster": pick.cluster if pick else None,
        "reason": pick.reason if pick else None,
    }


def collect_rows(job_dir: Path, *, href_prefix: str = "") -> list[dict[str, Any]]:
    """One row per variant of `job_dir` (`runs/<night>/job_<key>/`), in variant order: its
    parameters, status (scored, unscored, pending, failed, missing), total and component scores
    of the output the card shows, shortlist rank, and every output with URLs relative to the
    page (`href_prefix` + `variants/…`); an output retention pruned has `pruned` set and no
    URL. Reads only; every value is JSON-serialisable."""
    picks = shortlist_picks(job_dir)
    return [_row(job_dir, vid, picks, href_prefix) for vid in variant_ids(job_dir)]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by status, shortlisted, pruned, templates and the best total of a job's rows."""
    counts = {s: 0 for s in STATUSES}
    for row in rows:
        counts[row["status"]] += 1
    totals = [r["total"] for r in rows if r["total"] is not None]
    return {
        "variants": len(rows),
        "rendered": counts["scored"] + counts["unscored"],
        **counts,
        "shortlisted": sum(1 for r in rows if r["rank"] is not None),
        "pruned": sum(1 for r in rows if r["pruned"]),
        "best": max(totals) if totals else None,
        "templates": sorted({r["template"] for r in rows}),
    }
