"""Signed callback data: round trip, size, and every way it is refused."""

from __future__ import annotations

import re

import pytest

from nightrun_dagster.telegram.signing import (
    BadCallback,
    _tag,
    artifact_id,
    sign,
    verify,
)

KEY = b"signing-key"
NOW = 1_770_000_000


def test_artifact_id_is_short_stable_lowercase_base32() -> None:
    a = artifact_id("2026-02-10", "shoes", "v0001")
    assert re.fullmatch(r"[a-z2-7]{10}", a)
    assert a == artifact_id("2026-02-10", "shoes", "v0001")
    assert a != artifact_id("2026-02-10", "shoes", "v0002")


@pytest.mark.parametrize(("action", "decision"), [("a", "approve"), ("favorite", "favorite")])
def test_round_trip_within_64_bytes(action: str, decision: str) -> None:
    data = sign(action, "abcdefghij", NOW + 7 * 86400, KEY)
    assert len(data.encode()) <= 64
    got = verify(data, KEY, now=NOW)
    assert (got.decision, got.artifact, got.expiry) == (decision, "abcdefghij", NOW + 7 * 86400)


def test_forged_tag_wrong_key_and_tampered_fields_are_refused() -> None:
    data = sign("r", "abcdefghij", NOW + 60, KEY)
    with pytest.raises(BadCallback) as e:
        verify(data, b"other-key", now=NOW)
    assert e.value.reason == "bad tag"
    # Turning a reject into an approve must break the tag.
    with pytest.raises(BadCallback) as e:
        verify("a" + data[1:], KEY, now=NOW)
    assert e.value.reason == "bad tag"


def test_expired() -> None:
    data = sign("a", "abcdefghij", NOW - 1, KEY)
    with pytest.raises(BadCallback) as e:
        verify(data, KEY, now=NOW)
    assert e.value.reason == "expired"


@pytest.mark.parametrize("data", ["", "a:b:c", "a:b:c:d:e", "a::1:x", "a:x:!!:tag", "x" * 65])
def test_malformed(data: str) -> None:
    with pytest.raises(BadCallback) as e:
        verify(data, KEY, now=NOW)
    assert e.value.reason == "malformed"


def test_unknown_action_even_with_a_valid_tag() -> None:
    payload = "z:abcdefghij:zzzzzz"
    with pytest.raises(BadCallback) as e:
        verify(f"{payload}:{_tag(payload, KEY)}", KEY, now=NOW)
    assert e.value.reason == "unknown action"
    with pytest.raises(ValueError):
        sign("z", "abcdefghij", NOW, KEY)


def _other(ch: str) -> str:
    """A different character of the tag's alphabet (URL-safe base64)."""
    return "B" if ch == "A" else "A"


def forged_tags(data: str) -> list[str]:
    """Callback data whose tag differs from the valid one only late, in one place, or by length:
    a check that compares a prefix of the tag would accept some of them."""
    payload, _, tag = data.rpartition(":")
    variants = [f"{payload}:{tag[:i]}{_other(tag[i])}{tag[i + 1 :]}" for i in range(len(tag))]
    variants.append(f"{payload}:{tag[:-1]}")  # the last character removed
    variants.append(f"{payload}:{tag}A")  # one character too many
    return variants


def test_tags_differing_in_any_single_character_or_length_are_refused() -> None:
    data = sign("a", "abcdefghij", NOW + 60, KEY)
    tag = data.rpartition(":")[2]
    forged = forged_tags(data)
    assert len(forged) == len(tag) + 2 and data not in forged
    assert forged[len(tag) - 1][:-1] == data[:-1]  # only the last character differs
    for bad in forged:
        with pytest.raises(BadCallback) as e:
            verify(bad, KEY, now=NOW)
        assert e.value.reason == "bad tag", bad


def test_lone_surrogate_is_malformed_not_a_crash() -> None:
    data = sign("a", "abcdefghij", NOW + 60, KEY)
    with pytest.raises(BadCallback) as e:
        verify(data[:-1] + "\udc80", KEY, now=NOW)
    assert e.value.reason == "malformed"
