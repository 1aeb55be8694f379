"""Reading tree records that may be missing or damaged without stopping the night."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_bytes())


def try_read_json(path: Path) -> Any | None:
    """The document, or None when it is missing or unreadable (a record that may not exist)."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None
