"""What a node implementation gets besides its inputs: folders, the prompt, progress and pacing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nightrun_dagster.emulator.config import EmulatorConfig
from nightrun_dagster.emulator.files import Folders

T = TypeVar("T")


@dataclass
class NodeContext:
    node_id: str
    class_type: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    folders: Folders
    config: EmulatorConfig
    # progress(value, total, preview PNG bytes or None): progress_state + progress (+ preview)
    progress: Callable[[int, int, bytes | None], Awaitable[None]]
    # pace(fraction): sleep until that fraction of this node's share of render_ms has passed
    pace: Callable[[float], Awaitable[None]]
    oom_check: Callable[[int], None]  # raise an OOM if this many latent pixels is too many
    saved_prefixes: list[str] = field(default_factory=list)
    preview_suffix: str = "abcde"
    info: dict[str, Any] = field(default_factory=dict)  # the class's /object_info entry

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """CPU work off the event loop, so HTTP and websockets stay responsive."""
        return await asyncio.to_thread(fn, *args)
