"""How a job's copy breaks into lines of a given width: greedy word wrap, each candidate line
measured by the caller (a font's text length)."""

from __future__ import annotations

from collections.abc import Callable


def wrap_words(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Words joined by single spaces while a line measures at most `width`; a word wider than
    `width` on its own still gets its own line."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and measure(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines
