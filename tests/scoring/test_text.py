"""Token normalization and fuzzy matching, on words as tesseract returns them."""

from __future__ import annotations

import pytest

from nightrun_dagster.scoring.ocr import installed_languages, tesseract_languages
from nightrun_dagster.scoring.text import (
    Word,
    canonical_price,
    fold,
    required_tokens,
    text_legibility,
)


def words(text: str, source: str = "grey", conf: float = 90.0) -> list[Word]:
    return [Word(w, conf, source) for w in text.split()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$ 12.999", "12999"),
        ("$12,999", "12999"),
        ("12999", "12999"),
        ("ARS 12.999,00", "12999"),
        ("$ 4.999,50", "4999.5"),
        ("U$S 1,250.75", "1250.75"),
        ("4999", "4999"),
        ("S 4.999", "4999"),
        ("precio", None),
    ],
)
def test_canonical_price(text: str, expected: str | None) -> None:
    assert canonical_price(text) == expected


def test_fold_drops_case_accents_and_tildes() -> None:
    assert fold("Café de Especialidad Ñandú") == "cafe de especialidad nandu"
    assert fold("¡Despertá tu MAÑANA!") == "desperta tu manana"


def test_tokens_found_despite_ocr_slips_and_missing_accents() -> None:
    tokens = required_tokens("Ñandú", "Café de Especialidad", "$ 12.999")
    read = words("Desperta tu manana Cafe de Especia1idad Nandu $ 12,999")
    result = text_legibility(read, tokens, "Despertá tu mañana")
    assert result["tokens_found"] == ["Ñandú", "Café de Especialidad", "$ 12.999"]
    assert result["tokens_missing"] == []
    assert result["mean_confidence"] == pytest.approx(0.9)
    assert result["raw"]["headline_similarity"] == pytest.approx(1.0)
    assert result["score"] == pytest.approx(1.0 * 0.7 + 0.9 * 0.15 + 1.0 * 0.15)


def test_a_different_price_or_word_is_missing() -> None:
    tokens = required_tokens("Verde", "Yerba Mate Orgánica 500 g", "$ 4.999")
    result = text_legibility(words("Yerba Mate Organica 500 g Verdulería $ 5.999"), tokens)
    assert result["tokens_found"] == ["Yerba Mate Orgánica 500 g"]
    assert result["tokens_missing"] == ["Verde", "$ 4.999"]
    by_kind = {t["kind"]: t for t in result["raw"]["tokens"]}
    assert by_kind["brand"]["similarity"] < 0.8
    assert (
        result["score"]
        < text_legibility(words("Verde Yerba Mate Orgánica 500 g 4999"), tokens)["score"]
    )


def test_short_brands_must_match_exactly() -> None:
    tokens = required_tokens("Ñu", "Mate", None)
    assert text_legibility(words("Nu Mate"), tokens)["tokens_missing"] == []
    assert text_legibility(words("Na Mate"), tokens)["tokens_missing"] == ["Ñu"]


def test_tokens_never_join_words_from_two_passes() -> None:
    tokens = required_tokens("Pampa", "Alfajores de Maicena", None)
    read = [*words("Alfajores de", "grey"), *words("Maicena Pampa", "minrgb")]
    assert text_legibility(read, tokens)["tokens_missing"] == ["Alfajores de Maicena"]


def test_price_token_only_when_the_job_has_a_price() -> None:
    assert [t.kind for t in required_tokens("B", "P", None)] == ["brand", "product"]
    assert [t.kind for t in required_tokens("B", "P", "4999")] == ["brand", "product", "price"]


def test_language_mapping_and_installed_languages() -> None:
    """The scorer needs tesseract with Spanish and English; missing, this fails (no skip)."""
    assert tesseract_languages("es-AR") == "spa+eng"
    assert tesseract_languages("en-US") == "eng"
    assert tesseract_languages("pt_BR") == "por+eng"
    assert tesseract_languages("xx") == "eng"
    assert {"spa", "eng"} <= installed_languages()
