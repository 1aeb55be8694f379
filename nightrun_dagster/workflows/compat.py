"""Checking a graph against a ComfyUI server's `/object_info` and `/models` (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from nightrun_dagster.workflows.model_inputs import folder_names, model_folder

ProblemKind = Literal["missing_node", "missing_model", "missing_input", "bad_link", "bad_value"]

# Classes whose outputs end a graph (from a real server's /object_info, `output_node: true`);
# used when no object_info is at hand.
OUTPUT_CLASSES: frozenset[str] = frozenset(
    {
        "PreviewAny",
        "PreviewImage",
        "SaveAnimatedPNG",
        "SaveAnimatedWEBP",
        "SaveImage",
        "SaveImageWebsocket",
        "SaveLatent",
        "SaveVideo",
        "SaveWEBM",
        "MaskPreview",
    }
)


@dataclass(frozen=True)
class IPAdapterPreset:
    """The files ComfyUI_IPAdapter_plus' unified loader looks for (it matches by regex)."""

    ipadapter_sdxl: tuple[str, str] | None  # (canonical file, pattern); None: no SDXL model
    ipadapter_sd15: tuple[str, str] | None
    clip_vision: tuple[str, str]


_VIT_H = (
    "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors",
    r"(ViT.H.14.*s32B.b79K|ipadapter.*sd15|sd1.?5.*model\.(bin|safetensors))",
)
_VIT_G = (
    "CLIP-ViT-bigG-14-laion2B-39B-b160k.safetensors",
    r"(ViT.bigG.14.*39B.b160k|ipadapter.*sdxl|sdxl.*model\.(bin|safetensors))",
)
# Patterns as in ComfyUI_IPAdapter_plus utils.get_ipadapter_file / get_clipvision_file.
IPADAPTER_PRESETS: Mapping[str, IPAdapterPreset] = MappingProxyType(
    {
        "LIGHT - SD1.5 only (low strength)": IPAdapterPreset(
            None,
            ("ip-adapter_sd15_light_v11.bin", r"sd15.light(.v11)?\.(safetensors|bin)$"),
            _VIT_H,
        ),
        "STANDARD (medium strength)": IPAdapterPreset(
            ("ip-adapter_sdxl_vit-h.safetensors", r"ip.adapter.sdxl.vit.h\.(safetensors|bin)$"),
            ("ip-adapter_sd15.safetensors", r"ip.adapter.sd15\.(safetensors|bin)$"),
            _VIT_H,
        ),
        "VIT-G (medium strength)": IPAdapterPreset(
            ("ip-adapter_sdxl.safetensors", r"ip.adapter.sdxl\.(safetensors|bin)$"),
            ("ip-adapter_sd15_vit-G.safetensors", r"sd15.vit.g\.(safetensors|bin)$"),
            _VIT_G,
        ),
        "PLUS (high strength)": IPAdapterPreset(
            ("ip-adapter-plus_sdxl_vit-h.safetensors", r"plus.sdxl.vit.h\.(safetensors|bin)$"),
            ("ip-adapter-plus_sd15.safetensors", r"ip.adapter.plus.sd15\.(safetensors|bin)$"),
            _VIT_H,
        ),
        "PLUS FACE (portraits)": IPAdapterPreset(
            (
                "ip-adapter-plus-face_sdxl_vit-h.safetensors",
                r"plus.face.sdxl.vit.h\.(safetensors|bin)$",
            ),
            ("ip-adapter-plus-face_sd15.safetensors", r"plus.face.sd15\.(safetensors|bin)$"),
            _VIT_H,
        ),
        "FULL FACE - SD1.5 only (portraits stronger)": IPAdapterPreset(
            None,
            ("ip-adapter-full-face_sd15.safetensors", r"full.face.sd15\.(safetensors|bin)$"),
            _VIT_H,
        ),
    }
)


@dataclass(frozen=True)
class CompatProblem:
    """One reason the server would refuse (or cannot run) a graph."""

    node_id: str
    class_type: str
    kind: ProblemKind
    detail: str
    # Set on a missing_model problem: the folder and file the server lacks.
    folder: str = ""
    name: str = ""

    def __str__(self) -> str:
        return f"node {self.node_id} ({self.class_type}): {self.detail}"


@dataclass(frozen=True)
class ModelRef:
    """A model file a graph needs. `pattern` is set when the node finds it by regex
    (IP-Adapter presets): then `name` is only the canonical file of that family."""

    node_id: str
    class_type: str
    input_name: str
    folder: str
    name: str
    pattern: str | None = None


def is_link(value: object, *, bool_index: bool = False) -> bool:
    """API-format links are `[node_id, output_index]`. A bool is an int to Python: ComfyUI itself
    takes one as an index (`bool_index`); we do not."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and (bool_index or not isinstance(value[1], bool))
    )


def is_sdxl_model(graph: Mapping[str, Any], link: object) -> bool | None:
    """Follow a MODEL link upstream to its loader; True/False when its file name says SDXL or
    not, None when no loader name is reachable."""
    seen: set[str] = set()
    while is_link(link):
        node_id = link[0]  # type: ignore[index]
        node = graph.get(node_id)
        if not isinstance(node, Mapping) or node_id in seen:
            return None
        seen.add(node_id)
        inputs = node.get("inputs") or {}
        for key in ("ckpt_name", "unet_name"):
            if isinstance(inputs.get(key), str):
                return bool(re.search(r"xl", inputs[key], re.IGNORECASE))
        link = inputs.get("model")
    return None


def model_refs(graph: Mapping[str, Any]) -> list[ModelRef]:
    """Every model file the graph names, in node and input order."""
    refs: list[ModelRef] = []
    for node_id, node in graph.items():
        if not isinstance(node, Mapping):
            continue
        class_type = str(node.get("class_type", ""))
        inputs = node.get("inputs") or {}
        for name, value in inputs.items():
            folder = model_folder(class_type, name)
            if folder and isinstance(value, str):
                refs.append(ModelRef(node_id, class_type, name, folder, value))
        if class_type == "IPAdapterUnifiedLoader":
            refs += _ipadapter_refs(graph, node_id, inputs)
    return refs


def _ipadapter_refs(
    graph: Mapping[str, Any], node_id: str, inputs: Mapping[str, Any]
) -> list[ModelRef]:
    preset = IPADAPTER_PRESETS.get(str(inputs.get("preset")))
    if preset is None:
        return []
    sdxl = is_sdxl_model(graph, inputs.get("model"))
    options = [preset.ipadapter_sdxl] if sdxl else [preset.ipadapter_sd15]
    if sdxl is None:  # unknown base model: either family will do
        options = [preset.ipadapter_sdxl, preset.ipadapter_sd15]
    found = [o for o in options if o is not None]
    refs = []
    if found:
        pattern = "|".join(f"(?:{p})" for _, p in found)
        refs.append(
            ModelRef(node_id, "IPAdapterUnifiedLoader", "preset", "ipadapter", found[0][0], pattern)
        )
    name, pattern = preset.clip_vision
    refs.append(ModelRef(node_id, "IPAdapterUnifiedLoader", "preset", "clip_vision", name, pattern))
    return refs


def combo_choices(spec: object) -> list[Any] | None:
    """The allowed values of a combo input spec: `[[choices...], {opts}]` (ComfyUI <= 0.3.x
    for most nodes) or `["COMBO", {"options": [...]}]` (the newer schema); None otherwise."""
    if not isinstance(spec, list | tuple) or not spec:
        return None
    first = spec[0]
    if isinstance(first, list | tuple):
        return list(first)
    if first == "COMBO":
        opts = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
        options = opts.get("options")
        return list(options) if isinstance(options, list | tuple) else []
    return None


def _spec_options(spec: object) -> Mapping[str, Any]:
    if isinstance(spec, list | tuple) and len(spec) > 1 and isinstance(spec[1], Mapping):
        return spec[1]
    return {}


def _spec_type(spec: object) -> str | None:
    if combo_choices(spec) is not None:
        return "COMBO"
    if isinstance(spec, list | tuple) and spec and isinstance(spec[0], str):
        return spec[0]
    return None


def _folder_names(models: Mapping[str, list[str]], folder: str) -> set[str] | None:
    """Names the server lists for a folder (legacy aliases included); None: not listed."""
    names: set[str] | None = None
    for alias in folder_names(folder):
        if alias in models:
            names = (names or set()) | set(models[alias])
    return names


def check_graph(
    graph: Mapping[str, Any],
    object_info: Mapping[str, Any],
    models: Mapping[str, list[str]],
) -> list[CompatProblem]:
    """Every problem the server would reject the graph for, in graph order: unknown classes,
    missing required inputs, links to missing nodes/outputs or of the wrong type, model files
    the server lacks, values outside a combo list or a numeric range.

    `object_info` is GET /object_info (whole, or just the classes of the graph; an entry
    without `input`, like the summary capture, only proves the class exists). `models` maps a
    folder to GET /models/<folder>; a model is present when either source lists it, and a
    model input is judged only where one of them speaks for its folder."""
    problems: list[CompatProblem] = []
    # Like the server: every node's class must exist, but values, links and models are
    # judged only on nodes an output depends on (a dangling node never runs).
    judged = _feeding_outputs(graph, object_info)
    for node_id, node in graph.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str):
            problems.append(
                CompatProblem(str(node_id), "", "missing_node", "node has no class_type")
            )
            continue
        class_type = node["class_type"]
        info = object_info.get(class_type)
        if not isinstance(info, Mapping):
            detail = f"node class {class_type!r} is not on the server (custom node not installed?)"
            problems.append(CompatProblem(node_id, class_type, "missing_node", detail))
            continue
        if judged is None or node_id in judged:
            problems += _check_node(graph, object_info, models, node_id, node, info)
    return problems


def _feeding_outputs(graph: Mapping[str, Any], object_info: Mapping[str, Any]) -> set[str] | None:
    """Output nodes and everything upstream of them; None when the graph has no output the
    schemas can name (then every node is judged)."""
    outputs = [
        node_id
        for node_id, node in graph.items()
        if isinstance(node, Mapping)
        and isinstance(info := object_info.get(str(node.get("class_type"))), Mapping)
        and info.get("output_node")
    ]
    if not outputs:
        return None
    seen = set(outputs)
    stack = list(outputs)
    while stack:
        node = graph.get(stack.pop())
        for value in (node.get("inputs") or {}).values() if isinstance(node, Mapping) else ():
            if is_link(value) and value[0] not in seen:
                seen.add(value[0])
                stack.append(value[0])
    return seen


def _check_node(
    graph: Mapping[str, Any],
    object_info: Mapping[str, Any],
    models: Mapping[str, list[str]],
    node_id: str,
    node: Mapping[str, Any],
    info: Mapping[str, Any],
) -> list[CompatProblem]:
    class_type = node["class_type"]
    inputs: Mapping[str, Any] = node.get("inputs") or {}
    declared = info.get("input") if isinstance(info.get("input"), Mapping) else None
    required: Mapping[str, Any] = (declared or {}).get("required") or {}
    optional: Mapping[str, Any] = (declared or {}).get("optional") or {}
    out: list[CompatProblem] = []

    def add(kind: ProblemKind, detail: str, folder: str = "", name: str = "") -> None:
        out.append(CompatProblem(node_id, class_type, kind, detail, folder, name))

    for name in required:
        if name not in inputs:
            add("missing_input", f"required input {name!r} is missing")
    for name, value in inputs.items():
        spec = required.get(name, optional.get(name))
        if is_link(value):
            detail = _link_problem(graph, object_info, name, value, spec)
            if detail:
                add("bad_link", detail)
            continue
        folder = model_folder(class_type, name)
        choices = combo_choices(spec)
        if folder is not None and isinstance(value, str):
            listed = _folder_names(models, folder)
            if choices is None and listed is None:
                continue  # nobody told us what this server holds in that folder
            if value not in (choices or ()) and value not in (listed or ()):
                add("missing_model", f"{folder}/{value} is not on the server", folder, value)
            continue
        if spec is not None:
            detail = _value_problem(name, value, spec, choices)
            if detail:
                add("bad_value", detail)
    if class_type == "IPAdapterUnifiedLoader":
        for ref in _ipadapter_refs(graph, node_id, inputs):
            listed = _folder_names(models, ref.folder)
            pattern = ref.pattern or re.escape(ref.name)
            if listed is not None and not any(re.search(pattern, n, re.I) for n in listed):
                add(
                    "missing_model",
                    f"{ref.folder}/{ref.name} is not on the server (preset "
                    f"{inputs.get('preset')!r} needs a file matching /{pattern}/)",
                    ref.folder,
                    ref.name,
                )
    return out


def _link_problem(
    graph: Mapping[str, Any],
    object_info: Mapping[str, Any],
    name: str,
    link: list[Any],
    spec: object,
) -> str | None:
    source_id, index = link
    source = graph.get(source_id)
    if not isinstance(source, Mapping):
        return f"input {name!r} links to node {source_id!r}, which is not in the graph"
    source_info = object_info.get(str(source.get("class_type")))
    outputs = source_info.get("output") if isinstance(source_info, Mapping) else None
    if not isinstance(outputs, list):
        return None  # unknown source class: reported on its own node
    if not 0 <= index < len(outputs):
        return (
            f"input {name!r} links to output {index} of node {source_id} "
            f"({source.get('class_type')}), which has {len(outputs)} output(s)"
        )
    wanted = _spec_type(spec)
    given = outputs[index] if isinstance(outputs[index], str) else "COMBO"
    if wanted is None or wanted == "COMBO" or "*" in (wanted, given):
        return None
    if set(wanted.split(",")) & set(given.split(",")):
        return None
    return (
        f"input {name!r} expects {wanted} but node {source_id} output {index} "
        f"({source.get('class_type')}) is {given}"
    )


def _value_problem(name: str, value: Any, spec: object, choices: list[Any] | None) -> str | None:
    opts = _spec_options(spec)
    if choices is not None:
        # Upload widgets list the input folder as it was when object_info was fetched; the
        # render loop uploads right before submitting, so their names cannot be judged here.
        if any(opts.get(k) for k in ("image_upload", "video_upload", "audio_upload", "upload")):
            return None
        if value in choices:
            return None
        shown = ", ".join(repr(c) for c in choices[:8]) + (", …" if len(choices) > 8 else "")
        return f"{name}: {value!r} is not one of [{shown}]"
    kind = _spec_type(spec)
    if kind in ("INT", "FLOAT"):
        number = _number(value, kind)
        if number is None:
            return f"{name}: {value!r} is not {'an integer' if kind == 'INT' else 'a number'}"
        low, high = opts.get("min"), opts.get("max")
        if isinstance(low, int | float) and number < low:
            return f"{name}: {value!r} is below the minimum {low}"
        if isinstance(high, int | float) and number > high:
            return f"{name}: {value!r} is above the maximum {high}"
    if kind == "STRING" and not isinstance(value, str):
        return f"{name}: {value!r} is not a string"
    if kind == "BOOLEAN" and not isinstance(value, bool):
        return f"{name}: {value!r} is not a boolean"
    return None


def _number(value: Any, kind: str) -> int | float | None:
    # The server converts with int()/float() before range checks, so "64" passes and "abc"
    # is `invalid_input_type`; mirror that.
    if isinstance(value, bool):
        return None
    try:
        return int(value) if kind == "INT" else float(value)
    except (TypeError, ValueError):
        return None


def missing_models(problems: list[CompatProblem]) -> list[str]:
    """`folder/name` of every missing model, once each, for a job's 'blocked' message."""
    names = [f"{p.folder}/{p.name}" for p in problems if p.kind == "missing_model"]
    return list(dict.fromkeys(names))
