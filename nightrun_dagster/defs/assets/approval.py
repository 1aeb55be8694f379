"""Approval assets: `telegram_review` sends the shortlist, `approvals` folds the decisions,
`publish_packages` builds what was approved (all night × job)."""

from typing import Any

import dagster as dg

from nightrun_dagster.defs.assets.required import required
from nightrun_dagster.defs.assets.selection import shortlist
from nightrun_dagster.defs.partitions import job_partition, night_job_asset
from nightrun_dagster.defs.resources import NightrunResource, TelegramResource
from nightrun_dagster.night.closing import job_cut_short
from nightrun_dagster.plan.inputs import load_snapshot
from nightrun_dagster.publish.package import build_package
from nightrun_dagster.selection.review import record_approvals
from nightrun_dagster.store.models import DocumentError
from nightrun_dagster.store.paths import JobDir
from nightrun_dagster.store.selection_docs import (
    ShortlistDocument,
    read_approvals,
    read_shortlist,
)
from nightrun_dagster.store.telegram_docs import telegram_sent_path
from nightrun_dagster.telegram.originals import send_originals
from nightrun_dagster.telegram.redact import TelegramFailure
from nightrun_dagster.telegram.send import send_shortlist

GROUP = "approval"


def _shortlist_doc(job_dir: JobDir) -> ShortlistDocument:
    return required(lambda: read_shortlist(job_dir), job_dir.shortlisted, "shortlist")


@night_job_asset(GROUP, deps=[shortlist], kinds={"telegram"})
def telegram_review(
    context: dg.AssetExecutionContext, nightrun: NightrunResource, telegram: TelegramResource
) -> dg.MaterializeResult:
    """The shortlist sent to the review chat: preview albums, then one message per candidate with
    signed ✅ Approve / ⭐ Favorite / ❌ Reject buttons, after a note when a circuit breaker cut the
    job's night short. Sent once per shortlist (`selection/telegram_sent.json`). Needs
    TELEGRAM_BOT_TOKEN, NIGHTRUN_SIGNING_KEY and TELEGRAM_REVIEW_CHAT_ID."""
    _, _, job_dir = job_partition(context, nightrun)
    _shortlist_doc(job_dir)
    if not telegram.enabled():
        raise dg.Failure(
            "Telegram is not configured: set TELEGRAM_BOT_TOKEN, NIGHTRUN_SIGNING_KEY and "
            "TELEGRAM_REVIEW_CHAT_ID (or approve with `nightrun approve`)"
        )
    cut = job_cut_short(job_dir)  # the reviewers hear the night was cut short, first
    try:
        report = send_shortlist(
            telegram.token,
            telegram.review_chat_id,
            job_dir.path,
            signing_key=telegram.signing_key,
            base_url=telegram.base_url,
            ttl_s=int(telegram.review_days * 86400),
            per_message_delay=telegram.per_message_delay_s,
            note=cut,
        )
    except TelegramFailure as exc:  # its text is already free of the token
        raise dg.Failure(f"sending to Telegram failed: {exc}") from None
    return dg.MaterializeResult(
        metadata={
            **({"cut_short": cut} if cut else {}),
            "candidates": len(report.candidates),
            "already_sent": report.already_sent,
            "messages_sent": report.messages_sent,
            "retries": report.retries,
            "path": dg.MetadataValue.path(str(telegram_sent_path(job_dir))),
        }
    )


@night_job_asset(GROUP, deps=[shortlist, telegram_review], kinds={"json"})
def approvals(
    context: dg.AssetExecutionContext, nightrun: NightrunResource, telegram: TelegramResource
) -> dg.MaterializeResult:
    """Decisions folded from the append-only `selection/decisions.jsonl` (Telegram and `nightrun
    approve`): each shortlisted artifact's state (shortlisted → awaiting_approval → approved |
    rejected | archived) and `selection/approved.json` with the approval log. With Telegram
    configured, the full-resolution original of each approved or favorited candidate goes to the
    review chat as a file, once per decision (`selection/originals_sent.json`)."""
    night, key, job_dir = job_partition(context, nightrun)
    short = _shortlist_doc(job_dir)
    try:
        doc = record_approvals(job_dir, night, key, short, telegram.review_days)
    except DocumentError as exc:
        raise dg.Failure(str(exc)) from None
    originals = _send_originals(context, job_dir, telegram)
    rows = "\n".join(f"| {a.variant_id} | {a.decision} | {a.by} | {a.at} |" for a in doc.approved)
    return dg.MaterializeResult(
        metadata={
            "approved": len(doc.approved),
            "states": dg.MetadataValue.json(doc.counts),
            "approved_list": dg.MetadataValue.md(
                "| variant | decision | by | at |\n|---|---|---|---|\n" + rows
            ),
            "path": dg.MetadataValue.path(str(job_dir.approved)),
            **originals,
        }
    )


def _send_originals(
    context: dg.AssetExecutionContext, job_dir: JobDir, telegram: TelegramResource
) -> dict[str, Any]:
    """Originals of approved candidates, sent here rather than in the sensor tick (an upload per
    tap does not fit a tick). A failure is a warning: packages need no Telegram, and the next
    run sends what is still missing."""
    if not telegram.enabled():
        return {}
    try:
        report = send_originals(
            telegram.token,
            job_dir.path,
            base_url=telegram.base_url,
            per_message_delay=telegram.per_message_delay_s,
        )
    except TelegramFailure as exc:  # its text is already free of the token
        context.log.warning(f"originals not all sent (the next run sends the rest): {exc}")
        return {"originals_failed": str(exc)}
    for art, why in report.missing.items():
        context.log.warning(f"original of {art} not sent: {why}")
    return {
        "originals_sent": len(report.sent),
        "originals_sent_before": report.already_sent,
        "originals_missing": len(report.missing),
    }


@night_job_asset(GROUP, deps=[approvals], kinds={"png", "mp4"})
def publish_packages(
    context: dg.AssetExecutionContext, nightrun: NightrunResource
) -> dg.MaterializeResult:
    """A publish package per approved artifact in `publish/<variant>/`: the job's placements
    cropped content-aware to exact sizes (1080×1350, 1080×1920, 1080×1080; MP4 for video),
    `caption.txt`, a manual publish `checklist.md` and `manifest.json` with SHA-256 of every file
    and the reproduction parameters."""
    _, _, job_dir = job_partition(context, nightrun)
    approved = required(lambda: read_approvals(job_dir), job_dir.approved, "approvals").approved
    found = load_snapshot(job_dir, nightrun.intake())
    built = []
    for entry in approved:
        # Only the keys the file holds: the package's input hash covers the approval as written.
        approval = entry.model_dump(mode="json", exclude_unset=True)
        folder = build_package(job_dir.path, entry.variant_id, found.job, approval=approval)
        built.append(folder)
        context.log.info(f"package {entry.variant_id}: {folder}")
    return dg.MaterializeResult(
        metadata={
            "packages": len(built),
            "folders": dg.MetadataValue.json([str(p) for p in built]),
            "path": dg.MetadataValue.path(str(job_dir.publish)),
        }
    )
