"""Parity between the seed's JSON Schema v1, the pydantic `CreativeJob` model and the schema
generated from that model.

The corpus under tests/data/jobs/schema_corpus/{valid,invalid}/ holds small, realistic job
documents. For every one of them the seed schema (copied verbatim to
tests/data/jobs/seed_schema_v1.json), the model and the generated schema must agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.creative_job.schema import creative_job_json_schema

REPO_ROOT = Path(__file__).resolve().parents[2]
JOBS_DATA = REPO_ROOT / "tests" / "data" / "jobs"
SEED_SCHEMA_PATH = JOBS_DATA / "seed_schema_v1.json"
CORPUS = JOBS_DATA / "schema_corpus"
COMMITTED_SCHEMA_PATH = REPO_ROOT / "job_specs" / "creative_job.schema.json"

CORPUS_FILES = sorted(CORPUS.glob("valid/*.json")) + sorted(CORPUS.glob("invalid/*.json"))


def _case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def seed_validator() -> Draft202012Validator:
    schema = _load(SEED_SCHEMA_PATH)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.fixture(scope="module")
def generated_validator() -> Draft202012Validator:
    schema = creative_job_json_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _seed_errors(validator: Draft202012Validator, doc: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def test_corpus_is_large_enough() -> None:
    valid = list(CORPUS.glob("valid/*.json"))
    invalid = list(CORPUS.glob("invalid/*.json"))
    assert valid, "schema_corpus/valid is empty"
    assert invalid, "schema_corpus/invalid is empty"
    assert len(valid) + len(invalid) >= 40, (len(valid), len(invalid))
    # Nothing else may hide in the corpus (a typo'd folder would silently drop cases).
    stray = [p for p in CORPUS.rglob("*") if p.is_file() and p not in set(valid) | set(invalid)]
    assert not stray, f"files outside valid/ and invalid/: {stray}"


@pytest.mark.parametrize("path", CORPUS_FILES, ids=_case_id)
def test_corpus_folder_matches_seed_schema(
    path: Path, seed_validator: Draft202012Validator
) -> None:
    """Guards the corpus itself: the folder a document sits in is the seed schema's verdict."""
    doc = _load(path)
    errors = _seed_errors(seed_validator, doc)
    expected_valid = path.parent.name == "valid"
    if expected_valid:
        assert not errors, f"{_case_id(path)} is in valid/ but the seed schema rejects it: {errors}"
    else:
        assert errors, f"{_case_id(path)} is in invalid/ but the seed schema accepts it"


@pytest.mark.parametrize("path", CORPUS_FILES, ids=_case_id)
def test_model_agrees_with_seed_schema(path: Path, seed_validator: Draft202012Validator) -> None:
    doc = _load(path)
    seed_errors = _seed_errors(seed_validator, doc)
    try:
        CreativeJob.model_validate(doc)
    except ValidationError as exc:
        model_error: str | None = str(exc)
    else:
        model_error = None

    if seed_errors:
        assert model_error is not None, (
            f"{_case_id(path)}: the seed schema rejects it ({seed_errors}) "
            "but CreativeJob.model_validate accepts it"
        )
    else:
        assert model_error is None, (
            f"{_case_id(path)}: the seed schema accepts it "
            f"but CreativeJob.model_validate rejects it:\n{model_error}"
        )


@pytest.mark.parametrize("path", CORPUS_FILES, ids=_case_id)
def test_generated_schema_agrees_with_seed_schema(
    path: Path,
    seed_validator: Draft202012Validator,
    generated_validator: Draft202012Validator,
) -> None:
    doc = _load(path)
    seed_ok = seed_validator.is_valid(doc)
    generated_errors = _seed_errors(generated_validator, doc)
    if seed_ok:
        assert not generated_errors, (
            f"{_case_id(path)}: the seed schema accepts it "
            f"but creative_job_json_schema() rejects it: {generated_errors}"
        )
    else:
        assert generated_errors, (
            f"{_case_id(path)}: the seed schema rejects it "
            "but creative_job_json_schema() accepts it"
        )


def test_generated_schema_is_valid_draft_2020_12() -> None:
    schema = creative_job_json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert set(schema["required"]) == set(_load(SEED_SCHEMA_PATH)["required"])


def test_committed_schema_file_is_up_to_date() -> None:
    assert COMMITTED_SCHEMA_PATH.is_file(), (
        f"{COMMITTED_SCHEMA_PATH.relative_to(REPO_ROOT)} is missing; generate it with: "
        "nightrun schema > job_specs/creative_job.schema.json"
    )
    committed = json.loads(COMMITTED_SCHEMA_PATH.read_text(encoding="utf-8"))
    assert committed == creative_job_json_schema(), (
        "job_specs/creative_job.schema.json is out of date with the CreativeJob model; "
        "regenerate it with: nightrun schema > job_specs/creative_job.schema.json"
    )


def test_model_applies_the_schema_defaults() -> None:
    doc = _load(CORPUS / "valid" / "minimal.json")
    doc["generation"]["variants"]["loras"] = [
        {"name": "film_grain", "path": "loras/film_grain_v2.safetensors", "weights": [0.7]}
    ]
    assert "priority" not in doc
    assert "language" not in doc["copy"]

    job = CreativeJob.model_validate(doc)

    assert job.priority == 50
    assert job.copy_.language == "es-AR"
    assert job.generation.variants.loras is not None
    assert job.generation.variants.loras[0].on_off is True


def test_seed_schema_defaults_are_the_ones_the_model_uses() -> None:
    """The defaults asserted above are the seed's own (guards against a drifting seed copy)."""
    props = _load(SEED_SCHEMA_PATH)["properties"]
    assert props["priority"]["default"] == 50
    assert props["copy"]["properties"]["language"]["default"] == "es-AR"
    lora_item = props["generation"]["properties"]["variants"]["properties"]["loras"]["items"]
    assert lora_item["properties"]["on_off"]["default"] is True


def test_model_reads_copy_from_its_json_name() -> None:
    doc = _load(CORPUS / "valid" / "minimal.json")
    job = CreativeJob.model_validate(doc)
    assert job.copy_.headline == doc["copy"]["headline"]
    dumped = job.model_dump(by_alias=True, exclude_unset=True)
    assert dumped["copy"]["headline"] == doc["copy"]["headline"]
