"""Scoring rendered outputs: sharpness, OCR tokens, brand colour, UI SSIM, artifacts, flicker."""

from nightrun_dagster.scoring.context import ScoreContext, context_from_job, job_ui_assets
from nightrun_dagster.scoring.ocr_cache import OcrCache
from nightrun_dagster.scoring.pool import score_variants
from nightrun_dagster.scoring.score import SCORER_VERSION, score_file, score_files
from nightrun_dagster.scoring.variant import score_variant
from nightrun_dagster.scoring.weights import DEFAULT_WEIGHTS

__all__ = [
    "DEFAULT_WEIGHTS",
    "SCORER_VERSION",
    "OcrCache",
    "ScoreContext",
    "context_from_job",
    "job_ui_assets",
    "score_file",
    "score_files",
    "score_variant",
    "score_variants",
]
