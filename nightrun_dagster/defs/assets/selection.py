"""Scoring and selection assets: `scores` and `shortlist` (night × job), `night_summary` (night)."""

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from nightrun_dagster.contact.sheet import write_job_sheet, write_night_sheet
from nightrun_dagster.defs.assets.rendering import renders
from nightrun_dagster.defs.assets.required import required
from nightrun_dagster.defs.partitions import night_job_partitions, night_partitions, split_key
from nightrun_dagster.defs.resources import NightrunResource, TelegramResource
from nightrun_dagster.night.closing import cut_short, cut_short_line, job_cut_short
from nightrun_dagster.plan.inputs import load_snapshot
from nightrun_dagster.scoring.context import context_from_job
from nightrun_dagster.scoring.pool import score_variants
from nightrun_dagster.scoring.progress import ScoreProgress
from nightrun_dagster.selection.job import write_shortlist
from nightrun_dagster.selection.report import distribution_png, scores_frame, write_csv
from nightrun_dagster.selection.shortlist import DEFAULT_K, DEFAULT_N
from nightrun_dagster.store.atomic import atomic_write_bytes, atomic_write_json
from nightrun_dagster.store.night_records import JobDigest, NightSummary, write_night_summary
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.selection_docs import ShortlistDocument, read_shortlist
from nightrun_dagster.store.variant_state import RenderStatus, render_status
from nightrun_dagster.store.variants_index import read_variants_index
from nightrun_dagster.telegram.redact import TelegramFailure
from nightrun_dagster.telegram.send import send_text

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
    return required(
        lambda: read_variants_index(job_dir), job_dir.variants_index, "variants"
    ).variants


def _md_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return "–" if v is None else str(v).replace("|", "/")

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)
    return head + "".join("\n| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows)


@dg.asset(
    group_name=GROUP,
    partitions_def=night_job_partitions,
    deps=[renders],
    kinds={"python"},
    description=(
        "Every rendered output scored 0..1 per component (sharpness, text legibility by OCR, "
        "brand colour, UI integrity, artifacts; temporal flicker for video) and a weighted "
        "total: `meta/score.json` per variant, `selection/scores.csv` and "
        "`selection/score_distribution.png`. Skips what is already scored unless `force`."
    ),
)
def scores(
    context: dg.AssetExecutionContext, nightrun: NightrunResource, config: ScoresConfig
) -> dg.MaterializeResult:
    night, key = split_key(context)
    job_dir = nightrun.tree().job(night, key)
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
    rendered = [
        job_dir.variant(v)
        for v in ids
        if render_status(json.loads(job_dir.params(v).read_bytes())) is RenderStatus.OK
    ]
    score_variants(
        rendered,
        ctx,
        workers=config.workers,
        force=config.force,
        cache_dir=nightrun.tree().root / "cache" / "ocr",
        on_progress=ScoreProgress(context.log.info),
    )
    frame = scores_frame(job_dir, ids)
    write_csv(frame, job_dir.selection / "scores.csv")
    png = distribution_png(frame, key)
    atomic_write_bytes(job_dir.selection / "score_distribution.png", png)
    top = frame.head(TABLE_ROWS).to_dict("records")
    stats = frame["total"].describe() if len(frame) else None
    metadata: dict[str, Any] = {}
    if (cut := job_cut_short(job_dir)) is not None:
        metadata["cut_short"] = cut
        context.log.warning(f"{key}: {cut} Scoring the {len(rendered)} rendered.")
    return dg.MaterializeResult(
        metadata={
            **metadata,
            "scored": len(frame),
            "rendered": len(rendered),
            "mean_total": round(float(stats["mean"]), 4) if stats is not None else 0.0,
            "best_total": round(float(stats["max"]), 4) if stats is not None else 0.0,
            "top": dg.MetadataValue.md(
                _md_table(
                    top,
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
                f"![score distribution](data:image/png;base64,{base64.b64encode(png).decode()})"
            ),
            "table": dg.MetadataValue.path(str(job_dir.selection / "scores.csv")),
        }
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=night_job_partitions,
    deps=[scores],
    kinds={"json", "html"},
    description=(
        "The shortlist: best total first, at most K per variant cluster (prompt variant × LoRA "
        "arms) and per near-duplicate group (pHash), at most N overall. "
        "`selection/shortlisted.json` says each pick's rank, cluster and the components that put "
        "it there; `contact_sheet.html` shows every render with its scores."
    ),
)
def shortlist(
    context: dg.AssetExecutionContext, nightrun: NightrunResource, config: ShortlistConfig
) -> dg.MaterializeResult:
    night, key = split_key(context)
    job_dir = nightrun.tree().job(night, key)
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


def night_digest(night_dir: Path) -> NightSummary:
    """Counts and best picks of every job of a night, from the files in its folder."""
    jobs = []
    for job_path in sorted(night_dir.glob("job_*")):
        jd = JobDir(job_path)
        index = read_variants_index(jd) if jd.variants_index.is_file() else None
        short = read_shortlist(jd) if jd.shortlisted.is_file() else ShortlistDocument()
        rendered = failed = 0
        for vid in index.variants if index else []:
            status = render_status(json.loads(jd.params(vid).read_bytes()))
            rendered += status is RenderStatus.OK
            failed += status is RenderStatus.FAILED
        picks = short.picks
        jobs.append(
            JobDigest(
                job=job_path.name.removeprefix("job_"),
                variants=index.count if index else 0,
                rendered=rendered,
                failed=failed,
                blocked=jd.blocked.is_file(),
                shortlisted=len(picks),
                best_total=picks[0].total if picks else None,
                best=picks[0].variant_id if picks else None,
            )
        )
    return NightSummary(night=night_dir.name, jobs=jobs)


@dg.asset(
    group_name=GROUP,
    partitions_def=night_partitions,
    deps=[shortlist],
    kinds={"json", "html"},
    description=(
        "The night at a glance: `runs/<night>/night_summary.json` (per job: variants, renders, "
        "failures, shortlist size, best score; `cut_short`: the circuit breaker that stopped the "
        "night, when, and how many variants it left) and `runs/<night>/contact_sheet.html` with "
        "every job's renders. Runs while a breaker is latched: it reports what was rendered."
    ),
)
def night_summary(
    context: dg.AssetExecutionContext, nightrun: NightrunResource, telegram: TelegramResource
) -> dg.MaterializeResult:
    night = context.partition_key
    night_dir = nightrun.tree().night(night)
    if not night_dir.is_dir():
        raise dg.Failure(f"{night_dir} does not exist: nothing ran on night {night}")
    digest = night_digest(night_dir)
    digest.cut_short = cut = cut_short(nightrun.tree(), night)
    write_night_summary(night_dir, digest)
    sheet = write_night_sheet(night_dir)
    told = tell_telegram(telegram, night_dir, digest, sheet, context.log)
    extra: dict[str, Any] = {}
    if cut is not None:
        extra = {
            "cut_short": cut_short_line(cut),
            "breaker": cut["breaker"],
            "tripped_at": cut["tripped_at"],
            "left": cut["left"],
        }
        context.log.warning(cut_short_line(cut))
    return dg.MaterializeResult(
        metadata={
            **extra,
            "jobs": len(digest.jobs),
            "rendered": sum(j.rendered for j in digest.jobs),
            "failed": sum(j.failed for j in digest.jobs),
            "shortlisted": sum(j.shortlisted for j in digest.jobs),
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


def summary_text(digest: NightSummary, sheet: Path) -> str:
    """One message for the whole night: counts, best scores, failures, where to look."""
    jobs = digest.jobs
    lines = [
        f"Night {digest.night}: {sum(j.rendered for j in jobs)} renders, "
        f"{sum(j.failed for j in jobs)} failed, {sum(j.shortlisted for j in jobs)} "
        f"shortlisted across {len(jobs)} jobs"
    ]
    for j in jobs:
        best = f"best {j.best_total:.2f} ({j.best})" if j.best_total is not None else "no pick"
        flag = " BLOCKED" if j.blocked else ""
        lines.append(
            f"• {j.job}{flag}: {j.rendered}/{j.variants} rendered, "
            f"{j.failed} failed, {j.shortlisted} shortlisted, {best}"
        )
    if digest.cut_short:
        lines.insert(1, "⛔ " + cut_short_line(digest.cut_short))
    lines.append(f"Contact sheet: {sheet}")
    return "\n".join(lines)[:4000]


def tell_telegram(
    telegram: TelegramResource, night_dir: Path, digest: NightSummary, sheet: Path, log: Any
) -> str:
    """Send the night's summary once per distinct summary; say what happened."""
    if not telegram.enabled():
        return "not configured"
    text = summary_text(digest, sheet)
    stamp = night_dir / "telegram_summary.json"
    key = hashlib.sha256(text.encode()).hexdigest()
    if stamp.is_file() and json.loads(stamp.read_bytes()).get("sha256") == key:
        return "already sent"
    try:
        message_id = send_text(telegram.token, telegram.review_chat_id, text, telegram.base_url)
    except TelegramFailure as exc:  # scrubbed of the token; the summary is not worth a failure
        log.warning(f"night summary not sent to Telegram: {exc}")
        return f"failed: {exc}"
    atomic_write_json(stamp, {"sha256": key, "message_id": message_id})
    return "sent"
