"""Validation errors that name the file, the field and the reason."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from nightrun_dagster.creative_job.json_types import json_type_name

JSON_FIELD = "(json)"
DOCUMENT_FIELD = "(document)"


@dataclass(frozen=True)
class SpecError:
    """One problem with one job file: which file, which field (dotted path), and why."""

    file: str
    field: str
    reason: str

    def line(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"

    @property
    def json_path(self) -> str:
        if self.field.startswith("("):
            return "$"
        return "$" + ("" if self.field.startswith("[") else ".") + self.field


class JobSpecInvalid(Exception):
    """A job file failed validation; `errors` lists every problem found."""

    def __init__(self, errors: Sequence[SpecError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(e.line() for e in self.errors))


def field_path(loc: Iterable[str | int]) -> str:
    """`("generation", "variants", "loras", 0, "path")` → `generation.variants.loras[0].path`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or DOCUMENT_FIELD


_FIELD_NAMES = {"copy_": "copy"}


def from_validation_error(file: str, exc: ValidationError) -> list[SpecError]:
    """Turn pydantic's errors into one clear SpecError per field."""
    by_field: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = [_FIELD_NAMES.get(p, p) if isinstance(p, str) else p for p in err["loc"]]
        # A failed union reports one error per branch with the branch's name appended to loc;
        # fold them into one message for the field.
        loc = [p for p in loc if not (isinstance(p, str) and _is_branch_tag(p))]
        by_field.setdefault(field_path(loc), []).append(_reason(err))
    errors = []
    for field, reasons in by_field.items():
        unique = list(dict.fromkeys(reasons))
        reason = unique[0] if len(unique) == 1 else _union_reason(unique)
        errors.append(SpecError(file, field, reason))
    return errors


_BRANCH_PREFIXES = ("function-", "str", "int", "float", "list[", "dict[", "union[", "nullable[")


def _is_branch_tag(part: str) -> bool:
    return part.startswith(_BRANCH_PREFIXES) and ("[" in part or part in {"str", "int", "float"})


def _union_reason(reasons: list[str]) -> str:
    expected = []
    got = ""
    for r in reasons:
        head, _, tail = r.partition(", got ")
        expected.append(head.removeprefix("must be "))
        got = got or tail
    return "must be " + " or ".join(dict.fromkeys(expected)) + (f", got {got}" if got else "")


def _reason(err: dict) -> str:
    kind = err["type"]
    value = err.get("input")
    got = f"{json_type_name(value)} {_short(value)}"
    if kind == "missing":
        return "required field is missing"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "literal_error":
        return f"must be one of {err['ctx']['expected']}, got {_short(value)}"
    if kind in {"string_type"}:
        return f"must be a string, got {got}"
    if kind in {"bool_type"}:
        return f"must be a boolean, got {got}"
    if kind in {"list_type"}:
        return f"must be an array, got {got}"
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return f"must be an object, got {got}"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return f"must be an integer, got {got}"
    if kind in {"float_type", "float_parsing"}:
        return f"must be a number, got {got}"
    if kind == "less_than_equal":
        return f"must be at most {err['ctx']['le']}, got {_short(value)}"
    if kind == "greater_than_equal":
        return f"must be at least {err['ctx']['ge']}, got {_short(value)}"
    return f"{err['msg']}, got {_short(value)}"


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
