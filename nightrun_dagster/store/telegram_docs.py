"""What was sent to Telegram: a job's `selection/telegram_sent.json`, `originals_sent.json` and
`artifacts.json` (artifact id -> candidate), the night's `telegram_summary.json` stamp, and the
lines of the decisions ledger (appended, locked and repaired by telegram/ledger.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from pydantic import Field

from nightrun_dagster.store.models import Document, DocumentFile, Part
from nightrun_dagster.store.paths import JobDir, NightDir, as_job_dir, as_night_dir

log = logging.getLogger(__name__)

TELEGRAM_SENT = "telegram_sent.json"
ORIGINALS_SENT = "originals_sent.json"
ARTIFACTS = "artifacts.json"
SUMMARY_STAMP = "telegram_summary.json"
DECISIONS = "decisions.jsonl"  # the append-only ledger, one decision a line


class SentShortlist(Part):
    """One shortlist (by the digest of its file) sent to one chat: albums, then a buttoned
    message per candidate; `complete` once every message is out."""

    chat_id: int | str | None = None
    night: str | None = None
    job_key: str | None = None
    expiry: int = 0
    albums: list[list[int]] = Field(default_factory=list)
    candidates: dict[str, int] = Field(default_factory=dict)  # artifact id -> message id
    complete: bool = False
    note: int | None = None  # the message saying the night was cut short
    updated_at: str | None = None


class TelegramSent(Document):
    """`selection/telegram_sent.json`: shortlist digest -> what was sent of it."""

    __pydantic_extra__: dict[str, SentShortlist] = Field(init=False)

    def shortlists(self) -> dict[str, SentShortlist]:
        return self.__pydantic_extra__

    def candidate_artifacts(self) -> set[str]:
        """Every artifact id that got its buttoned message, of any shortlist."""
        return {art for sent in self.shortlists().values() for art in sent.candidates}


class OriginalSent(Part):
    """The full-resolution original of one decided candidate, sent once."""

    variant_id: str
    decision: str
    decided_at: str | None = None
    message_id: int
    sent_at: str | None = None


class OriginalsSent(Document):
    """`selection/originals_sent.json`: artifact id -> its original's message."""

    __pydantic_extra__: dict[str, OriginalSent] = Field(init=False)

    def originals(self) -> dict[str, OriginalSent]:
        return self.__pydantic_extra__


class ArtifactRef(Part):
    """Where an artifact id's candidate lives."""

    night: str
    job_key: str
    variant_id: str


class ArtifactIndex(Document):
    """`selection/artifacts.json`: artifact id -> candidate, written before any button exists
    so that every tap can be resolved."""

    __pydantic_extra__: dict[str, ArtifactRef] = Field(init=False)

    def artifacts(self) -> dict[str, ArtifactRef]:
        return self.__pydantic_extra__


class SummaryStamp(Document):
    """`runs/<night>/telegram_summary.json`: the digest of the night summary last sent."""

    sha256: str
    message_id: int | None = None


SENT_DOC = DocumentFile(TelegramSent)
ORIGINALS_DOC = DocumentFile(OriginalsSent)
ARTIFACTS_DOC = DocumentFile(ArtifactIndex)
STAMP_DOC = DocumentFile(SummaryStamp)


def telegram_sent_path(job_dir: JobDir | Path) -> Path:
    return as_job_dir(job_dir).selection / TELEGRAM_SENT


def originals_sent_path(job_dir: JobDir | Path) -> Path:
    return as_job_dir(job_dir).selection / ORIGINALS_SENT


def artifact_index_path(job_dir: JobDir | Path) -> Path:
    return as_job_dir(job_dir).selection / ARTIFACTS


def summary_stamp_path(night_dir: NightDir | Path) -> Path:
    return as_night_dir(night_dir).path / SUMMARY_STAMP


def parse_decision_lines(raw: bytes, path: Path) -> list[dict[str, Any]]:
    """The complete lines of a decisions ledger read from `path`, as JSON objects; a line that
    is not JSON is skipped with a warning naming the file and line."""
    lines = raw.split(b"\n")
    # A final chunk without its newline is a torn append (crash mid-write): never trust it.
    complete = lines[:-1]
    out: list[dict[str, Any]] = []
    for n, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.warning("%s line %d is not JSON; ignored", path, n)
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def read_telegram_sent(job_dir: JobDir | Path) -> TelegramSent:
    """FileNotFoundError when nothing was sent yet, DocumentError when damaged."""
    return SENT_DOC.read(telegram_sent_path(job_dir))


def write_telegram_sent(job_dir: JobDir | Path, doc: TelegramSent) -> Path:
    return SENT_DOC.write(telegram_sent_path(job_dir), doc)


def read_originals_sent(job_dir: JobDir | Path) -> OriginalsSent:
    """FileNotFoundError when no original was sent yet, DocumentError when damaged."""
    return ORIGINALS_DOC.read(originals_sent_path(job_dir))


def write_originals_sent(job_dir: JobDir | Path, doc: OriginalsSent) -> Path:
    return ORIGINALS_DOC.write(originals_sent_path(job_dir), doc)


def read_artifact_index(path: Path) -> ArtifactIndex:
    """The index at `path` (found by a search of the tree, hence a path)."""
    return ARTIFACTS_DOC.read(path)


def write_artifact_index(job_dir: JobDir | Path, doc: ArtifactIndex) -> Path:
    return ARTIFACTS_DOC.write(artifact_index_path(job_dir), doc)


def try_read_summary_stamp(night_dir: NightDir | Path) -> SummaryStamp | None:
    return STAMP_DOC.try_read(summary_stamp_path(night_dir))


def write_summary_stamp(night_dir: NightDir | Path, doc: SummaryStamp) -> Path:
    return STAMP_DOC.write(summary_stamp_path(night_dir), doc)
