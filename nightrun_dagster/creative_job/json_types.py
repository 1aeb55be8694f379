"""Validators that give pydantic the exact JSON Schema type semantics of the seed's schema."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeAlias

# (type, name) pairs, first match wins: bool before int, since a bool is an int to Python.
TypeNames: TypeAlias = Sequence[tuple[type | tuple[type, ...], str]]

JSON_TYPE_NAMES: TypeNames = (
    (type(None), "null"),
    (bool, "boolean"),
    ((int, float), "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def type_name(value: object, names: TypeNames, other: str | None = None) -> str:
    """The name of the first type in `names` that `value` is, else `other` (or, without it,
    the value's own Python type)."""
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return type(value).__name__ if other is None else other


def json_type_name(value: object) -> str:
    """The JSON type of a parsed value, for error messages."""
    return type_name(value, JSON_TYPE_NAMES)


def json_integer(value: object) -> object:
    # JSON Schema counts 3.0 as an integer; booleans and strings are never integers.
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"must be an integer, got {json_type_name(value)} {value!r}")


def json_number(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise ValueError(f"must be a number, got {json_type_name(value)} {value!r}")


def not_null(value: object) -> object:
    if value is None:
        raise ValueError("must not be null (omit the field instead)")
    return value
