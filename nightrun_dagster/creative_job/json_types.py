"""Validators that give pydantic the exact JSON Schema type semantics of the seed's schema."""

from __future__ import annotations

import math


def json_type_name(value: object) -> str:
    """The JSON type of a parsed value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


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
