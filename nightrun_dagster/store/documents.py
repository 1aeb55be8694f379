"""Reading tree records that may be missing or damaged without stopping the night."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_bytes())


def try_read_json(path: Path) -> Any | None:
    """The document, or None when it is missing or unreadable (a record that may not exist)."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def read_object_or_empty(path: Path, damaged: str = "treated as empty") -> dict[str, Any]:
    """The JSON object at `path`; {} when it is missing, and {} with a warning naming the file
    and what happens next (`damaged`) when it is unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        log.warning("%s unreadable; %s", path, damaged)
        return {}
    if not isinstance(data, dict):
        log.warning("%s is not a JSON object; %s", path, damaged)
        return {}
    return data
