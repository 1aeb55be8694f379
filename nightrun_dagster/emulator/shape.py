"""JSON shape comparison: key sets and order, leaf types and frame sequences, not values.

Used to hold the emulator to payloads captured from a real ComfyUI. Ids, timestamps, numbers and
filenames may differ; the structure a client parses may not. Every mismatch names its path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from nightrun_dagster.creative_job.json_types import TypeNames, type_name

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Frames that repeat freely (one per queue change / progress tick): runs of them count once.
COLLAPSIBLE = frozenset({"status", "progress_state"})


# Leaves a client parses differently are different types (an int is not a float here).
SHAPE_TYPE_NAMES: TypeNames = (
    (type(None), "null"),
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "str"),
    ((list, tuple), "list"),
    (dict, "object"),
)


def shape_type(value: Any) -> str:
    return type_name(value, SHAPE_TYPE_NAMES)


def _key(key: str) -> str:
    """Keys that are ids (prompt ids in /history) compare as one placeholder."""
    return "<uuid>" if _UUID.match(key) else key


def signature(value: Any) -> str:
    """A canonical description of a value's shape (for grouping list elements)."""
    if isinstance(value, dict):
        inner = ",".join(f"{_key(k)}:{signature(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(sorted({signature(v) for v in value})) + "]"
    return shape_type(value)


def shape_diff(expected: Any, got: Any, path: str = "$", allow: Iterable[str] = ()) -> list[str]:
    """Every difference in shape, as `path: expected … got …` lines; [] when they agree.

    Objects: same keys in the same order (UUID keys match each other), recursively.
    Lists: an empty expected list accepts anything; a non-empty one needs a non-empty list.
    Elements of one shape (e.g. filenames) are each held to it; objects of different shapes
    (errors of several kinds) match as a multiset, because ComfyUI iterates sets there; other
    mixed lists (tuples such as a queue item) compare position by position.
    Leaves: null, bool, int, float and str are distinct types.
    `allow`: patterns (`*` wildcards) of paths that are not compared (documented deviations).
    """
    allow = tuple(allow)
    if any(_matches(path, pattern) for pattern in allow):
        return []
    te, tg = shape_type(expected), shape_type(got)
    if te != tg:
        return [f"{path}: expected {te} {_short(expected)}, got {tg} {_short(got)}"]
    if isinstance(expected, dict):
        ek = [_key(k) for k in expected]
        gk = [_key(k) for k in got]
        if ek != gk:
            missing = [k for k in ek if k not in gk]
            extra = [k for k in gk if k not in ek]
            detail = f"missing {missing} " if missing else ""
            detail += f"unexpected {extra} " if extra else ""
            if not missing and not extra:
                detail = "same keys in another order "
            return [f"{path}: keys differ: {detail}(expected {ek}, got {gk})"]
        out: list[str] = []
        for (k, ev), gv in zip(expected.items(), got.values(), strict=True):
            out += shape_diff(ev, gv, f"{path}.{_key(k)}", allow)
        return out
    if isinstance(expected, list | tuple):
        return _list_diff(list(expected), list(got), path, allow)
    return []


def _list_diff(expected: list[Any], got: list[Any], path: str, allow: tuple[str, ...]) -> list[str]:
    if not expected:
        return []
    if not got:
        return [f"{path}: expected a non-empty list like {_short(expected)}, got []"]
    shapes = {signature(v) for v in expected}
    if len(shapes) == 1:
        out: list[str] = []
        for i, value in enumerate(got):
            out += shape_diff(expected[0], value, f"{path}[{i}]", allow)
        return out
    if len(expected) != len(got):
        return [f"{path}: expected {len(expected)} items, got {len(got)}"]
    if all(isinstance(v, dict) for v in expected):
        unmatched = list(range(len(expected)))
        for i, value in enumerate(got):
            for j in unmatched:
                if not shape_diff(expected[j], value, f"{path}[{i}]", allow):
                    unmatched.remove(j)
                    break
            else:
                closest = min(
                    (shape_diff(expected[j], value, f"{path}[{i}]", allow) for j in unmatched),
                    key=len,
                )
                return [f"{path}[{i}]: matches none of the expected objects", *closest]
        return []
    out = []
    for i, (ev, gv) in enumerate(zip(expected, got, strict=True)):
        out += shape_diff(ev, gv, f"{path}[{i}]", allow)
    return out


def _matches(path: str, pattern: str) -> bool:
    """`*` is a wildcard; everything else (brackets included) is literal."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, path) is not None


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def assert_same_shape(expected: Any, got: Any, what: str = "", allow: Iterable[str] = ()) -> None:
    problems = shape_diff(expected, got, allow=allow)
    if problems:
        head = f"{what}: " if what else ""
        raise AssertionError(head + "shape differs from the capture:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------- websocket frame sequences
def frame_kind(frame: dict[str, Any]) -> str:
    """`json` frames by their type; binary frames as `binary:<event type>`."""
    if frame.get("kind") == "binary":
        return f"binary:{frame.get('event_type_u32be')}"
    return str(frame["json"]["type"])


def collapse(frames: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive frames of a collapsible type count once (the first of the run is kept)."""
    out: list[dict[str, Any]] = []
    for frame in frames:
        kind = frame_kind(frame)
        if out and kind in COLLAPSIBLE and frame_kind(out[-1]) == kind:
            continue
        out.append(frame)
    return out


def binary_frame(data: bytes) -> dict[str, Any]:
    """A binary frame described like the captures describe theirs."""
    event = int.from_bytes(data[0:4], "big")
    second = int.from_bytes(data[4:8], "big")
    frame: dict[str, Any] = {
        "kind": "binary",
        "length": len(data),
        "event_type_u32be": event,
        "second_u32be": second,
    }
    image = data[8:]
    if event == 4:
        frame["metadata_json"] = json.loads(data[8 : 8 + second])
        image = data[8 + second :]
    frame["image_magic_hex"] = image[:8].hex()
    return frame


def sequence_diff(expected: Sequence[dict[str, Any]], got: Sequence[dict[str, Any]]) -> list[str]:
    """Frame kinds in order (collapsible runs counted once), then each frame's shape."""
    exp, act = collapse(expected), collapse(got)
    ek, gk = [frame_kind(f) for f in exp], [frame_kind(f) for f in act]
    if ek != gk:
        return [f"frame types differ:\n    expected {ek}\n    got      {gk}"]
    out: list[str] = []
    for i, (e, g) in enumerate(zip(exp, act, strict=True)):
        where = f"frame[{i}]<{ek[i]}>"
        if e.get("kind") == "binary":
            for key in ("event_type_u32be", "image_magic_hex"):
                if e.get(key) != g.get(key):
                    out.append(f"{where}.{key}: expected {e.get(key)!r}, got {g.get(key)!r}")
            if e.get("event_type_u32be") == 1 and e.get("second_u32be") != g.get("second_u32be"):
                out.append(f"{where}: image format {g.get('second_u32be')}, expected PNG (2)")
            if "metadata_json" in e:
                out += shape_diff(e["metadata_json"], g.get("metadata_json"), f"{where}.metadata")
                raw = json.dumps(g.get("metadata_json")).encode()
                if g.get("second_u32be") != len(raw):
                    out.append(f"{where}: metadata length {g.get('second_u32be')} != {len(raw)}")
        else:
            out += shape_diff(e["json"], g["json"], where)
    return out
