"""Ad copy broken into lines: greedy, by the caller's measure, never losing or splitting a word."""

from __future__ import annotations

from nightrun_dagster.creative_job.lettering import wrap_words


def test_words_fill_each_line_up_to_the_width() -> None:
    lines = wrap_words("Café de Especialidad tostado hoy", 12, len)
    assert lines == ["Café de", "Especialidad", "tostado hoy"]
    assert all(len(line) <= 12 for line in lines)


def test_a_word_wider_than_the_width_stands_alone() -> None:
    assert wrap_words("a Supercalifragilístico b", 5, len) == ["a", "Supercalifragilístico", "b"]


def test_runs_of_spaces_fold_and_empty_copy_has_no_lines() -> None:
    assert wrap_words("  uno   dos  ", 100, len) == ["uno dos"]
    assert wrap_words("   ", 100, len) == []


def test_the_measure_decides_not_the_character_count() -> None:
    # A font where "W" is wide: the same words wrap sooner.
    def wide(text: str) -> float:
        return sum(3 if c == "W" else 1 for c in text)

    assert wrap_words("WW ab cd", 8, len) == ["WW ab cd"]
    assert wrap_words("WW ab cd", 8, wide) == ["WW", "ab cd"]
