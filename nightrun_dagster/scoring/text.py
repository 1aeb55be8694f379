"""Text legibility: the job's required tokens found, fuzzily, among the words OCR read."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

# Character similarity (difflib ratio of the words run together) at which a token counts as
# read: one wrong letter in a five-letter brand passes, a different word does not.
FUZZY_MIN = 0.8
# Weights inside the component: the required tokens carry it; how sure OCR was of them and
# how faithfully the headline reads back (models misspell lettering) refine it.
RECALL_WEIGHT = 0.7
CONFIDENCE_WEIGHT = 0.15
HEADLINE_WEIGHT = 0.15
_CURRENCY = re.compile(r"[$€£¢₡₲₱₽₹¥]|\b(?:ars|usd|eur|us\$|u\$s|r\$)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d[\d.,\s]*\d|\d")


@dataclass(frozen=True)
class Word:
    """One word OCR read: its text, tesseract's confidence (0..100) and which pass read it."""

    text: str
    conf: float
    source: str


@dataclass(frozen=True)
class Token:
    kind: str  # brand | product | price
    text: str


def fold(text: str) -> str:
    """Lower case, accents and tildes dropped (Ñandú → nandu), punctuation to spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", bare).split())


def canonical_price(text: str) -> str | None:
    """`$ 12.999`, `12,999`, `12999`, `ARS 12.999,00` → `12999`; `4.999,50` → `4999.5`.
    A last separator followed by one or two digits is the decimal comma or point; any
    other separator groups thousands. None when the text holds no number."""
    stripped = _CURRENCY.sub(" ", text)
    match = _NUMBER.search(stripped)
    if match is None:
        return None
    number = re.sub(r"\s+", "", match.group(0))
    seps = [i for i, c in enumerate(number) if c in ".,"]
    decimals = ""
    if seps and 1 <= len(number) - seps[-1] - 1 <= 2:
        decimals = number[seps[-1] + 1 :]
        number = number[: seps[-1]]
    digits = re.sub(r"[.,]", "", number).lstrip("0") or "0"
    decimals = decimals.rstrip("0")
    return f"{digits}.{decimals}" if decimals else digits


def required_tokens(brand: str, product: str, price: str | None) -> list[Token]:
    tokens = [Token("brand", brand), Token("product", product)]
    if price is not None and canonical_price(price) is not None:
        tokens.append(Token("price", price))
    return [t for t in tokens if fold(t.text) or t.kind == "price"]


def _similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _best_window(
    target: str, words: Sequence[Word], folded: Sequence[str], n: int
) -> tuple[float, list[int]]:
    """The best run of about `n` consecutive words, compared with spaces removed so that
    'Yerba Mate' read as 'YerbaMate' (or split oddly) still matches."""
    best, best_idx = 0.0, []
    goal = target.replace(" ", "")
    for size in range(max(1, n - 1), n + 2):
        for i in range(0, max(0, len(words) - size) + 1):
            idx = [j for j in range(i, min(i + size, len(words))) if folded[j]]
            if not idx:
                continue
            # Runs never cross from one preprocessing pass into another.
            if len({words[j].source for j in idx}) > 1:
                continue
            ratio = _similarity(goal, "".join(folded[j] for j in idx))
            if ratio > best:
                best, best_idx = ratio, idx
    return best, best_idx


def _match_words(token: str, words: Sequence[Word], folded: Sequence[str]) -> tuple[float, list]:
    target = fold(token)
    if not target:
        return 0.0, []
    ratio, idx = _best_window(target, words, folded, len(target.split()))
    # Very short tokens must be exact: one letter off in three is a different word.
    if len(target.replace(" ", "")) <= 3 and ratio < 1.0:
        return ratio, []
    return ratio, idx


def _match_price(price: str, words: Sequence[Word]) -> tuple[bool, list[int]]:
    """Exact on the number: a price that reads as another price is a wrong ad."""
    goal = canonical_price(price)
    for size in (1, 2, 3):
        for i in range(0, max(0, len(words) - size) + 1):
            idx = list(range(i, min(i + size, len(words))))
            if len({words[j].source for j in idx}) > 1:
                continue
            run = " ".join(words[j].text for j in idx)
            # OCR reads '$' as 'S' or '§' now and then; only the number has to be right.
            if canonical_price(run) == goal and any(c.isdigit() for c in words[idx[-1]].text):
                digits = [j for j in idx if any(c.isdigit() for c in words[j].text)]
                return True, digits or idx
    return False, []


def _text_by_source(words: Sequence[Word]) -> dict[str, str]:
    """What each pass read, for people checking a score by eye."""
    out: dict[str, list[str]] = {}
    for w in words:
        out.setdefault(w.source, []).append(w.text)
    return {source: " ".join(texts) for source, texts in out.items()}


def text_legibility(
    words: Sequence[Word],
    tokens: Sequence[Token],
    headline: str | None = None,
) -> dict[str, Any]:
    """{"score", "raw", "tokens_found", "tokens_missing", "mean_confidence"} for what OCR
    read. Tokens are listed as the job wrote them; mean_confidence is tesseract's confidence
    of the matched words on a 0..1 scale, None when nothing matched."""
    folded = [fold(w.text) for w in words]
    found: list[str] = []
    missing: list[str] = []
    details = []
    matched: set[int] = set()
    for token in tokens:
        if token.kind == "price":
            ok, idx = _match_price(token.text, words)
            similarity = 1.0 if ok else 0.0
        else:
            similarity, idx = _match_words(token.text, words, folded)
            ok = similarity >= FUZZY_MIN and bool(idx)
        (found if ok else missing).append(token.text)
        if ok:
            matched.update(idx)
        details.append(
            {
                "kind": token.kind,
                "token": token.text,
                "found": ok,
                "similarity": round(similarity, 4),
                "read_as": " ".join(words[j].text for j in idx) if ok else None,
                "pass": words[idx[0]].source if ok else None,
            }
        )
    confs = [words[j].conf for j in sorted(matched) if words[j].conf >= 0]
    mean_conf = sum(confs) / len(confs) / 100.0 if confs else None
    recall = len(found) / len(tokens) if tokens else 0.0
    headline_sim = None
    if headline and fold(headline):
        headline_sim, _ = _best_window(fold(headline), words, folded, len(fold(headline).split()))
    weights = {"recall": RECALL_WEIGHT, "confidence": CONFIDENCE_WEIGHT}
    parts = {"recall": recall, "confidence": mean_conf or 0.0}
    if headline_sim is not None:
        weights["headline"] = HEADLINE_WEIGHT
        # A ratio of 0.5 is what unrelated words reach; only the part above it counts.
        parts["headline"] = max(0.0, headline_sim - 0.5) / 0.5
    score = sum(weights[k] * parts[k] for k in weights) / sum(weights.values())
    return {
        "score": float(score),
        "raw": {
            "token_recall": recall,
            "tokens": details,
            "headline_similarity": headline_sim,
            "words_read": len(words),
            "text_read": _text_by_source(words),
        },
        "tokens_found": found,
        "tokens_missing": missing,
        "mean_confidence": mean_conf,
    }
