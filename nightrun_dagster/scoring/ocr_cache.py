"""OCR results on disk, keyed by image hash, languages and preprocessing version."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from nightrun_dagster.scoring.ocr import PREP_VERSION
from nightrun_dagster.store.ops_docs import OCR_ENTRY, OcrEntry


class OcrCache:
    """One JSON file per (image sha256, languages, PREP_VERSION) under `folder`, written
    atomically, so re-weighting or re-scoring a night never runs tesseract again and pool
    workers never see half a file."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    def key(self, image_sha256: str, langs: str) -> str:
        return hashlib.sha256(f"{image_sha256}\x1f{langs}\x1f{PREP_VERSION}".encode()).hexdigest()

    def path(self, image_sha256: str, langs: str) -> Path:
        key = self.key(image_sha256, langs)
        return self.folder / key[:2] / f"{key}.json"

    def get(self, image_sha256: str, langs: str) -> dict[str, Any] | None:
        """The cached pass → words mapping, or None (a damaged file is a miss)."""
        doc = OCR_ENTRY.try_read(self.path(image_sha256, langs))
        if (
            doc is None
            or doc.image_sha256 != image_sha256
            or doc.langs != langs
            or doc.prep_version != PREP_VERSION
        ):
            self.misses += 1
            return None
        self.hits += 1
        return doc.passes

    def put(self, image_sha256: str, langs: str, passes: dict[str, Any]) -> None:
        entry = OcrEntry(
            image_sha256=image_sha256, langs=langs, prep_version=PREP_VERSION, passes=passes
        )
        OCR_ENTRY.write(self.path(image_sha256, langs), entry)
