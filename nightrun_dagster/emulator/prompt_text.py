"""What a positive prompt asks to be drawn: `headline "…"`, `brand "…"`, `price "…"`,
`product "…"` (double or curly quotes; an optional `:` or `=`) and `#RRGGBB` / `#RGB` colours."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FIELD = re.compile(
    r"\b(headline|brand|price|product)\s*[:=]?\s*[\"“]([^\"”]*)[\"”]", re.IGNORECASE
)
_COLOUR = re.compile(r"(?<![\w&])#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")


@dataclass(frozen=True)
class AdText:
    headline: str | None = None
    brand: str | None = None
    price: str | None = None
    product: str | None = None
    colours: tuple[tuple[int, int, int], ...] = ()


def parse_ad_text(text: str) -> AdText:
    """The first value of each field wins; colours keep their order."""
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(text):
        fields.setdefault(match.group(1).lower(), match.group(2).strip())
    colours = []
    for match in _COLOUR.finditer(text):
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        colours.append((int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)))
    return AdText(
        headline=fields.get("headline") or None,
        brand=fields.get("brand") or None,
        price=fields.get("price") or None,
        product=fields.get("product") or None,
        colours=tuple(colours),
    )
