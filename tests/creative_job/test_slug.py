"""Job partition keys derived from job ids."""

import pytest

from nightrun_dagster.creative_job.slug import KEY_PATTERN, BadJobId, job_key


@pytest.mark.parametrize(
    ("job_id", "key"),
    [
        ("Promo Café #12", "promo-cafe-12"),
        ("job_2026-02-09_verde", "job_2026-02-09_verde"),
        ("  --Año Nuevo!!  ", "ano-nuevo"),
        ("A|B,C", "a-b-c"),
        ("ÑANDÚ", "nandu"),
    ],
)
def test_keys(job_id: str, key: str) -> None:
    assert job_key(job_id) == key
    assert KEY_PATTERN.match(key)


@pytest.mark.parametrize("job_id", ["", "!!!", "   ", "日本語", "-_-"])
def test_no_key(job_id: str) -> None:
    with pytest.raises(BadJobId, match="no partition key"):
        job_key(job_id)


def test_too_long() -> None:
    with pytest.raises(BadJobId, match="at most 64"):
        job_key("x" * 65)
    assert job_key("x" * 64) == "x" * 64
