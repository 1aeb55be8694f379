"""The base of every tree document's model: a schema number, unknown keys kept, one read and
one atomic write."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nightrun_dagster.store.atomic import atomic_write_json, dump_json

log = logging.getLogger(__name__)

SCHEMA = 1

D = TypeVar("D", bound="Document")
W = TypeVar("W")  # a tree folder (NightDir, JobDir, VariantDir, Tree …) or its path


class Part(BaseModel):
    """A nested record of a document: keys this version does not know survive a rewrite."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Document(Part):
    """A whole file of the tree. `schema` says which shape wrote it; files of nights before it
    was recorded have none and read as schema 1 (fields added since then have defaults)."""

    schema_version: int = Field(default=SCHEMA, alias="schema")


class JobDocument(Document):
    """A document of one job's night: which night and job it belongs to (None in files of
    nights that did not record it)."""

    night: str | None = None
    job_id: str | None = None
    job_key: str | None = None


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


def write_document(
    path: Path, doc: Document, *, durable: bool = False, sparse: bool = False
) -> None:
    """Write `doc` atomically, stamped with the current schema."""
    atomic_write_json(path, dump_document(doc, sparse=sparse), durable=durable)


def document_bytes(doc: Document, *, sparse: bool = False) -> bytes:
    """The file's bytes as `write_document` writes them (for a folder built all at once)."""
    return dump_json(dump_document(doc, sparse=sparse))


def document_data(doc: Document) -> dict[str, Any]:
    """The document's data as it was read (or given): its own keys only, no defaults added."""
    return doc.model_dump(mode="json", by_alias=True, exclude_unset=True)


def dump_document(doc: Document, *, sparse: bool = False) -> dict[str, Any]:
    """The document as JSON data, as it is written (current schema first). `sparse`: only the
    fields the document was given, no defaults (a document that grows in stages)."""
    data = doc.model_dump(mode="json", by_alias=True, exclude_unset=sparse)
    data.pop("schema", None)
    return {"schema": SCHEMA, **data}  # first, whichever fields the dump left out


class DocumentFile(Generic[D]):
    """How one kind of tree document is read and written: its model, whether a write must
    reach the disk before returning (`durable`: records whose loss would lose work) and whether
    it writes only the fields it was given (`sparse`)."""

    def __init__(self, model: type[D], *, durable: bool = False, sparse: bool = False) -> None:
        self.model = model
        self.durable = durable
        self.sparse = sparse

    def read(self, path: Path) -> D:
        """FileNotFoundError (or another OSError) when absent, DocumentError when damaged."""
        return read_document(path, self.model)

    def try_read(self, path: Path) -> D | None:
        """The document, or None when it is missing or damaged (a record that may not exist)."""
        return try_read_document(path, self.model)

    def read_or_why(self, path: Path) -> tuple[D | None, str | None]:
        """(document, None); (None, None) when absent; (None, why) when unreadable or damaged,
        for pages that show a damaged file instead of stopping."""
        try:
            return self.read(path), None
        except FileNotFoundError:
            return None, None
        except DocumentError as exc:
            return None, f"{Path(path).name}: {exc.reason}"
        except OSError as exc:
            return None, f"{Path(path).name}: {exc}"

    def read_or_empty(self, path: Path, damaged: str = "treated as empty") -> D:
        """The record at `path`; an empty one when it is missing, and an empty one with a
        warning naming the file and what happens next (`damaged`) when it is unreadable or
        misshapen."""
        try:
            return self.read(path)
        except FileNotFoundError:
            pass
        except (OSError, DocumentError) as exc:
            log.warning("%s unreadable (%s); %s", path, exc, damaged)
        return self.model()

    def parse(self, path: Path, raw: bytes) -> D:
        return parse_document(path, raw, self.model)

    def write(self, path: Path, doc: D) -> Path:
        """Write `doc` atomically (durably when this kind is); returns the path."""
        write_document(path, doc, durable=self.durable, sparse=self.sparse)
        return path

    def bytes(self, doc: D) -> bytes:
        return document_bytes(doc, sparse=self.sparse)


class DocumentAt(Generic[D, W]):
    """One kind of document at its fixed place in a tree folder: read, read-if-there and write
    given the folder (`place` names the file in it), so each kind is declared once."""

    def __init__(
        self,
        model: type[D],
        place: Callable[[W], Path],
        *,
        durable: bool = False,
        sparse: bool = False,
    ) -> None:
        self.file = DocumentFile(model, durable=durable, sparse=sparse)
        self.place = place

    def read(self, where: W) -> D:
        """FileNotFoundError when absent, DocumentError when damaged."""
        return self.file.read(self.place(where))

    def try_read(self, where: W) -> D | None:
        """None when absent or damaged (a record that may not exist)."""
        return self.file.try_read(self.place(where))

    def read_or_why(self, where: W) -> tuple[D | None, str | None]:
        return self.file.read_or_why(self.place(where))

    def write(self, where: W, doc: D) -> Path:
        """Write atomically (durably when this kind is); returns the path."""
        return self.file.write(self.place(where), doc)
