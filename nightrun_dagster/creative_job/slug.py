"""Job partition keys: a slug of the job id that Dagster's UI accepts (`[a-z0-9_-]`)."""

from __future__ import annotations

import re
import unicodedata

MAX_KEY_LENGTH = 64
_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")
KEY_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$")


class BadJobId(ValueError):
    """No partition key can be derived from this job id."""


def job_key(job_id: str) -> str:
    """Derive the partition key from a job id: `"Promo Café #12"` → `"promo-cafe-12"`."""
    folded = unicodedata.normalize("NFKD", job_id).encode("ascii", "ignore").decode("ascii")
    key = _NOT_ALLOWED.sub("-", folded.lower()).strip("-_")
    if not key:
        raise BadJobId(
            f"no partition key can be derived from {job_id!r}: it needs at least one letter or "
            "digit (keys keep only a-z, 0-9, '_' and '-')"
        )
    if len(key) > MAX_KEY_LENGTH:
        raise BadJobId(
            f"the partition key derived from it is {len(key)} characters long; "
            f"at most {MAX_KEY_LENGTH} are allowed"
        )
    return key
