"""A server's duty cycle from its own `execution_start` / `execution_success` timestamps, and the
model-free graph (EmptyImage → ImageBlur → ImageScale → PreviewImage) that any ComfyUI can run."""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nightrun_dagster.comfy.client import ComfyClient

# Every class the bench graph uses; all ship with ComfyUI (nodes.py, nodes_post_processing).
BENCH_CLASSES = ("EmptyImage", "ImageBlur", "ImageScale", "PreviewImage")
BLUR_RADIUS = 15  # the load is the blurred image's size; the kernel stays the same
BLUR_SIGMA = 8.0
COLORS = 1 << 24  # EmptyImage's `color` range: a different one per prompt defeats the cache
_SIZE = re.compile(r"^\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*$")


class BenchInputError(ValueError):
    """A size or option the bench cannot use; the message is one line."""


class ServerLacksNodes(Exception):
    """The server has not every class of BENCH_CLASSES; the message is one line."""


@dataclass(frozen=True)
class Load:
    """The EmptyImage the graph blurs: its size sets how long one render takes."""

    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def parse_load(text: str) -> Load:
    """`1024` (square) or `2048x1024`."""
    match = _SIZE.match(text)
    if not match:
        raise BenchInputError(f"--load {text!r}: give a size like 1024 or 2048x1024")
    width = int(match.group(1))
    height = int(match.group(2) or width)
    if width < 1 or height < 1:
        raise BenchInputError(f"--load {text!r}: width and height must be at least 1")
    return Load(width, height)


def blur_graph(load: Load, out_width: int, out_height: int, color: int) -> dict[str, Any]:
    """One render: a `load`-sized image blurred (the work), scaled to the output size and
    previewed (a temp file: nothing is left in the server's output folder)."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {
                "width": load.width,
                "height": load.height,
                "batch_size": 1,
                "color": color % COLORS,
            },
        },
        "2": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["1", 0], "blur_radius": BLUR_RADIUS, "sigma": BLUR_SIGMA},
        },
        "3": {
            "class_type": "ImageScale",
            "inputs": {
                "image": ["2", 0],
                "upscale_method": "nearest-exact",
                "width": out_width,
                "height": out_height,
                "crop": "disabled",
            },
        },
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }


def describe_graph(load: Load, out_width: int, out_height: int) -> str:
    return (
        f"EmptyImage {load} → ImageBlur radius {BLUR_RADIUS} → ImageScale "
        f"{out_width}x{out_height} → PreviewImage"
    )


def _int_range(object_info: Mapping[str, Any], class_type: str, name: str) -> tuple[int, int]:
    spec = (object_info.get(class_type) or {}).get("input", {}).get("required", {}).get(name)
    options = spec[1] if isinstance(spec, list) and len(spec) > 1 else {}
    return int(options.get("min", 1)), int(options.get("max", 16384))


async def check_server(
    client: ComfyClient, loads: Iterable[Load], out_width: int, out_height: int
) -> dict[str, Any]:
    """What the bench needs from the server: reachable, every BENCH_CLASSES class, and sizes
    within its own EmptyImage / ImageScale limits. Returns its version and device; raises
    ServerLacksNodes or BenchInputError naming what is wrong, ComfyError when it cannot be
    asked."""
    stats = await client.system_stats()
    object_info: dict[str, Any] = {}
    for class_type in BENCH_CLASSES:
        # An unknown class is `200 {}`, as a real server answers.
        object_info.update(await client.object_info(class_type))
    missing = [c for c in BENCH_CLASSES if c not in object_info]
    if missing:
        raise ServerLacksNodes(
            f"--comfy-url {client.base_url}: the server has no {', '.join(missing)} node "
            "(the bench graph needs EmptyImage, ImageBlur, ImageScale and PreviewImage)"
        )
    for load in loads:
        for axis, value in (("width", load.width), ("height", load.height)):
            low, high = _int_range(object_info, "EmptyImage", axis)
            if not low <= value <= high:
                raise BenchInputError(
                    f"--load {load}: the {axis} {value} is outside this server's EmptyImage "
                    f"range {low}..{high}"
                )
    for axis, value in (("width", out_width), ("height", out_height)):
        low, high = _int_range(object_info, "ImageScale", axis)
        if not low <= value <= high:
            raise BenchInputError(
                f"--{axis} {value}: outside this server's ImageScale range {low}..{high}"
            )
    system = stats.get("system") or {}
    devices = stats.get("devices") or [{}]
    return {
        "url": client.base_url,
        "comfyui_version": system.get("comfyui_version"),
        "device": devices[0].get("name"),
    }


@dataclass(frozen=True)
class Execution:
    """One prompt as the server timed it (epoch milliseconds, the server's clock)."""

    prompt_id: str
    start_ms: int
    end_ms: int
    cached_all: bool  # served entirely from the cache: no render


def execution_of(prompt_id: str, entry: Mapping[str, Any]) -> Execution | None:
    """From a `/history` entry's `status.messages`; None unless it started and succeeded."""
    status = entry.get("status") or {}
    messages = {
        kind: data
        for kind, data in status.get("messages", [])
        if isinstance(data, dict) and isinstance(data.get("timestamp"), int)
    }
    if "execution_start" not in messages or "execution_success" not in messages:
        return None
    cached = {str(n) for n in messages.get("execution_cached", {}).get("nodes", [])}
    prompt = entry.get("prompt")
    graph = prompt[2] if isinstance(prompt, list) and len(prompt) > 2 else {}
    return Execution(
        prompt_id,
        messages["execution_start"]["timestamp"],
        messages["execution_success"]["timestamp"],
        bool(graph) and set(graph) <= cached,
    )


@dataclass(frozen=True)
class Duty:
    """Figures over consecutive executions on one server."""

    renders: int  # executed, not served from the cache
    cached: int
    busy_s: float  # Σ (success − start)
    span_s: float  # first start → last success
    median_render_ms: float
    median_gap_ms: float | None  # a prompt's success → the next one's start: per-prompt overhead

    @property
    def duty_cycle(self) -> float | None:
        return self.busy_s / self.span_s if self.span_s > 0 else None


def duty_of(executions: Iterable[Execution]) -> Duty:
    """The duty cycle as the server saw it: busy time over the span from the first start to the
    last success, both on its own clock (a client's clock and its round trips play no part)."""
    runs = sorted(executions, key=lambda e: (e.start_ms, e.end_ms))
    if not runs:
        raise ValueError("no execution with both execution_start and execution_success")
    rendered = [e for e in runs if not e.cached_all]
    busy_ms = sum(e.end_ms - e.start_ms for e in runs)
    gaps = [b.start_ms - a.end_ms for a, b in itertools.pairwise(runs)]
    return Duty(
        renders=len(rendered),
        cached=len(runs) - len(rendered),
        busy_s=busy_ms / 1000,
        span_s=(runs[-1].end_ms - runs[0].start_ms) / 1000,
        median_render_ms=float(statistics.median(e.end_ms - e.start_ms for e in rendered or runs)),
        median_gap_ms=float(statistics.median(gaps)) if gaps else None,
    )
