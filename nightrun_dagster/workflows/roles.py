"""Which node of an API graph plays which part — sampler, prompts, size, output, loaders —
inferred by following links from the sampler, with the server's node schemas for types."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from nightrun_dagster.workflows.compat import is_link
from nightrun_dagster.workflows.schemas import NodeSchemas
from nightrun_dagster.workflows.templates import TemplateKind

Graph = Mapping[str, Any]


class Role(StrEnum):
    """Keys of `_workflow_metadata.nodes`: the nodes a variant's parameters are applied to."""

    checkpoint = "checkpoint"
    unet = "unet"
    clip = "clip"
    vae = "vae"
    positive = "positive"
    negative = "negative"
    sampler = "sampler"
    noise = "noise"  # RandomNoise of a SamplerCustomAdvanced: the seed
    guider = "guider"  # CFGGuider / BasicGuider: cfg
    sigmas = "sigmas"  # BasicScheduler & co: steps, scheduler, denoise
    sampler_select = "sampler_select"  # KSamplerSelect: sampler_name
    guidance = "guidance"  # FluxGuidance: a guidance-distilled model's "cfg"
    latent = "latent"
    video_latent = "video_latent"
    image_resize = "image_resize"
    output = "output"
    controlnet_apply = "controlnet_apply"
    controlnet_loader = "controlnet_loader"
    ipadapter = "ipadapter"
    base_image = "base_image"
    product_image = "product_image"


SAMPLER_CLASSES = frozenset(
    {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
)
# Inputs that hold a prompt's text, in the order encoders name them (CLIPTextEncode, SDXL's
# text_g/text_l, Flux's clip_l/t5xxl, and `value` of a string primitive feeding one).
PROMPT_INPUTS = ("text", "text_g", "text_l", "clip_l", "t5xxl", "prompt", "value", "string")
SEED_INPUTS = ("seed", "noise_seed")
# The prompt input of a node that makes the picture itself (an API node), in preference order.
GENERATOR_PROMPTS = ("prompt", "positive_prompt", "text", "prompt_text")
SAVE_VIDEO_CLASSES = frozenset(
    {"SaveVideo", "SaveWEBM", "SaveAnimatedWEBP", "SaveAnimatedPNG", "VHS_VideoCombine"}
)
PREVIEW_CLASSES = frozenset({"PreviewImage", "PreviewAny", "MaskPreview", "PreviewAudio"})
IMAGE_LOADERS = frozenset({"LoadImage", "LoadImageMask", "LoadImageOutput"})
IPADAPTER_CLASSES = frozenset(
    {"IPAdapterAdvanced", "IPAdapter", "IPAdapterFaceID", "IPAdapterBatch", "IPAdapterPlus"}
)
# Latent nodes whose frame count is an input: the template renders video.
VIDEO_LENGTH_INPUTS = ("length", "frames", "video_frames", "num_frames")
_SCREEN_HINT = re.compile(r"screen|\bui\b|_ui|ui_|app|base|background", re.IGNORECASE)
_PRODUCT_HINT = re.compile(r"product|packshot|item|subject|reference|ref\b", re.IGNORECASE)

TWO_PASS_RULE = (
    "the sampler is the first pass (its latent does not come from another sampler) that leads "
    "to the output; later passes (refiner, hires fix) keep their settings, get the variant's "
    "seed and prompts, and keep their share of a split schedule"
)


NO_SAMPLER = (
    "no sampler: the graph needs a KSampler, KSamplerAdvanced, SamplerCustom or "
    "SamplerCustomAdvanced (or a node that makes the picture from a prompt) that makes the image"
)


class RoleError(ValueError):
    """The graph lacks a part every template needs (a sampler, a prompt, an output)."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__("; ".join(missing))


@dataclass
class RoleInference:
    """What the inference decided, with the reasons a person would want to read."""

    nodes: dict[str, str | None]
    kind: TemplateKind
    second_passes: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    prompt_inputs: dict[str, list[list[str]]] = field(default_factory=dict)


class _Walker:
    """Link-following helpers over one graph."""

    def __init__(self, graph: Graph, schemas: NodeSchemas) -> None:
        self.graph = graph
        self.schemas = schemas
        self._upstream: dict[str, dict[str, None]] = {}

    def cls(self, node_id: str) -> str:
        return str(self.graph[node_id].get("class_type", ""))

    def inputs(self, node_id: str) -> Mapping[str, Any]:
        return self.graph[node_id].get("inputs") or {}

    def links(self, node_id: str) -> Iterator[tuple[str, str, int]]:
        """(input name, source id, source output) of every linked input that resolves."""
        for name, value in self.inputs(node_id).items():
            if is_link(value) and value[0] in self.graph:
                yield name, value[0], value[1]

    def link(self, node_id: str, name: str) -> tuple[str, int] | None:
        value = self.inputs(node_id).get(name)
        return (value[0], value[1]) if is_link(value) and value[0] in self.graph else None

    def input_type(self, node_id: str, name: str) -> str | None:
        """The input's type from the schema, else from what feeds it, else from its name."""
        known = self.schemas.input_type(self.cls(node_id), name)
        if known:
            return known
        source = self.link(node_id, name)
        if source is not None:
            produced = self.schemas.output_type(self.cls(source[0]), source[1])
            if produced:
                return produced
        return _TYPE_BY_NAME.get(name)

    def output_type(self, node_id: str, index: int) -> str | None:
        return self.schemas.output_type(self.cls(node_id), index)

    def typed_links(self, node_id: str, kind: str) -> list[tuple[str, str, int]]:
        return [t for t in self.links(node_id) if self.input_type(node_id, t[0]) == kind]

    def upstream(self, node_id: str) -> dict[str, None]:
        """Every node `node_id` depends on, nearest first (a dict: ordered, quick to test).
        The order decides which of two candidates a role gets, so it must not follow set
        iteration (string hashing changes it from run to run)."""
        cached = self._upstream.get(node_id)
        if cached is not None:
            return cached
        found: dict[str, None] = {}
        queue = [node_id]
        for current in queue:
            for _, source, _ in self.links(current):
                if source not in found and source != node_id:
                    found[source] = None
                    queue.append(source)
        self._upstream[node_id] = found
        return found

    def root(self, node_id: str, name: str, kind: str) -> str | None:
        """Follow a `kind` link (MODEL, CLIP, VAE …) upstream to the node that makes it."""
        seen: set[str] = set()
        source = self.link(node_id, name)
        while source is not None and source[0] not in seen:
            seen.add(source[0])
            nxt = self.typed_links(source[0], kind)
            if not nxt:
                return source[0]
            source = (nxt[0][1], nxt[0][2])
        return None

    def numeric(self, node_id: str, name: str) -> Any:
        value = self.inputs(node_id).get(name)
        return None if is_link(value) else value


_TYPE_BY_NAME = {
    "model": "MODEL",
    "clip": "CLIP",
    "vae": "VAE",
    "positive": "CONDITIONING",
    "negative": "CONDITIONING",
    "conditioning": "CONDITIONING",
    "latent_image": "LATENT",
    "samples": "LATENT",
    "pixels": "IMAGE",
    "image": "IMAGE",
    "images": "IMAGE",
    "guider": "GUIDER",
    "sigmas": "SIGMAS",
    "noise": "NOISE",
    "sampler": "SAMPLER",
    "control_net": "CONTROL_NET",
}


def infer_roles(graph: Graph, schemas: NodeSchemas) -> RoleInference:
    """The roles of an API-format graph. Raises `RoleError` naming every missing part."""
    w = _Walker(graph, schemas)
    samplers = [n for n in graph if _is_sampler(w, n)]
    every_output = [n for n in graph if schemas.is_output_node(w.cls(n))]
    outputs = [n for n in every_output if _saves_pictures(w, n)]
    if every_output and not outputs:
        kinds = ", ".join(f"node {n} ({w.cls(n)})" for n in every_output)
        raise RoleError(
            [
                f"no image or video output: the output nodes ({kinds}) save something else "
                "(a latent, audio, 3D, text); a night renders images and videos"
            ]
        )
    if not outputs:
        missing = ["no output node: add a SaveImage (or SaveVideo) at the end of the graph"]
        if not samplers and not _generators(w, outputs):
            missing.insert(0, NO_SAMPLER)
        raise RoleError(missing)
    if not samplers:
        generators = _generators(w, outputs)
        if not generators:
            raise RoleError([NO_SAMPLER])
        return _generator_roles(w, generators[0], outputs)
    nodes: dict[str, str | None] = {role.value: None for role in Role}
    notes: list[str] = []
    first = [s for s in samplers if not any(_is_sampler(w, u) for u in _latent_chain(w, s))]
    feeding = [s for s in first if any(s in w.upstream(o) for o in outputs)]
    candidates = feeding or first or samplers
    sampler = candidates[0]
    if len(candidates) > 1:
        notes.append(
            f"{len(candidates)} first-pass samplers ({', '.join(candidates)}); "
            f"node {sampler} is the sampler"
        )
    later = [s for s in samplers if s != sampler and sampler in w.upstream(s)]
    if later:
        notes.append(
            f"two-pass graph: node {sampler} ({w.cls(sampler)}) is the sampler; "
            f"{', '.join(f'{s} ({w.cls(s)})' for s in later)} "
            f"refine{'s' if len(later) == 1 else ''} its result — " + TWO_PASS_RULE
        )
    nodes[Role.sampler] = sampler
    _sampler_parts(w, sampler, nodes)
    output = _pick_output(w, outputs, sampler, later, notes)
    nodes[Role.output] = output
    _prompts(w, sampler, nodes, notes)
    _models(w, sampler, nodes)
    _size(w, sampler, nodes)
    _control(w, sampler, nodes)
    _images(w, nodes, notes)
    if nodes[Role.positive] is None:
        raise RoleError(
            [
                f"no prompt: the sampler (node {sampler}, {w.cls(sampler)}) gets its positive "
                "conditioning from no text encoder (CLIPTextEncode or similar)"
            ]
        )
    kind = _kind(w, output, nodes)
    return RoleInference(
        nodes=nodes,
        kind=kind,
        second_passes=later,
        defaults=_defaults(w, nodes, kind),
        notes=notes,
        prompt_inputs=_prompt_slots(w, _encoders(w, nodes, later)),
    )


def _generators(w: _Walker, outputs: list[str]) -> list[str]:
    """Nodes that make the picture without a sampler (API nodes: Ideogram, GPT Image, Veo …):
    a prompt in, an image or video out, on the way to an output. Nearest the output first."""
    found = []
    for output in outputs:
        for node_id in sorted(w.upstream(output), key=lambda n: -len(w.upstream(n))):
            inputs = w.inputs(node_id)
            makes = set(w.schemas.output_types(w.cls(node_id))) & {"IMAGE", "VIDEO"}
            if makes and any(isinstance(inputs.get(k), str) for k in GENERATOR_PROMPTS):
                found.append(node_id)
    return list(dict.fromkeys(found))


def _generator_roles(w: _Walker, generator: str, outputs: list[str]) -> RoleInference:
    nodes: dict[str, str | None] = {role.value: None for role in Role}
    nodes[Role.sampler] = nodes[Role.positive] = generator
    inputs = w.inputs(generator)
    if isinstance(inputs.get("negative_prompt"), str):
        nodes[Role.negative] = generator
    if _has_int(w, generator, "width") and _has_int(w, generator, "height"):
        nodes[Role.latent] = generator
    notes = [
        f"no sampler: node {generator} ({w.cls(generator)}) makes the picture; each variant's "
        "prompt and seed go to it"
    ]
    output = _pick_output(w, outputs, generator, [], notes)
    nodes[Role.output] = output
    _images(w, nodes, notes)
    kind = _kind(w, output, nodes)
    prompt = next(k for k in GENERATOR_PROMPTS if isinstance(inputs.get(k), str))
    slots = {Role.positive.value: [[generator, prompt]]}
    if nodes[Role.negative] is not None:
        slots[Role.negative.value] = [[generator, "negative_prompt"]]
    return RoleInference(
        nodes=nodes, kind=kind, defaults=_defaults(w, nodes, kind), notes=notes, prompt_inputs=slots
    )


def _encoders(
    w: _Walker, nodes: Mapping[str, str | None], later: list[str]
) -> dict[Role, list[str]]:
    """Each prompt's encoders: the sampler's, then those of later passes that encode their
    own text (an SDXL refiner's CLIPTextEncodeSDXLRefiner): a variant's prompt reaches all."""
    found: dict[Role, list[str]] = {}
    for role in (Role.positive, Role.negative):
        first = nodes[role]
        if first is None:
            continue
        found[role] = [first]
        for node_id in later:
            host = w.link(node_id, "guider")
            conds = w.inputs(host[0] if host else node_id)
            name = role.value if role.value in conds else "conditioning"
            if role is Role.negative and "negative" not in conds:
                continue
            extra = _trace_encoder(w, w.link(host[0] if host else node_id, name))
            if extra not in (None, ZEROED) and extra not in found[role]:
                found[role].append(extra)
    return found


def _prompt_slots(w: _Walker, encoders: Mapping[Role, list[str]]) -> dict[str, list[list[str]]]:
    """[node, input] pairs that hold each prompt's text (the string primitive a linked text
    input reads, SDXL's text_g and text_l, Flux's clip_l and t5xxl)."""
    slots: dict[str, list[list[str]]] = {}
    for role, nodes in encoders.items():
        found = []
        for encoder in nodes:
            found += [[node_id, name] for node_id, name in prompt_slots(w.graph, encoder)]
        slots[role.value] = found
    return slots


def prompt_slots(graph: Graph, encoder: str) -> list[tuple[str, str]]:
    """(node, input) pairs holding an encoder's prompt text: SDXL's text_g and text_l, Flux's
    clip_l and t5xxl, or the string primitive a linked text input reads."""
    slots = []
    inputs = graph[encoder].get("inputs") or {}
    for name in PROMPT_INPUTS:
        value = inputs.get(name)
        if isinstance(value, str):
            slots.append((encoder, name))
        elif is_link(value) and value[0] in graph:
            source = graph[value[0]].get("inputs") or {}
            held = next((k for k in PROMPT_INPUTS if isinstance(source.get(k), str)), None)
            if held is not None:
                slots.append((value[0], held))
    return slots


def _saves_pictures(w: _Walker, node_id: str) -> bool:
    """An output that takes an image or a video (one whose inputs nobody typed counts too)."""
    types = [w.input_type(node_id, name) for name in w.inputs(node_id)]
    linked = [t for t, v in zip(types, w.inputs(node_id).values(), strict=True) if is_link(v)]
    return not linked or any(t in (None, "IMAGE", "VIDEO", "*") for t in linked)


def _is_sampler(w: _Walker, node_id: str) -> bool:
    cls = w.cls(node_id)
    if cls in SAMPLER_CLASSES:
        return True
    # A custom sampler: turns a latent into a latent under conditioning or a guider.
    names = set(w.inputs(node_id))
    return (
        "LATENT" in w.schemas.output_types(cls)
        and "latent_image" in names
        and bool(names & {"positive", "guider"})
    )


def _latent_chain(w: _Walker, node_id: str) -> set[str]:
    """Nodes upstream of a sampler's latent input."""
    source = w.link(node_id, "latent_image")
    if source is None:
        return set()
    return {source[0], *w.upstream(source[0])}


def _sampler_parts(w: _Walker, sampler: str, nodes: dict[str, str | None]) -> None:
    for role, name in (
        (Role.noise, "noise"),
        (Role.guider, "guider"),
        (Role.sigmas, "sigmas"),
        (Role.sampler_select, "sampler"),
    ):
        source = w.link(sampler, name)
        if source is not None:
            nodes[role] = source[0]


def _pick_output(
    w: _Walker, outputs: list[str], sampler: str, later: list[str], notes: list[str]
) -> str:
    def rank(node_id: str) -> tuple[int, int, int]:
        above = w.upstream(node_id)
        saves = w.cls(node_id) not in PREVIEW_CLASSES
        passes = sum(1 for s in [sampler, *later] if s in above)
        return (int(sampler in above), int(saves), passes)

    ordered = sorted(outputs, key=rank, reverse=True)
    chosen = ordered[0]
    others = [o for o in outputs if o != chosen and w.cls(o) not in PREVIEW_CLASSES]
    if others:
        notes.append(
            f"output is node {chosen} ({w.cls(chosen)}); at render time the other image "
            f"saves ({', '.join(others)}) become previews, so each variant keeps one result"
        )
    return chosen


def _is_encoder(w: _Walker, node_id: str) -> bool:
    inputs = w.inputs(node_id)
    has_text = any(k in inputs for k in PROMPT_INPUTS)
    has_clip = any(w.input_type(node_id, k) == "CLIP" for k in inputs)
    return has_text and (has_clip or "CONDITIONING" in w.schemas.output_types(w.cls(node_id)))


ZEROED = "zeroed"


def _trace_encoder(w: _Walker, start: tuple[str, int] | None) -> str | None:
    """Follow conditioning upstream (ControlNet, guidance, combine, zero-out, video latents …)
    to the text encoder it came from; ZEROED when it is another prompt zeroed out."""
    seen: set[str] = set()
    zeroed = False
    current = start
    while current is not None and current[0] not in seen:
        node_id, index = current
        seen.add(node_id)
        if _is_encoder(w, node_id):
            return ZEROED if zeroed else node_id
        cls = w.cls(node_id)
        if cls == "ConditioningZeroOut":
            zeroed = True
        conds = w.typed_links(node_id, "CONDITIONING")
        if not conds:
            return None
        names = w.schemas.output_names(cls)
        wanted = names[index].lower() if index < len(names) else ""
        by_name = {name: (src, out) for name, src, out in conds}
        # Pass-through nodes name their outputs after their inputs (positive -> positive).
        pick = by_name.get(wanted) or by_name.get("conditioning") or (conds[0][1], conds[0][2])
        if wanted == "negative" and "negative" not in by_name:
            return None
        current = pick
    return None


def _prompts(w: _Walker, sampler: str, nodes: dict[str, str | None], notes: list[str]) -> None:
    host = nodes[Role.guider] or sampler
    positive_in = "positive" if "positive" in w.inputs(host) else "conditioning"
    if "cond1" in w.inputs(host):
        positive_in = "cond1"
    positive = _trace_encoder(w, w.link(host, positive_in))
    if positive == ZEROED:
        positive = None
    nodes[Role.positive] = positive
    negative = _trace_encoder(w, w.link(host, "negative"))
    if negative == ZEROED or (negative is not None and negative == positive):
        notes.append("the negative conditioning is the prompt zeroed out: no negative prompt")
        negative = None
    nodes[Role.negative] = negative
    for role in (Role.positive, Role.negative):
        encoder = nodes[role]
        slots = prompt_slots(w.graph, encoder) if encoder is not None else []
        text = next((n for n, _ in slots if n != encoder), None)
        if text is not None:
            notes.append(f"the {role} prompt's text comes from node {text}")
    # Flux's guidance lives on the conditioning path between the encoder and the sampler, or
    # on the encoder itself (CLIPTextEncodeFlux).
    if positive is not None and _has_number(w, positive, "guidance"):
        nodes[Role.guidance] = positive
        return
    for node_id in [*w.upstream(host), host]:
        if w.cls(node_id) == "FluxGuidance" and positive in w.upstream(node_id):
            nodes[Role.guidance] = node_id
            break


def _has_number(w: _Walker, node_id: str, name: str) -> bool:
    value = w.inputs(node_id).get(name)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _models(w: _Walker, sampler: str, nodes: dict[str, str | None]) -> None:
    host = nodes[Role.guider] if "model" not in w.inputs(sampler) else sampler
    loader = w.root(host, "model", "MODEL") if host else None
    if loader is not None:
        inputs = w.inputs(loader)
        if "ckpt_name" in inputs:
            nodes[Role.checkpoint] = loader
        elif "unet_name" in inputs or "CLIP" not in w.schemas.output_types(w.cls(loader)):
            nodes[Role.unet] = loader
    for node_id in [host, *(w.upstream(host) if host else ())]:
        if node_id and w.cls(node_id) in IPADAPTER_CLASSES:
            nodes[Role.ipadapter] = node_id
            break
    encoder = nodes[Role.positive]
    if encoder is not None:
        clip_input = next((k for k in w.inputs(encoder) if w.input_type(encoder, k) == "CLIP"), "")
        clip = w.root(encoder, clip_input, "CLIP") if clip_input else None
        if clip is not None and clip != nodes[Role.checkpoint]:
            nodes[Role.clip] = clip
    decoders = [n for n in w.graph if "VAE" in (w.input_type(n, k) for k in w.inputs(n))]
    for decoder in decoders:
        vae_input = next(k for k in w.inputs(decoder) if w.input_type(decoder, k) == "VAE")
        vae = w.root(decoder, vae_input, "VAE")
        if vae is not None and vae != nodes[Role.checkpoint] and "vae_name" in w.inputs(vae):
            nodes[Role.vae] = vae
            break


def _size(w: _Walker, sampler: str, nodes: dict[str, str | None]) -> None:
    seen: set[str] = set()
    source = w.link(sampler, "latent_image")
    while source is not None and source[0] not in seen:
        node_id = source[0]
        seen.add(node_id)
        inputs = w.inputs(node_id)
        sized = _has_int(w, node_id, "width") and _has_int(w, node_id, "height")
        if sized:
            nodes[Role.latent] = node_id
            if any(_has_int(w, node_id, k) for k in VIDEO_LENGTH_INPUTS):
                nodes[Role.video_latent] = node_id
            return
        pixels = next(
            (name for name, _, _ in w.links(node_id) if w.input_type(node_id, name) == "IMAGE"),
            None,
        )
        if pixels is not None and "LATENT" in w.schemas.output_types(w.cls(node_id)):
            # img2img: the latent is encoded from an image, sized by the resize in front of it.
            nodes[Role.latent] = node_id
            nodes[Role.image_resize] = _resize_before(w, node_id, pixels)
            return
        latents = w.typed_links(node_id, "LATENT")
        if not latents and "samples" in inputs:
            latents = [t for t in w.links(node_id) if t[0] == "samples"]
        source = (latents[0][1], latents[0][2]) if latents else None


def _has_int(w: _Walker, node_id: str, name: str) -> bool:
    value = w.inputs(node_id).get(name)
    return isinstance(value, int) and not isinstance(value, bool)


def _resize_before(w: _Walker, node_id: str, pixels: str) -> str | None:
    seen: set[str] = set()
    source = w.link(node_id, pixels)
    while source is not None and source[0] not in seen:
        current = source[0]
        seen.add(current)
        if _has_int(w, current, "width") and _has_int(w, current, "height"):
            return current
        images = w.typed_links(current, "IMAGE")
        source = (images[0][1], images[0][2]) if images else None
    return None


def _control(w: _Walker, sampler: str, nodes: dict[str, str | None]) -> None:
    host = nodes[Role.guider] or sampler
    for node_id in [host, *w.upstream(host)]:
        cls = w.cls(node_id)
        if cls.startswith("ControlNetApply") and nodes[Role.controlnet_apply] is None:
            nodes[Role.controlnet_apply] = node_id
            loader = w.link(node_id, "control_net")
            if loader is not None and "control_net_name" in w.inputs(loader[0]):
                nodes[Role.controlnet_loader] = loader[0]


def _images(w: _Walker, nodes: dict[str, str | None], notes: list[str]) -> None:
    """Image loaders take the job's images: the product shot, or the app screen an img2img
    starts from. Names and titles decide first; then what the image feeds."""
    loaders = [n for n in w.graph if w.cls(n) in IMAGE_LOADERS]
    if not loaders:
        return
    encoded = set()
    if nodes[Role.latent] is not None:
        encoded = w.upstream(nodes[Role.latent])
    unassigned = []
    for loader in loaders:
        label = (
            f"{w.graph[loader].get('_meta', {}).get('title', '')} {w.inputs(loader).get('image')}"
        )
        if _PRODUCT_HINT.search(label) and nodes[Role.product_image] is None:
            nodes[Role.product_image] = loader
        elif _SCREEN_HINT.search(label) and nodes[Role.base_image] is None:
            nodes[Role.base_image] = loader
        else:
            unassigned.append(loader)
    for loader in unassigned:
        feeds_latent = loader in encoded
        if len(loaders) > 1 and feeds_latent and nodes[Role.base_image] is None:
            nodes[Role.base_image] = loader
        elif nodes[Role.product_image] is None:
            nodes[Role.product_image] = loader
        elif nodes[Role.base_image] is None:
            nodes[Role.base_image] = loader
        else:
            notes.append(
                f"node {loader} ({w.cls(loader)}) loads {w.inputs(loader).get('image')!r} "
                "from the server's input folder on every render: it must be there"
            )


def _kind(w: _Walker, output: str, nodes: dict[str, str | None]) -> TemplateKind:
    cls = w.cls(output)
    if cls in SAVE_VIDEO_CLASSES or any(
        w.input_type(output, k) == "VIDEO" for k in w.inputs(output)
    ):
        return TemplateKind.video
    return TemplateKind.image


def friendly_sampler(sampler_name: Any, scheduler: Any) -> str | None:
    """`dpmpp_2m` + `karras` -> `dpmpp_2m_karras`, the job file's spelling; plain names when
    the scheduler is the sampler's usual one."""
    if not isinstance(sampler_name, str):
        return None
    if isinstance(scheduler, str) and scheduler not in ("normal", ""):
        return f"{sampler_name}_{scheduler}"
    return sampler_name


def _defaults(w: _Walker, nodes: dict[str, str | None], kind: TemplateKind) -> dict[str, Any]:
    sampler = nodes[Role.sampler]
    assert sampler is not None
    step_host = nodes[Role.sigmas] or sampler
    cfg_host = nodes[Role.guider] if "cfg" not in w.inputs(sampler) else sampler
    name_host = nodes[Role.sampler_select] or sampler
    cfg = w.numeric(cfg_host, "cfg") if cfg_host else None
    if nodes[Role.guidance] is not None:
        cfg = w.numeric(nodes[Role.guidance], "guidance")
    denoise = w.numeric(step_host, "denoise")
    size = nodes[Role.video_latent] or nodes[Role.latent]
    if size is None or not _has_int(w, size, "width"):
        size = nodes[Role.image_resize]
    width = w.numeric(size, "width") if size else None
    height = w.numeric(size, "height") if size else None
    frames = None
    if kind is TemplateKind.video and nodes[Role.video_latent] is not None:
        frames = next(
            (
                w.numeric(nodes[Role.video_latent], k)
                for k in VIDEO_LENGTH_INPUTS
                if _has_int(w, nodes[Role.video_latent], k)
            ),
            None,
        )
    scheduler = w.numeric(step_host, "scheduler")
    return {
        "width": width,
        "height": height,
        "steps": w.numeric(step_host, "steps"),
        "cfg": None if cfg is None else float(cfg),
        "sampler": friendly_sampler(w.numeric(name_host, "sampler_name"), scheduler),
        "denoise": None if denoise is None else float(denoise),
        "frames": frames,
    }
