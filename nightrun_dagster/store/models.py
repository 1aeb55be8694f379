"""The base of every tree document's model: a schema number, unknown keys kept, one read and
one atomic write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nightrun_dagster.store.atomic import atomic_write_json, dump_json

SCHEMA = 1

D = TypeVar("D", bound="Document")


class Part(BaseModel):
    """A nested record of a document: keys this version does not know survive a rewrite."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Document(Part):
    """A whole file of the tree. `schema` says which shape wrote it; files of nights before it
    was recorded have none and read as schema 1 (fields added since then have defaults)."""

    schema_version: int = Field(default=SCHEMA, alias="schema")


class DocumentError(ValueError):
    """A tree document that is not JSON or does not have its model's shape; the message names
    the file and, for a shape error, the field."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(path, reason)  # both in args: the error pickles and copies whole
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def read_document(path: Path, model: type[D]) -> D:
    """The document at `path`. FileNotFoundError (or another OSError) when it cannot be read,
    DocumentError when it is not JSON or not of the model's shape."""
    return parse_document(path, Path(path).read_bytes(), model)


def parse_document(path: Path, raw: bytes, model: type[D]) -> D:
    """The document in `raw`, the bytes read from `path` (named in the error)."""
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise DocumentError(path, f"not valid JSON ({exc})") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        raise DocumentError(path, f"{where}: {first['msg']}") from None


def try_read_document(path: Path, model: type[D]) -> D | None:
    """The document, or None when it is missing or damaged (a record that may not exist)."""
    try:
        return read_document(path, model)
    except (OSError, ValueError):
        return None


def write_document(path: Path, doc: Document, *, durable: bool = False) -> None:
    """Write `doc` atomically, stamped with the current schema."""
    atomic_write_json(path, dump_document(doc), durable=durable)


def document_bytes(doc: Document) -> bytes:
    """The file's bytes as `write_document` writes them (for a folder built all at once)."""
    return dump_json(dump_document(doc))


def dump_document(doc: Document) -> dict[str, Any]:
    """The document as JSON data, as it is written (current schema first)."""
    data = doc.model_dump(mode="json", by_alias=True)
    data["schema"] = SCHEMA  # the base's first field: it stays the first key
    return data
