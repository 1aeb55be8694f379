"""Execution order and cache keys for one prompt, after ComfyUI's `ExecutionList` and
`CacheKeySetInputSignature` (classic cache: only the previous prompt's results are kept)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from nightrun_dagster.workflows.compat import is_link as api_link


def is_link(value: Any) -> bool:
    """A link as ComfyUI tells one (a bool index counts)."""
    return api_link(value, bool_index=True)


class Signatures:
    """A content hash per node: class, own inputs, upstream signatures, and IS_CHANGED."""

    def __init__(self, prompt: dict[str, Any], is_changed: Callable[[str], Any]) -> None:
        self.prompt = prompt
        self.is_changed = is_changed
        self._memo: dict[str, str] = {}

    def of(self, node_id: str, _seen: frozenset[str] = frozenset()) -> str:
        if node_id in self._memo:
            return self._memo[node_id]
        node = self.prompt.get(node_id)
        if not isinstance(node, dict) or node_id in _seen:
            return f"missing:{node_id}"
        parts: list[Any] = [node.get("class_type"), repr(self.is_changed(node_id))]
        inputs = node.get("inputs") or {}
        for key in sorted(inputs):
            value = inputs[key]
            if is_link(value):
                parts.append([key, "link", self.of(value[0], _seen | {node_id}), value[1]])
            else:
                parts.append([key, value])
        digest = hashlib.sha256(json.dumps(parts, default=repr).encode()).hexdigest()
        self._memo[node_id] = digest
        return digest


class ExecutionList:
    """Nodes needed for the outputs, skipping cached upstream nodes, picked the way ComfyUI's
    `ux_friendly_pick_node` picks them (outputs first, then what feeds an output soonest)."""

    def __init__(
        self,
        prompt: dict[str, Any],
        is_output: Callable[[str], bool],
        is_cached: Callable[[str], bool],
    ) -> None:
        self.prompt = prompt
        self.is_output = is_output
        self.is_cached = is_cached
        self.pending: dict[str, bool] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, bool]] = {}

    def add_outputs(self, outputs: Iterable[str]) -> None:
        for output in outputs:
            self._add(output)

    def _add(self, start: str) -> None:
        stack = [start]
        links: list[tuple[str, str]] = []
        while stack:
            unique_id = stack.pop()
            if unique_id in self.pending:
                continue
            self.pending[unique_id] = True
            self.block_count[unique_id] = 0
            self.blocking.setdefault(unique_id, {})
            for value in self.prompt[unique_id]["inputs"].values():
                if is_link(value):
                    from_id = value[0]
                    if not self.is_cached(from_id):
                        stack.append(from_id)
                        links.append((from_id, unique_id))
        for from_id, to_id in links:
            blocked = self.blocking.setdefault(from_id, {})
            if to_id not in blocked:
                blocked[to_id] = True
                self.block_count[to_id] += 1

    def is_empty(self) -> bool:
        return not self.pending

    def next_node(self) -> str:
        ready = [n for n in self.pending if self.block_count[n] == 0]
        for node_id in ready:
            if self.is_output(node_id):
                return node_id
        for node_id in ready:
            if any(self.is_output(b) for b in self.blocking[node_id]):
                return node_id
        for node_id in ready:
            for b in self.blocking[node_id]:
                if any(self.is_output(b1) for b1 in self.blocking.get(b, {})):
                    return node_id
        return ready[0]

    def complete(self, node_id: str) -> None:
        del self.pending[node_id]
        for blocked in self.blocking.pop(node_id, {}):
            self.block_count[blocked] -= 1

    def order(self) -> list[str]:
        """The whole order up front (no lazy inputs here, so it is fixed); empties the list."""
        out = []
        while not self.is_empty():
            node_id = self.next_node()
            out.append(node_id)
            self.complete(node_id)
        return out
