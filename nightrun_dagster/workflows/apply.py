"""Applying one variant's params to a template: the exact API-format graph sent to ComfyUI."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.workflows.compat import OUTPUT_CLASSES, is_link, model_refs
from nightrun_dagster.workflows.roles import SEED_INPUTS, VIDEO_LENGTH_INPUTS, Role, prompt_slots
from nightrun_dagster.workflows.samplers import resolve_sampler
from nightrun_dagster.workflows.templates import METADATA_KEY, PlacedError, Template

Graph = dict[str, Any]

CONTROLNET_TYPES = ("canny", "depth", "lineart", "tile", "pose")
# ControlNet type (job file) -> the file the ControlNetLoader loads; override per call.
CONTROLNET_MODELS: Mapping[str, str] = MappingProxyType(
    {t: f"controlnet-{t}-sdxl-1.0.safetensors" for t in CONTROLNET_TYPES}
)
# Template roles that are LoadImage nodes, and the job asset list whose first file they load.
IMAGE_INPUT_ROLES: Mapping[str, str] = MappingProxyType(
    {"base_image": "base_ui_screens", "product_image": "product_images"}
)
# Wan latents are 16-pixel aligned (EmptyHunyuanLatentVideo's width/height step); SD's are 8.
SIZE_MULTIPLE: Mapping[str, int] = MappingProxyType(
    {
        "EmptyHunyuanLatentVideo": 16,
        "WanImageToVideo": 16,
        "WanFirstLastFrameToVideo": 16,
        "EmptySD3LatentImage": 16,
        "EmptyMochiLatentVideo": 16,
        "EmptyCosmosLatentVideo": 16,
        "EmptyLTXVLatentVideo": 32,
    }
)


class ApplyError(ValueError):
    """The params cannot be applied to this template; retrying the same inputs cannot help."""


class MissingInputError(ApplyError, PlacedError):
    """The graph loads an image the job does not have, or that was not uploaded."""

    def __init__(self, role: str, field: str, reason: str) -> None:
        self.role = role
        self.field = field
        super().__init__(field, reason)


class InputsMapError(ApplyError, PlacedError):
    """One `generation.workflow.inputs_map` entry cannot be applied."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        super().__init__(f"generation.workflow.inputs_map[{field!r}]", reason)


@dataclass(frozen=True)
class DegradeRung:
    """One step down the OOM ladder; each rung includes everything above it."""

    level: int
    name: str
    scale: float = 1.0  # width and height factor
    batch_one: bool = False  # every latent batch_size -> 1
    halve_frames: bool = False  # video length halved to a valid Wan length (4k+1)


DEGRADE_LADDER: tuple[DegradeRung, ...] = (
    DegradeRung(0, "none"),
    DegradeRung(1, "resolution_75", scale=0.75),
    DegradeRung(2, "resolution_50", scale=0.5),
    DegradeRung(3, "batch1_half_frames", scale=0.5, batch_one=True, halve_frames=True),
)


def next_rung(rung: DegradeRung | None) -> DegradeRung | None:
    """The rung after `rung` (None: the first real one), or None at the bottom of the ladder."""
    level = 0 if rung is None else rung.level
    return DEGRADE_LADDER[level + 1] if level + 1 < len(DEGRADE_LADDER) else None


def rung_named(name: str) -> DegradeRung:
    for rung in DEGRADE_LADDER:
        if rung.name == name:
            return rung
    raise KeyError(f"no degrade rung {name!r}; rungs: {[r.name for r in DEGRADE_LADDER]}")


def scaled(value: int, scale: float, multiple: int = 8) -> int:
    """`value * scale` rounded half up to a multiple (never below one multiple)."""
    # Half up, not Python's half-to-even, so 360 px at 16 always goes to 368.
    return max(multiple, int(value * scale / multiple + 0.5) * multiple)


def halved_wan_length(frames: int) -> int:
    """Half the clip, still a valid Wan length (4k+1): 49 -> 25, 81 -> 41, 5 -> 1."""
    return 4 * (max(frames - 1, 0) // 4 // 2) + 1


def quote(value: object) -> str:
    """A value inside the prompt's ad-copy convention: one line, no bare double quotes."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(text.replace('"', "’").split())


def hex_color(color: str) -> str:
    """`#abc` / `#AABBCC` -> `#AABBCC` (the emulator parses six digits)."""
    digits = color.strip().lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits.upper()


def compose_prompt(prompt: str, job: CreativeJob | None) -> str:
    """`<prompt>, ad copy: headline "…", brand "…", product "…", price "…", palette #RRGGBB …`,
    the convention the ComfyUI emulator parses; absent parts are left out."""
    if job is None:
        return prompt
    parts = [f'headline "{quote(job.copy_.headline)}"']
    parts.append(f'brand "{quote(job.product.brand)}"')
    parts.append(f'product "{quote(job.product.name)}"')
    if job.product.price is not None:
        parts.append(f'price "{quote(job.product.price)}"')
    text = f"{prompt}, ad copy: " + ", ".join(parts)
    if job.product.brand_colors:
        text += ", palette " + " ".join(hex_color(c) for c in job.product.brand_colors)
    return text


def build_graph(
    template: Template,
    params: Mapping[str, Any],
    *,
    job: CreativeJob | None = None,
    uploads: Mapping[str, str] | None = None,
    degrade: DegradeRung | None = None,
    controlnet_models: Mapping[str, str] = CONTROLNET_MODELS,
) -> Graph:
    """The graph to POST for one variant: a new dict, without `_workflow_metadata`, identical
    for identical inputs. `params` is the variant's params.json document; `job` supplies the ad
    copy, palette, image assets and `inputs_map` values; `uploads` maps job asset paths to the
    names the server gave them. Raises `ApplyError` (or `UnknownSampler`) when the params do
    not fit the template."""
    graph = _fresh_graph(template, params)
    if job is not None and params.get("job_id") not in (None, job.job_id):
        raise ApplyError(f"params are for job {params.get('job_id')!r}, not {job.job_id!r}")
    roles = _roles(template, graph)
    _apply_prompts(template, graph, roles, params, job)
    _apply_sampler(template, graph, roles, params)
    _apply_size(template, graph, roles, params)
    _apply_controlnet(template, graph, roles, params.get("controlnet"), controlnet_models)
    _apply_ipadapter(template, graph, roles, params.get("ipadapter_weight"))
    _apply_images(template, graph, roles, job, uploads)
    _apply_inputs_map(template, graph, roles, params.get("inputs_map"), job, uploads)
    _inject_loras(template, graph, roles, params.get("loras") or ())
    _apply_output(graph, roles, params)
    if degrade is not None:
        _apply_degrade(graph, roles, degrade)
    return graph


def _fresh_graph(template: Template, params: Mapping[str, Any]) -> Graph:
    # Parsed from the file each time: a deep copy by construction, and the bytes are checked
    # against the hash params.json records, so the graph sent is the one that was planned.
    raw = template.path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != template.sha256:
        raise ApplyError(f"{template.path}: changed on disk since it was loaded; reload it")
    planned = params.get("template")
    if isinstance(planned, Mapping):
        if planned.get("id") not in (None, template.template_id):
            raise ApplyError(
                f"params are for template {planned.get('id')!r}, not {template.template_id!r}"
            )
        if planned.get("sha256") not in (None, digest):
            raise ApplyError(
                f"{template.path.name} changed after this variant was planned "
                f"(sha256 {planned.get('sha256')} -> {digest}); plan the night again"
            )
    data = json.loads(raw)
    data.pop(METADATA_KEY, None)
    return data


def _roles(template: Template, graph: Graph) -> dict[str, str | None]:
    roles: dict[str, str | None] = {}
    for role, node_id in (template.metadata.get("nodes") or {}).items():
        if node_id is not None and str(node_id) not in graph:
            raise ApplyError(f"{template.template_id}: role {role} names missing node {node_id}")
        roles[role] = None if node_id is None else str(node_id)
    return roles


def _node(graph: Graph, roles: Mapping[str, str | None], role: str) -> dict[str, Any] | None:
    node_id = roles.get(role)
    return graph[node_id] if node_id is not None and node_id in graph else None


def _apply_prompts(
    template: Template,
    graph: Graph,
    roles: Mapping[str, str | None],
    params: Mapping[str, Any],
    job: CreativeJob | None,
) -> None:
    positive = roles.get(Role.positive)
    if positive is not None and positive in graph:
        slots = _prompt_slots(template, graph, Role.positive, positive)
        base = params.get("prompt") or (graph[slots[0][0]]["inputs"][slots[0][1]] if slots else "")
        _set_text(graph, slots, compose_prompt(base, job))
    negative = roles.get(Role.negative)
    if negative is not None and negative in graph and params.get("negative") is not None:
        _set_text(
            graph, _prompt_slots(template, graph, Role.negative, negative), params["negative"]
        )


def _prompt_slots(
    template: Template, graph: Graph, role: Role, node_id: str
) -> list[tuple[str, str]]:
    """Where a prompt's text goes: as `template add` recorded it, else found in the encoder."""
    recorded = (template.metadata.get("prompt_inputs") or {}).get(role.value)
    if isinstance(recorded, list) and recorded:
        return [
            (str(n), str(k))
            for n, k in recorded
            if str(n) in graph and isinstance(graph[str(n)]["inputs"].get(k), str)
        ]
    return prompt_slots(graph, node_id)


def _set_text(graph: Graph, slots: list[tuple[str, str]], text: str) -> None:
    for node_id, name in slots:
        graph[node_id]["inputs"][name] = text


def _set_first(
    graph: Graph, node_ids: Sequence[str | None], names: Sequence[str], value: Any
) -> bool:
    """Set `value` on the first of `node_ids` that has one of `names` as a plain value."""
    for node_id in node_ids:
        if node_id is None or node_id not in graph:
            continue
        inputs = graph[node_id]["inputs"]
        for name in names:
            if name in inputs and not is_link(inputs[name]):
                inputs[name] = value
                return True
    return False


def _apply_sampler(
    template: Template,
    graph: Graph,
    roles: Mapping[str, str | None],
    params: Mapping[str, Any],
) -> None:
    sampler = roles.get(Role.sampler)
    if sampler is None or sampler not in graph:
        return
    passes = [p for p in template.metadata.get("second_passes") or () if p in graph]
    noise, sigmas = roles.get(Role.noise), roles.get(Role.sigmas)
    if params.get("seed") is not None:
        # A variant is one seed: every pass that adds noise gets it.
        for node_id in [noise, sampler, *passes]:
            _set_first(graph, [node_id], SEED_INPUTS, params["seed"])
    if params.get("steps") is not None:
        _apply_steps(graph, [sigmas, sampler], passes, int(params["steps"]))
    cfg = params.get("cfg")
    # A guidance-distilled model (Flux) reads its "cfg" from the guidance; its sampler's cfg
    # stays at the 1.0 the workflow was built with.
    if (
        cfg is not None
        and not _set_first(graph, [roles.get(Role.guidance)], ("guidance",), cfg)
        and not _set_first(graph, [sampler, roles.get(Role.guider)], ("cfg",), cfg)
    ):
        raise ApplyError(
            f"{template.template_id}: its sampler ({graph[sampler]['class_type']}) "
            f"has no cfg or guidance to set to {cfg}"
        )
    denoise = params.get("denoise")
    if (
        denoise is not None
        and not _set_first(graph, [sampler, sigmas], ("denoise",), denoise)
        and float(denoise) != 1.0
    ):
        raise ApplyError(
            f"{template.template_id}: its sampler ({graph[sampler]['class_type']}) has no "
            f"denoise to set to {denoise}"
        )
    if params.get("sampler"):
        name_host = roles.get(Role.sampler_select) or sampler
        schedule_host = sampler if "scheduler" in graph[sampler]["inputs"] else sigmas
        current = graph[schedule_host]["inputs"].get("scheduler") if schedule_host else None
        choice = resolve_sampler(params["sampler"], str(current or "normal"))
        _set_first(graph, [name_host], ("sampler_name",), choice.sampler_name)
        _set_first(graph, [schedule_host], ("scheduler",), choice.scheduler)


def _apply_steps(
    graph: Graph, hosts: Sequence[str | None], passes: Sequence[str], steps: int
) -> None:
    host = next(
        (h for h in hosts if h is not None and h in graph and "steps" in graph[h]["inputs"]),
        None,
    )
    if host is None:
        return
    old = graph[host]["inputs"]["steps"]
    graph[host]["inputs"]["steps"] = steps
    if not isinstance(old, int) or isinstance(old, bool) or old <= 0:
        return
    # Passes that split one schedule (SDXL base + refiner, Wan 2.2's high and low noise
    # KSamplerAdvanced) keep their hand-overs at the same fraction of the new schedule.
    for node_id in [host, *passes]:
        inputs = graph[node_id]["inputs"]
        if node_id != host:
            if inputs.get("steps") != old:
                continue
            inputs["steps"] = steps
        for key in ("start_at_step", "end_at_step"):
            at = inputs.get(key)
            if isinstance(at, int) and not isinstance(at, bool) and 0 < at <= old:
                inputs[key] = (
                    steps if at == old else max(1, min(steps - 1, round(at * steps / old)))
                )


def _size_node(graph: Graph, roles: Mapping[str, str | None]) -> dict[str, Any] | None:
    # The node whose width/height set the render size: an empty latent (or image) for txt2img
    # and video, the ImageScale in front of VAEEncode for img2img.
    for role in ("video_latent", "latent", "image_resize"):
        node = _node(graph, roles, role)
        if node is not None and "width" in node["inputs"] and "height" in node["inputs"]:
            return node
    return None


def _apply_size(
    template: Template, graph: Graph, roles: Mapping[str, str | None], params: Mapping[str, Any]
) -> None:
    width, height, frames = params.get("width"), params.get("height"), params.get("frames")
    if width is not None or height is not None:
        node = _size_node(graph, roles)
        if node is None:
            raise ApplyError(f"{template.template_id}: no latent or resize node to size")
        if width is not None:
            node["inputs"]["width"] = width
        if height is not None:
            node["inputs"]["height"] = height
    if frames is not None:
        video = _node(graph, roles, "video_latent")
        if video is None:
            raise ApplyError(f"{template.template_id}: frames={frames} but no video latent")
        name = next((k for k in VIDEO_LENGTH_INPUTS if k in video["inputs"]), "length")
        video["inputs"][name] = frames


def _apply_controlnet(
    template: Template,
    graph: Graph,
    roles: dict[str, str | None],
    controlnet: Mapping[str, Any] | None,
    models: Mapping[str, str],
) -> None:
    # No ControlNet arm: the template's ControlNet runs as it was saved.
    if controlnet is None:
        return
    apply_id = roles.get("controlnet_apply")
    if apply_id is None:
        raise ApplyError(
            f"{template.template_id} has no ControlNet node; the variant asks for "
            f"{controlnet.get('type')} at {controlnet.get('weight')}"
        )
    graph[apply_id]["inputs"]["strength"] = controlnet["weight"]
    loader = _node(graph, roles, "controlnet_loader")
    if loader is not None:
        kind = controlnet.get("type")
        saved = loader["inputs"].get("control_net_name")
        if isinstance(saved, str) and not swappable_controlnet(saved):
            return  # the team's own model stays; fit_problems checked its type at intake
        if kind not in models:
            raise ApplyError(f"no ControlNet model for type {kind!r}; known: {sorted(models)}")
        loader["inputs"]["control_net_name"] = models[kind]


def swappable_controlnet(model: str) -> bool:
    """True for the ControlNet files a job's `type` picks among (our SDXL set); a template
    that loads another file keeps it, whatever type the job names."""
    return model in CONTROLNET_MODELS.values()


def controlnet_type_named(model: str) -> str | None:
    """The ControlNet type a model file's name says (`control_v11p_sd15_canny` -> canny)."""
    lowered = model.lower()
    return next((t for t in CONTROLNET_TYPES if t in lowered), None)


def _apply_ipadapter(
    template: Template, graph: Graph, roles: Mapping[str, str | None], weight: object
) -> None:
    if weight is None:
        return
    node = _node(graph, roles, "ipadapter")
    if node is None:
        raise ApplyError(f"{template.template_id} has no IP-Adapter node for weight {weight}")
    node["inputs"]["weight"] = weight


def _apply_images(
    template: Template,
    graph: Graph,
    roles: Mapping[str, str | None],
    job: CreativeJob | None,
    uploads: Mapping[str, str] | None,
) -> None:
    for role, asset_list in IMAGE_INPUT_ROLES.items():
        node = _node(graph, roles, role)
        if node is None:
            continue
        field = f"assets.{asset_list}[0]"
        if job is None:
            raise MissingInputError(role, field, f"{template.template_id} needs it; no job given")
        files = getattr(job.assets, asset_list) or []
        if not files:
            raise MissingInputError(
                role, field, f"{template.template_id} needs it and the job has none"
            )
        if uploads is None or files[0] not in uploads:
            raise MissingInputError(role, field, f"{files[0]} was not uploaded to the server")
        node["inputs"]["image"] = uploads[files[0]]


_PATH = re.compile(r"[^.\[\]]+(\[\d+\])*(\.[^.\[\]]+(\[\d+\])*)*")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def job_value(doc: Any, path: str) -> Any:
    """The value at a dotted job path (`copy.headline`, `assets.product_images[0]`) in the
    job's JSON document; raises KeyError with the reason."""
    if not _PATH.fullmatch(path):
        raise KeyError("not a field path like copy.headline or assets.product_images[0]")
    value, where = doc, ""
    for name, index in _STEP.findall(path):
        if name:
            if not isinstance(value, Mapping) or name not in value:
                raise KeyError(f"no field {name!r} in {where or 'the job'}")
            value, where = value[name], f"{where}.{name}" if where else name
        else:
            i = int(index)
            if not isinstance(value, list) or i >= len(value):
                size = len(value) if isinstance(value, list) else 0
                raise KeyError(f"{where}[{i}] is out of range ({size} item(s))")
            value, where = value[i], f"{where}[{i}]"
    return value


def _apply_inputs_map(
    template: Template,
    graph: Graph,
    roles: Mapping[str, str | None],
    inputs_map: Mapping[str, Any] | None,
    job: CreativeJob | None,
    uploads: Mapping[str, str] | None,
) -> None:
    if not inputs_map:
        return
    doc = None if job is None else job.model_dump(mode="json", by_alias=True)
    for field, targets in inputs_map.items():
        if doc is None:
            raise InputsMapError(field, "no job was given to read it from")
        try:
            value = job_value(doc, field)
        except KeyError as exc:
            raise InputsMapError(field, exc.args[0]) from None
        if value is None:
            raise InputsMapError(field, "is not set in the job")
        if isinstance(value, dict | list):
            raise InputsMapError(field, "is an object or a list; map a single value")
        if field.startswith("assets.") and isinstance(value, str):
            if uploads is None or value not in uploads:
                raise InputsMapError(field, f"{value} was not uploaded to the server")
            value = uploads[value]
        for target in [targets] if isinstance(targets, str) else targets:
            if not isinstance(target, str):
                raise InputsMapError(field, f"target {target!r} is not a 'node.input' string")
            node_id, input_name = _target(template, graph, roles, field, target)
            _set_mapped(graph, roles, field, node_id, input_name, value)


def _target(
    template: Template, graph: Graph, roles: Mapping[str, str | None], field: str, target: str
) -> tuple[str, str]:
    node_ref, _, input_name = target.rpartition(".")
    if not node_ref or not input_name:
        raise InputsMapError(field, f"target {target!r} is not 'node.input' or 'role.input'")
    if node_ref in graph:
        return node_ref, input_name
    if node_ref in roles:
        node_id = roles[node_ref]
        if node_id is None:
            raise InputsMapError(
                field, f"target {target!r}: {template.template_id} has no {node_ref} node"
            )
        return node_id, input_name
    raise InputsMapError(
        field, f"target {target!r}: no node or role {node_ref!r} in {template.template_id}"
    )


def _set_mapped(
    graph: Graph,
    roles: Mapping[str, str | None],
    field: str,
    node_id: str,
    input_name: str,
    value: Any,
) -> None:
    inputs = graph[node_id]["inputs"]
    if input_name not in inputs:
        cls = graph[node_id]["class_type"]
        raise InputsMapError(field, f"node {node_id} ({cls}) has no input {input_name!r}")
    if is_link(inputs[input_name]):
        raise InputsMapError(field, f"node {node_id}.{input_name} is a link, not a value")
    if input_name == "text" and node_id in (roles.get("positive"), roles.get("negative")):
        # Prompts are composed, never replaced: the variant's prompt and the ad-copy suffix
        # stay, and the mapped value joins them unless it is already there (a headline is).
        text, piece = str(inputs["text"]), quote(value)
        if piece not in text:
            inputs["text"] = f"{text}, {piece}"
        return
    inputs[input_name] = value


def _max_id(graph: Graph) -> int:
    return max((int(k) for k in graph if k.isdigit()), default=0)


def _clip_root(graph: Graph, link: Any) -> list[Any] | None:
    """Follow a CLIP link upstream to the loader that produces it."""
    seen: set[str] = set()
    while is_link(link):
        source_id, index = link
        source = graph.get(source_id)
        if source is None:
            return None
        upstream = source["inputs"].get("clip")
        if not is_link(upstream) or source_id in seen:
            return [source_id, index]
        seen.add(source_id)
        link = upstream
    return None


def _inject_loras(
    template: Template,
    graph: Graph,
    roles: Mapping[str, str | None],
    loras: Sequence[Mapping[str, Any]],
) -> None:
    arms = [a for a in loras if a.get("enabled") and a.get("weight") is not None]
    if not arms:
        return
    if roles.get("checkpoint") is not None:
        ckpt = roles["checkpoint"]
        model_src, clip_src = [ckpt, 0], [ckpt, 1]
    elif roles.get("unet") is not None:
        # Wan: the MODEL comes from UNETLoader, the CLIP from a separate CLIPLoader that we find
        # through the positive prompt's clip input.
        model_src = [roles["unet"], 0]
        positive = _node(graph, roles, "positive")
        clip_src = _clip_root(graph, positive["inputs"].get("clip")) if positive else None
        if clip_src is None:
            raise ApplyError(f"{template.template_id}: no CLIP loader to chain LoRAs from")
    else:
        raise ApplyError(f"{template.template_id} has no checkpoint or UNet to put LoRAs on")
    # Every consumer of the loader's MODEL / CLIP (KSampler, IPAdapter loader, ModelSamplingSD3,
    # text encoders…) now reads the end of the chain, so the LoRAs sit right after the loader.
    first_new = _max_id(graph) + 1
    last = str(first_new + len(arms) - 1)
    for node in graph.values():
        for key, value in node["inputs"].items():
            if value == model_src:
                node["inputs"][key] = [last, 0]
            elif value == clip_src:
                node["inputs"][key] = [last, 1]
    prev_model, prev_clip = model_src, clip_src
    for offset, arm in enumerate(arms):
        node_id = str(first_new + offset)
        graph[node_id] = {
            "class_type": "LoraLoader",
            "inputs": {
                "model": list(prev_model),
                "clip": list(prev_clip),
                "lora_name": arm["path"],
                "strength_model": arm["weight"],
                "strength_clip": arm["weight"],
            },
            "_meta": {"title": f"LoRA: {arm.get('name', arm['path'])}"},
        }
        prev_model, prev_clip = [node_id, 0], [node_id, 1]


def output_prefix(params: Mapping[str, Any]) -> str:
    """`nightrun/<job_key>/<night>/<variant_id>`: the emulator counts renders by it."""
    missing = [k for k in ("job_key", "night", "variant_id") if not params.get(k)]
    if missing:
        raise ApplyError(f"params lack {', '.join(missing)} for the output prefix")
    return f"nightrun/{params['job_key']}/{params['night']}/{params['variant_id']}"


def _apply_output(graph: Graph, roles: Mapping[str, str | None], params: Mapping[str, Any]) -> None:
    node = _node(graph, roles, "output")
    if node is None:
        raise ApplyError("the template has no output node")
    node["inputs"]["filename_prefix"] = output_prefix(params)
    # Other image saves (a hires fix's first pass) become previews: a variant keeps one result,
    # and the server's output folder only what the night asked for.
    for node_id, other in graph.items():
        if node_id != roles.get("output") and other["class_type"] == "SaveImage":
            other["class_type"] = "PreviewImage"
            other["inputs"] = {k: v for k, v in other["inputs"].items() if k == "images"}


def _apply_degrade(graph: Graph, roles: Mapping[str, str | None], rung: DegradeRung) -> None:
    if rung.scale != 1.0:
        node = _size_node(graph, roles)
        if node is not None:
            multiple = SIZE_MULTIPLE.get(node["class_type"], 8)
            for key in ("width", "height"):
                node["inputs"][key] = scaled(int(node["inputs"][key]), rung.scale, multiple)
    if rung.batch_one:
        for node in graph.values():
            if isinstance(node["inputs"].get("batch_size"), int):
                node["inputs"]["batch_size"] = 1
    if rung.halve_frames:
        video = _node(graph, roles, "video_latent")
        for name in VIDEO_LENGTH_INPUTS if video is not None else ():
            if isinstance(video["inputs"].get(name), int):
                video["inputs"][name] = halved_wan_length(video["inputs"][name])


def graph_summary(
    graph: Mapping[str, Any], object_info: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What a graph uses, for params.json and checks: model files by folder, node classes,
    output node ids, the LoRA chain in order. `object_info` (optional) decides which classes
    are outputs; otherwise a list of ComfyUI's core output classes does."""
    models: dict[str, set[str]] = {}
    for ref in model_refs(graph):
        models.setdefault(ref.folder, set()).add(ref.name)
    outputs = []
    for node_id, node in graph.items():
        info = (object_info or {}).get(node["class_type"])
        if isinstance(info, Mapping) and "output_node" in info:
            is_output = bool(info["output_node"])
        else:
            is_output = node["class_type"] in OUTPUT_CLASSES
        if is_output:
            outputs.append(node_id)
    loras = [
        {
            "node_id": node_id,
            "lora_name": node["inputs"].get("lora_name"),
            "strength_model": node["inputs"].get("strength_model"),
            "strength_clip": node["inputs"].get("strength_clip"),
        }
        for node_id, node in _lora_chain(graph)
    ]
    return {
        "models": {folder: sorted(names) for folder, names in sorted(models.items())},
        "classes": sorted({str(n["class_type"]) for n in graph.values()}),
        "outputs": outputs,
        "loras": loras,
        "node_count": len(graph),
    }


def _lora_chain(graph: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """LoRA loaders in chain order (upstream first), whatever their ids."""
    loras = {
        k: n for k, n in graph.items() if n["class_type"] in ("LoraLoader", "LoraLoaderModelOnly")
    }

    def depth(node_id: str) -> int:
        steps, seen = 0, {node_id}
        link = loras[node_id]["inputs"].get("model")
        while is_link(link) and link[0] in loras and link[0] not in seen:
            steps += 1
            seen.add(link[0])
            link = loras[link[0]]["inputs"].get("model")
        return steps

    return sorted(loras.items(), key=lambda item: (depth(item[0]), item[0]))
