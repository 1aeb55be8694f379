"""The node classes the emulator knows, as `/object_info` serves them for its current models.

Every class of a real ComfyUI 0.3.64 (`data/object_info_full.json`, 478 classes, captured with no
model files and no custom nodes) plus the custom nodes the emulator adds (ComfyUI_IPAdapter_plus).
The twelve classes captured one by one are served from those captures verbatim. Model-file and
upload combos list what this emulator holds, as a real server lists its folders.
"""

from __future__ import annotations

import copy
import functools
import json
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nightrun_dagster.emulator.object_info_captured import CAPTURED
from nightrun_dagster.emulator.object_info_extra import extra_object_info
from nightrun_dagster.workflows.model_inputs import MODEL_INPUTS as LOADER_INPUTS

DATA = Path(__file__).resolve().parent / "data"
FULL_CATALOGUE = DATA / "object_info_full.json"
CLASS_ORDER_FILE = DATA / "class_order.json"

Info = dict[str, Any]
Models = Callable[[str], list[str]]


def _model_inputs() -> dict[str, dict[str, str]]:
    """{class: {input: folder}} of the captured classes' loader inputs (folder_paths.
    get_filename_list(folder)). Config files ship with ComfyUI: the capture's list stands."""
    captured = set(json.loads(CLASS_ORDER_FILE.read_text())["classes"])
    out: dict[str, dict[str, str]] = {}
    for (class_type, name), folder in LOADER_INPUTS.items():
        if class_type in captured and folder != "configs":
            out.setdefault(class_type, {})[name] = folder
    return out


MODEL_INPUTS = _model_inputs()

# Inputs that name a file in the input folder: (class, input) -> lister(input folder).
_3D_SUFFIXES = {".gltf", ".glb", ".obj", ".fbx", ".stl"}


def _files(input_dir: Path) -> list[str]:
    if not input_dir.is_dir():
        return []
    return [p.name for p in input_dir.iterdir() if p.is_file()]


def _of_kind(names: list[str], kind: str) -> list[str]:
    """folder_paths.filter_files_content_types: by the MIME type the extension guesses."""
    guess = mimetypes.guess_type
    return [n for n in names if (guess(n, strict=False)[0] or "").startswith(f"{kind}/")]


def input_images(input_dir: Path) -> list[str]:
    """LoadImage's combo: image files directly in the input folder, sorted."""
    return sorted(_of_kind(_files(input_dir), "image"))


def _input_3d(input_dir: Path) -> list[str]:
    root = input_dir / "3d"
    if not root.is_dir():
        return []
    return sorted(
        p.relative_to(input_dir).as_posix()
        for p in root.rglob("*")
        if p.suffix.lower() in _3D_SUFFIXES
    )


UPLOAD_INPUTS: dict[tuple[str, str], Callable[[Path], list[str]]] = {
    ("LoadImage", "image"): input_images,
    ("LoadImageMask", "image"): lambda d: sorted(_files(d)),
    ("LoadVideo", "file"): lambda d: sorted(_of_kind(_files(d), "video")),
    ("LoadLatent", "latent"): lambda d: sorted(n for n in _files(d) if n.endswith(".latent")),
    ("Load3D", "model_file"): _input_3d,
    ("Load3DAnimation", "model_file"): _input_3d,
}

# Nodes whose VALIDATE_INPUTS / validate_inputs takes these inputs: ComfyUI skips their range and
# combo checks and calls it (LoadImageOutput inherits LoadImage's).
CUSTOM_VALIDATION: dict[str, tuple[str, ...]] = {
    "LoadImage": ("image",),
    "LoadImageMask": ("image",),
    "LoadImageOutput": ("image",),
    "LoadLatent": ("latent",),
    "LoadVideo": ("file",),
}

# server.node_info (V1 classes) and asdict(NodeInfoV1) (V3 classes) key orders: the same keys,
# but V3 lists output_tooltips with the other output keys.
_OUTPUT_KEYS = ("input", "input_order", "output", "output_is_list", "output_name")
_NAMING_KEYS = ("name", "display_name", "description", "python_module", "category", "output_node")
_FLAG_KEYS = ("deprecated", "experimental", "api_node")
_V1_KEYS = (*_OUTPUT_KEYS, *_NAMING_KEYS, "output_tooltips", *_FLAG_KEYS)
_V3_KEYS = (*_OUTPUT_KEYS, "output_tooltips", *_NAMING_KEYS, *_FLAG_KEYS)


_SECTIONS = ("required", "optional", "hidden")


def _served_order(info: Info) -> Info:
    """The captured catalogue has its keys sorted; a server sends them in declaration order:
    the class's keys as node_info / NodeInfoV1 write them, each section's inputs as `input_order`
    lists them.
    (Option dicts such as {"default", "min", …} stay sorted: their order is not recorded.)"""
    v3 = all(k in info for k in ("output_tooltips", "deprecated", "experimental", "api_node"))
    keys = _V3_KEYS if v3 else _V1_KEYS
    out = {k: info[k] for k in keys if k in info}
    out.update({k: v for k, v in info.items() if k not in out})
    # Sections as INPUT_TYPES / get_v1_info make them: required, optional, hidden.
    inputs = info["input"]
    sections = sorted({*inputs, *info["input_order"]}, key=_SECTIONS.index)
    order = {s: info["input_order"][s] for s in sections if s in info["input_order"]}
    out["input_order"] = order
    out["input"] = {}
    for section in sections:
        if section in inputs:
            declared = [n for n in order.get(section, []) if n in inputs[section]]
            out["input"][section] = {
                **{n: inputs[section][n] for n in declared},
                **inputs[section],
            }
    return out


@functools.cache
def real_catalogue() -> dict[str, Info]:
    """The 478 classes of the real server, in its NODE_CLASS_MAPPINGS order."""
    full = json.loads(FULL_CATALOGUE.read_text())
    order = json.loads(CLASS_ORDER_FILE.read_text())["classes"]
    if set(order) != set(full):
        raise RuntimeError(f"{CLASS_ORDER_FILE.name} does not list the classes of the catalogue")
    return {name: CAPTURED.get(name) or _served_order(full[name]) for name in order}


def _extra_names() -> tuple[str, ...]:
    return tuple(extra_object_info(lambda folder: []))


def _class_order() -> tuple[str, ...]:
    # Custom nodes load last; ComfyUI_IPAdapter_plus before the shipped websocket example.
    real = list(real_catalogue())
    at = real.index("SaveImageWebsocket")
    return (*real[:at], *_extra_names(), *real[at:])


CLASS_ORDER: tuple[str, ...] = _class_order()
KNOWN_CLASSES: frozenset[str] = frozenset(CLASS_ORDER)


def _set_options(spec: list[Any], options: list[str]) -> None:
    """A combo's choices, in the V1 (`[[…], {…}]`) or V3 (`["COMBO", {"options": …}]`) form."""
    if spec[0] == "COMBO":
        spec[1]["options"] = options
    else:
        spec[0] = options


def _spec(info: Info, name: str) -> list[Any] | None:
    for section in ("required", "optional"):
        spec = info["input"].get(section, {}).get(name)
        if spec is not None:
            return spec
    return None


def vae_list(models: Models) -> list[str]:
    """VAELoader.vae_list: the VAE files, the TAESD approximations present in vae_approx, and
    `pixel_space`."""
    vaes = list(models("vae"))
    approx = models("vae_approx")
    for name in ("taesd", "taesdxl", "taesd3", "taef1"):
        if any(a.startswith(f"{name}_encoder.") for a in approx) and any(
            a.startswith(f"{name}_decoder.") for a in approx
        ):
            vaes.append(name)
    vaes.append("pixel_space")
    return vaes


def build_object_info(models: Models, input_dir: Path) -> dict[str, Info]:
    """Every class, in ComfyUI's order, with combos listing what this server has.

    Classes without a folder combo are shared with every other call: never mutate them."""
    every = {**real_catalogue(), **extra_object_info(models)}
    out = {name: every[name] for name in CLASS_ORDER}
    for class_type, inputs in MODEL_INPUTS.items():
        info = out[class_type] = copy.deepcopy(out[class_type])
        for name, folder in inputs.items():
            spec = _spec(info, name)
            if spec is not None:
                options = vae_list(models) if class_type == "VAELoader" else models(folder)
                _set_options(spec, options)
    for (class_type, name), lister in UPLOAD_INPUTS.items():
        info = out[class_type] = copy.deepcopy(out[class_type])
        spec = _spec(info, name)
        if spec is not None:
            _set_options(spec, lister(input_dir))
    return out


def model_inputs(class_type: str) -> dict[str, str]:
    """{input name: model folder} for a loader (the emulator's custom nodes included)."""
    return MODEL_INPUTS.get(class_type, {})
