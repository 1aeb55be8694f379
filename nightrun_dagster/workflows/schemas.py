"""A server's node schemas (`GET /object_info`) read as types: what each input and output is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nightrun_dagster.workflows.compat import OUTPUT_CLASSES, combo_choices

WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})


@dataclass(frozen=True)
class NodeSchemas:
    """`/object_info` with typed look-ups; a class it does not list answers None or ()."""

    info: Mapping[str, Any]

    def knows(self, class_type: str) -> bool:
        return isinstance(self.info.get(class_type), Mapping)

    def _inputs(self, class_type: str) -> dict[str, Any]:
        entry = self.info.get(class_type)
        if not isinstance(entry, Mapping) or not isinstance(entry.get("input"), Mapping):
            return {}
        found: dict[str, Any] = {}
        for section in ("required", "optional"):
            specs = entry["input"].get(section)
            if isinstance(specs, Mapping):
                found.update(specs)
        return found

    def input_spec(self, class_type: str, name: str) -> Any:
        return self._inputs(class_type).get(name)

    def input_type(self, class_type: str, name: str) -> str | None:
        """`INT`, `MODEL`, `COMBO`, … for one input; None when the class or input is unknown."""
        spec = self.input_spec(class_type, name)
        if spec is None:
            return None
        if combo_choices(spec) is not None:
            return "COMBO"
        if isinstance(spec, list | tuple) and spec and isinstance(spec[0], str):
            return spec[0]
        return None

    def input_options(self, class_type: str, name: str) -> Mapping[str, Any]:
        spec = self.input_spec(class_type, name)
        if isinstance(spec, list | tuple) and len(spec) > 1 and isinstance(spec[1], Mapping):
            return spec[1]
        return {}

    def output_types(self, class_type: str) -> tuple[str, ...]:
        entry = self.info.get(class_type)
        outputs = entry.get("output") if isinstance(entry, Mapping) else None
        if not isinstance(outputs, list):
            return ()
        return tuple(o if isinstance(o, str) else "COMBO" for o in outputs)

    def output_names(self, class_type: str) -> tuple[str, ...]:
        entry = self.info.get(class_type)
        names = entry.get("output_name") if isinstance(entry, Mapping) else None
        return tuple(str(n) for n in names) if isinstance(names, list) else ()

    def output_type(self, class_type: str, index: int) -> str | None:
        types = self.output_types(class_type)
        return types[index] if 0 <= index < len(types) else None

    def is_output_node(self, class_type: str) -> bool:
        entry = self.info.get(class_type)
        if isinstance(entry, Mapping) and "output_node" in entry:
            return bool(entry["output_node"])
        return class_type in OUTPUT_CLASSES

    def display_name(self, class_type: str) -> str:
        entry = self.info.get(class_type)
        name = entry.get("display_name") if isinstance(entry, Mapping) else None
        return str(name) if name else class_type
