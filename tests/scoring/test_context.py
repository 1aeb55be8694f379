"""ScoreContext from a job: tokens, price as written, language, weights and their validation."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.creative_job.checks import SCORING_COMPONENTS
from nightrun_dagster.creative_job.errors import JobSpecInvalid
from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.intake.validate import Intake, validate_document
from nightrun_dagster.scoring.context import ScoreContext, context_from_job, format_price
from nightrun_dagster.scoring.weights import (
    DEFAULT_WEIGHTS,
    BadWeights,
    applied_weights,
    merge_weights,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "job_specs"


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def test_context_from_the_static_example() -> None:
    job = CreativeJob.model_validate(example("static_sdxl_ad.json"))
    ctx = context_from_job(job)
    assert (ctx.brand, ctx.product, ctx.price) == ("Verde", "Yerba Mate Verde 500 g", "$ 4.999")
    assert ctx.brand_colors == ("#146E46", "#FAF0D2", "#FF8C00")
    assert ctx.language == "es-AR"
    assert ctx.headline == "El mate de siempre, 2x1"
    assert dict(ctx.weights) == dict(DEFAULT_WEIGHTS)
    assert ctx.base_ui is None and ctx.mask is None


def test_numeric_price_is_written_as_the_job_wrote_it() -> None:
    doc = example("ui_anchored_ad.json")
    assert doc["product"]["price"] == 4999
    assert context_from_job(CreativeJob.model_validate(doc)).price == "4999"
    assert format_price(4999.5) == "4999.5"
    assert format_price("$ 12.999") == "$ 12.999"
    assert format_price(None) is None


def test_job_weights_override_the_defaults(tmp_path: Path) -> None:
    doc = example("static_sdxl_ad.json")
    doc["scoring"] = {"weights": {"text": 5, "sharpness": 0}}
    ctx = context_from_job(CreativeJob.model_validate(doc), base_ui=tmp_path / "ui.png")
    assert ctx.weights["text"] == 5.0 and ctx.weights["sharpness"] == 0.0
    assert ctx.weights["artifacts"] == DEFAULT_WEIGHTS["artifacts"]
    assert ctx.base_ui == tmp_path / "ui.png"
    # Contexts travel to pool workers, and stay hashable although weights are a mapping.
    assert pickle.loads(pickle.dumps(ctx)) == ctx
    assert hash(pickle.loads(pickle.dumps(ctx))) == hash(ctx)
    with pytest.raises(TypeError):
        ctx.weights["text"] = 1  # type: ignore[index]


def test_component_names_match_the_validation_constant() -> None:
    assert tuple(DEFAULT_WEIGHTS) == SCORING_COMPONENTS


@pytest.mark.parametrize(
    ("weights", "fields"),
    [
        ({"sharpnes": 1}, ["scoring.weights.sharpnes"]),
        ({"text": -1}, ["scoring.weights.text"]),
        ({"text": "2"}, ["scoring.weights.text"]),
        ({"text": True, "artifacts": 1}, ["scoring.weights.text"]),
        ({"text": None, "bogus": 2}, ["scoring.weights.text", "scoring.weights.bogus"]),
        ("heavy", ["scoring.weights"]),
    ],
)
def test_validation_rejects_bad_scoring_weights(
    weights: object, fields: list[str], intake: Intake
) -> None:
    doc = example("static_sdxl_ad.json")
    doc["scoring"] = {"weights": weights}
    with pytest.raises(JobSpecInvalid) as info:
        validate_document(doc, "job.json", intake)
    assert sorted(e.field for e in info.value.errors) == sorted(fields)


def test_validation_accepts_good_weights_and_rejects_a_non_object(intake: Intake) -> None:
    doc = example("static_sdxl_ad.json")
    good = copy.deepcopy(doc)
    good["scoring"] = {"weights": {"text": 3, "ui_integrity": 0, "temporal": 0.5}}
    validate_document(good, "job.json", intake)
    bad = copy.deepcopy(doc)
    bad["scoring"] = [1]
    with pytest.raises(JobSpecInvalid) as info:
        validate_document(bad, "job.json", intake)
    assert [e.field for e in info.value.errors] == ["scoring"]


def test_weights_checks_and_renormalization() -> None:
    with pytest.raises(BadWeights):
        merge_weights({"colour": 1})
    with pytest.raises(BadWeights):
        ScoreContext("B", "P", None, (), weights={"text": float("nan")})
    applied = applied_weights(DEFAULT_WEIGHTS, ["text", "sharpness"])
    assert applied == pytest.approx({"sharpness": 1 / 3, "text": 2 / 3})
    zero = applied_weights({"text": 0, "sharpness": 0}, ["text", "sharpness"])
    assert zero == {"sharpness": 0.5, "text": 0.5}
