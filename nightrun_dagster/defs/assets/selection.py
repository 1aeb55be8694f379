"""Scoring and selection assets: `scores` and `shortlist` (night × job), `night_summary` (night)."""

from typing import Any

import dagster as dg
from pydantic import Field

from nightrun_dagster.contact.sheet import write_job_sheet
from nightrun_dagster.contact.summary import summarize_night
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.assets.required import variants_of
from nightrun_dagster.defs.partitions import job_partition, night_asset, night_job_asset
from nightrun_dagster.defs.resources import NightrunResource, TelegramResource
from nightrun_dagster.night.closing import job_cut_short
from nightrun_dagster.plan.inputs import load_snapshot
from nightrun_dagster.scoring.context import context_from_job
from nightrun_dagster.scoring.pool import score_variants
from nightrun_dagster.scoring.progress import ScoreProgress
from nightrun_dagster.selection.job import write_shortlist
from nightrun_dagster.selection.score_table import rendered_variants, write_score_table
from nightrun_dagster.selection.shortlist import DEFAULT_K, DEFAULT_N
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.telegram.summary import send_summary_once, summary_text

GROUP = "selection"
TABLE_ROWS = 15


class ScoresConfig(dg.Config):
    force: bool = Field(default=False, description="Score again even where score.json is current.")
    workers: int | None = Field(default=None, description="Scoring processes (default: all cores).")


class ShortlistConfig(dg.Config):
    k: int = Field(
        default=DEFAULT_K, description="Most picks per variant cluster / duplicate group."
    )
    n: int = Field(default=DEFAULT_N, description="Most picks overall.")


def _index(job_dir: JobDir) -> list[str]:
    return variants_of(job_dir).variants


def _md_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return "–" if v is None else str(v).replace("|", "/")

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)
    return head + "".join("\n| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows)


@night_job_asset(GROUP, deps=[renders], kinds={"python"})
def scores(
    context: dg.AssetExecutionContext, nightrun: NightrunResource, config: ScoresConfig
) -> dg.MaterializeResult:
    """Every rendered output scored 0..1 per component (sharpness, text legibility by OCR, brand
    colour, UI integrity, artifacts; temporal flicker for video) and a weighted total:
    `meta/score.json` per variant, `selection/scores.csv` and `selection/score_distribution.png`.
    Skips what is already scored unless `force`."""
    _, key, job_dir = job_partition(context, nightrun)
    ids = _index(job_dir)
    found = load_snapshot(job_dir, nightrun.intake())
    assets = job_dir.inputs / "assets"
    roles = found.template.metadata.get("nodes") or {}
    a = found.job.assets
    base_ui = (
        assets / a.base_ui_screens[0] if roles.get("base_image") and a.base_ui_screens else None
    )
    mask = assets / a.masks[0] if a.masks else None
    ctx = context_from_job(found.job, base_ui=base_ui, mask=mask)
    rendered = rendered_variants(job_dir, ids)
    score_variants(
        rendered,
        ctx,
        workers=config.workers,
        force=config.force,
        cache_dir=nightrun.tree().root / "cache" / "ocr",
        on_progress=ScoreProgress(context.log.info),
    )
    table = write_score_table(job_dir, ids, key)
    metadata: dict[str, Any] = {}
    if (cut := job_cut_short(job_dir)) is not None:
        metadata["cut_short"] = cut
        context.log.warning(f"{key}: {cut} Scoring the {len(rendered)} rendered.")
    return dg.MaterializeResult(
        metadata={
            **metadata,
            "scored": len(table.frame),
            "rendered": len(rendered),
            "mean_total": table.mean_total(),
            "best_total": table.best_total(),
            "top": dg.MetadataValue.md(
                _md_table(
                    table.top(TABLE_ROWS),
                    [
                        "variant_id",
                        "total",
                        "sharpness",
                        "text",
                        "brand_color",
                        "ui_integrity",
                        "artifacts",
                    ],
                )
            ),
            "distribution": dg.MetadataValue.md(
                f"![score distribution](data:image/png;base64,{table.png_base64()})"
            ),
            "table": dg.MetadataValue.path(str(table.csv)),
        }
    )


@night_job_asset(GROUP, deps=[scores], kinds={"json", "html"})
def shortlist(
    context: dg.AssetExecutionContext, nightrun: NightrunResource, config: ShortlistConfig
) -> dg.MaterializeResult:
    """The shortlist: best total first, at most K per variant cluster (prompt variant × LoRA
    arms) and per near-duplicate group (pHash), at most N overall. `selection/shortlisted.json`
    says each pick's rank, cluster and the components that put it there; `contact_sheet.html`
    shows every render with its scores."""
    night, key, job_dir = job_partition(context, nightrun)
    ids = _index(job_dir)
    found = load_snapshot(job_dir, nightrun.intake())
    try:
        result, doc = write_shortlist(
            job_dir, night, found.job.job_id, key, ids, config.k, config.n
        )
    except ValueError as exc:
        raise dg.Failure(str(exc)) from None
    sheet = write_job_sheet(job_dir.path)
    context.log.info(f"{key}: {len(result.picks)} picks from {doc.candidates} candidates")
    cut = job_cut_short(job_dir)
    return dg.MaterializeResult(
        metadata={
            **({"cut_short": cut} if cut else {}),
            "picks": len(result.picks),
            "candidates": doc.candidates,
            "clusters": len(doc.clusters),
            "skipped_cluster_full": doc.skipped.cluster_full,
            "skipped_near_duplicate": doc.skipped.near_duplicate,
            "shortlist": dg.MetadataValue.md(
                _md_table(
                    [p.model_dump(mode="json") for p in doc.picks],
                    ["rank", "variant_id", "total", "cluster", "reason"],
                )
            ),
            "contact_sheet": dg.MetadataValue.url(sheet.resolve().as_uri()),
            "path": dg.MetadataValue.path(str(job_dir.shortlisted)),
        }
    )


@night_asset(GROUP, deps=[shortlist], kinds={"json", "html"})
def night_summary(
    context: dg.AssetExecutionContext, nightrun: NightrunResource, telegram: TelegramResource
) -> dg.MaterializeResult:
    """The night at a glance: `runs/<night>/night_summary.json` (per job: variants, renders,
    failures, shortlist size, best score; `cut_short`: the circuit breaker that stopped the
    night, when, and how many variants it left) and `runs/<night>/contact_sheet.html` with every
    job's renders. Runs while a breaker is latched: it reports what was rendered."""
    night = context.partition_key
    try:
        report = summarize_night(nightrun.tree(), night)
    except FileNotFoundError as exc:
        raise dg.Failure(str(exc)) from None
    digest, sheet, cut = report.summary, report.sheet, report.summary.cut_short
    told = "not configured"
    if telegram.enabled():
        told = send_summary_once(
            telegram.token,
            telegram.review_chat_id,
            report.path.parent,
            summary_text(digest, sheet, report.cut_line),
            telegram.base_url,
            warn=context.log.warning,
        )
    extra: dict[str, Any] = {}
    if cut is not None:
        extra = {
            "cut_short": report.cut_line,
            "breaker": cut["breaker"],
            "tripped_at": cut["tripped_at"],
            "left": cut["left"],
        }
        context.log.warning(report.cut_line)
    return dg.MaterializeResult(
        metadata={
            **extra,
            **report.totals(),
            "summary": dg.MetadataValue.md(
                _md_table(
                    [j.model_dump(mode="json") for j in digest.jobs],
                    ["job", "variants", "rendered", "failed", "shortlisted", "best_total", "best"],
                )
            ),
            "contact_sheet": dg.MetadataValue.url(sheet.resolve().as_uri()),
            "telegram": told,
        }
    )
