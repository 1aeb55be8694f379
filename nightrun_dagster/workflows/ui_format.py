"""UI-format ComfyUI workflows (what "Save" writes: `nodes`, `links`, widget values) to the API
format ComfyUI runs, the way ComfyUI's own frontend does it (`app.graphToPrompt()`), using the
server's `/object_info`. Pure: stdlib only, no I/O.

The rules follow the frontend ComfyUI 0.3.64 ships (comfyui-frontend-package 1.27.10):
`src/utils/executionUtil.ts` (graphToPrompt), `ExecutableNodeDTO` / `SubgraphNode`
(flattening, bypass, reroutes), `litegraphService.registerNodeDef` (which inputs become widgets
and in what order), the widget composables (`useIntWidget`: control_after_generate), and the
core extensions that add or rewrite widgets (`uploadImage`, `uploadAudio`, `previewAny`,
`widgetInputs` (PrimitiveNode), `dynamicPrompts`, `saveImageExtraOutput`). Where the frontend
would throw or silently do something broken (a link to a missing node, a PrimitiveNode inside a
subgraph, a subgraph input wired straight to an output), this module does the sensible thing
and says so in `Conversion.notes`.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from nightrun_dagster.workflows.compat import combo_choices

METADATA_KEY = "_workflow_metadata"

_NEVER, _BYPASS = 2, 4  # LGraphEventMode: mode 2 is "muted", 4 "bypassed"
_SUBGRAPH_INPUT_ID, _SUBGRAPH_OUTPUT_ID = -10, -20
_NOTE_TYPES = frozenset({"Note", "MarkdownNote"})
# Frontend-only nodes of popular extensions (never on the server): rgthree's reroute passes its
# one input through; KJNodes' SetNode/GetNode are a named wire (Get reads the Set of that name).
_REROUTE_TYPES = frozenset({"Reroute", "Reroute (rgthree)"})
_SET_TYPES = frozenset({"SetNode"})
_GET_TYPES = frozenset({"GetNode"})
_CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize", "increment-wrap"})
_SEED_NAMES = ("seed", "noise_seed")
# Frontend widget constructors (ComfyWidgets + core getCustomWidgets); any other input type is a
# link socket.
_BROWSER_WIDGETS = frozenset(
    {"WEBCAM", "AUDIO_RECORD", "LOAD_3D", "LOAD_3D_ANIMATION", "PREVIEW_3D", "PREVIEW_3D_ANIMATION"}
)
_WIDGET_TYPES = (
    frozenset(
        {
            "INT", "FLOAT", "BOOLEAN", "STRING", "MARKDOWN", "COMBO", "IMAGEUPLOAD",
            "FILEUPLOAD", "COLOR", "IMAGECOMPARE", "TREESELECT", "MULTISELECT", "CHART",
            "GALLERIA", "SELECTBUTTON", "TEXTAREA", "AUDIO_UI", "AUDIOUPLOAD",
        }
    )
    | _BROWSER_WIDGETS
)  # fmt: skip
# saveImageExtraOutput: these nodes' filename_prefix gets %node.widget% / %date:…% replaced.
_SAVE_NODE_TYPES = frozenset(
    {
        "SaveImage", "SaveAnimatedWEBP", "SaveWEBM", "SaveAudio", "SaveGLB", "SaveAnimatedPNG",
        "CLIPSave", "VAESave", "ModelSave", "LoraSave", "SaveLatent",
    }
)  # fmt: skip
_AUDIO_UI_CLASSES = frozenset(
    {"LoadAudio", "SaveAudio", "PreviewAudio", "SaveAudioMP3", "SaveAudioOpus"}
)
# The frontend titles nodes with its own English locale's display_name when it has one
# (`st('nodeDefs.<name>.display_name', display_name ?? name)`); in 1.27.10 against ComfyUI
# 0.3.64 it differs from the server's only where the server has none.
_FRONTEND_TITLES: Mapping[str, str] = {
    "ImageBlend": "Image Blend",
    "ImageBlur": "Image Blur",
    "ImageQuantize": "Image Quantize",
    "ImageScaleToTotalPixels": "Scale Image to Total Pixels",
    "ImageSharpen": "Image Sharpen",
}
_UNDEFINED: Any = type("_Undefined", (), {"__repr__": lambda self: "undefined"})()


class WorkflowFormatError(ValueError):
    """The file is neither ComfyUI format, or a UI workflow cannot be converted. Message names the
    node (id, type/title) and the reason, in a user's terms."""


@dataclass(frozen=True)
class Conversion:
    # The API graph, keys ordered as the frontend's JS object has them: integer-like ids
    # ascending, then subgraph ids ("5:3") in execution order.
    graph: dict[str, Any]
    # What the conversion dropped, rewired or resolved, one sentence each.
    notes: tuple[str, ...]


def workflow_format(doc: object) -> Literal["api", "ui"]:
    """'ui' for a saved workflow (top-level `nodes` list and `links`), 'api' for a graph of node
    ids to `{class_type, inputs}` (a `_workflow_metadata` key is allowed); otherwise a
    WorkflowFormatError that says what was expected."""
    expected = (
        "expected a ComfyUI workflow: the UI format ComfyUI saves (top-level 'nodes' and "
        "'links') or the API format (node ids mapping to {'class_type', 'inputs'})"
    )
    if not isinstance(doc, Mapping):
        raise WorkflowFormatError(f"{expected}; got {type(doc).__name__}")
    if isinstance(doc.get("nodes"), list) and isinstance(doc.get("links"), list | Mapping):
        return "ui"
    if "nodes" in doc:
        raise WorkflowFormatError(f"{expected}; this has 'nodes' but no 'links' list")
    if isinstance(doc.get("prompt"), Mapping) and not isinstance(doc.get("class_type"), str):
        raise WorkflowFormatError(
            f"{expected}; this looks like a POST /prompt body — save the graph under its "
            "'prompt' key on its own"
        )
    nodes = {k: v for k, v in doc.items() if k != METADATA_KEY}
    if not nodes:
        raise WorkflowFormatError(f"{expected}; this one has no nodes")
    for node_id, node in nodes.items():
        if not isinstance(node, Mapping):
            raise WorkflowFormatError(f"{expected}; key {node_id!r} is not a node object")
        if not isinstance(node.get("class_type"), str):
            raise WorkflowFormatError(f"{expected}; node {node_id!r} has no class_type")
        if not isinstance(node.get("inputs"), Mapping):
            raise WorkflowFormatError(f"{expected}; node {node_id!r} has no inputs object")
    return "api"


def ui_to_api(
    workflow: Mapping[str, Any],
    object_info: Mapping[str, Any],
    *,
    rng: random.Random | None = None,
    now: datetime | None = None,
) -> Conversion:
    """Convert a UI-format workflow to the API graph the frontend would queue.

    `object_info` is the server's GET /object_info (class -> definition). `rng` picks the
    `{a|b}` choices of dynamic prompts and `now` fills `%date:…%` in save nodes' filename
    prefixes, as the frontend does on every queue (defaults: a fresh Random, the local time)."""
    kind = workflow_format(workflow)
    if kind != "ui":
        raise WorkflowFormatError(
            "this is already an API-format graph (node ids -> class_type/inputs); it needs no "
            "conversion"
        )
    ctx = _Context(object_info, rng or random.Random(), now)
    return ctx.convert(workflow)


# --------------------------------------------------------------------------- the loaded graph


@dataclass
class _Link:
    id: Any
    origin_id: Any
    origin_slot: int
    target_id: Any
    target_slot: int
    type: Any


@dataclass
class _Input:
    name: str
    type: Any
    link: Any  # link id or None
    widget: str | None = None  # name of the widget this input socket belongs to


@dataclass
class _Output:
    name: str
    type: Any
    links: list[Any]


@dataclass
class _Upload:
    """A combo whose value the image/video upload widget rewrites (useImageUploadWidget)."""

    initial: str
    folder: str
    allow_batch: bool


@dataclass(eq=False)
class _Widget:
    name: str
    kind: str  # the widget constructor (INT, COMBO, …) or control / filter / button
    value: Any
    in_prompt: bool = True  # options.serialize !== false
    saved: bool = True  # takes a widgets_values slot (widget.serialize !== false)
    extra: bool = False  # a companion widget older files may lack (control, filter, upload)
    multiline: bool = False  # a textarea: values become strings
    dynamic: bool = False  # dynamicPrompts: true
    replace: bool = False  # a save node's filename_prefix (%…% replacements)
    multi: bool = False
    choices: tuple[Any, ...] = ()
    upload: _Upload | None = None
    changed: bool = False

    def assign(self, value: Any) -> None:
        if self.multiline:
            value = "" if value is None else _js_str(value)
        self.value = value
        self.changed = True

    def current(self) -> Any:
        """`widget.value` as the frontend reads it."""
        up = self.upload
        if up is None:
            return self.value
        internal = self.value if self.changed else up.initial
        if not _js_truthy(internal):
            return up.initial
        if isinstance(internal, list):
            if up.allow_batch:
                return [_annotated_path(v, up.folder) for v in internal]
            return _annotated_path(internal[0], up.folder) if internal else up.initial
        return _annotated_path(internal, up.folder)


@dataclass(eq=False)
class _Graph:
    name: str  # "" for the root graph, the subgraph's name otherwise
    nodes: list[_Node] = field(default_factory=list)
    by_id: dict[str, _Node] = field(default_factory=dict)
    links: dict[str, _Link] = field(default_factory=dict)
    # A subgraph definition's own inputs/outputs: (name, type, link ids).
    io_inputs: list[tuple[str, Any, list[Any]]] = field(default_factory=list)
    io_outputs: list[tuple[str, Any, list[Any]]] = field(default_factory=list)

    def link(self, link_id: Any) -> _Link | None:
        return None if link_id is None else self.links.get(str(link_id))


_Role = Literal["comfy", "reroute", "primitive", "note", "subgraph", "missing", "get"]


@dataclass(eq=False)
class _Node:
    graph: _Graph
    id: Any
    type: str
    role: _Role
    mode: int
    title: str
    comfy_class: str | None = None
    inputs: list[_Input] = field(default_factory=list)
    outputs: list[_Output] = field(default_factory=list)
    widgets: list[_Widget] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)
    subgraph: _Graph | None = None

    @property
    def is_virtual(self) -> bool:
        return self.role in ("reroute", "primitive", "note", "subgraph", "get")

    def widget(self, name: str | None) -> _Widget | None:
        if name is None:
            return None
        return next((w for w in self.widgets if w.name == name), None)

    def input_holding(self, link: _Link) -> _Input | None:
        """The input a link ends at (the frontend re-points target_slot after loading)."""
        found = next(
            (i for i in self.inputs if i.link is not None and str(i.link) == str(link.id)), None
        )
        if found is None and 0 <= link.target_slot < len(self.inputs):
            found = self.inputs[link.target_slot]
        return found


@dataclass(eq=False)
class _Dto:
    """ExecutableNodeDTO: one node at one place in the flattened graph."""

    node: _Node
    path: tuple[str, ...]  # ids of the subgraph instances around it, outermost first
    instance: _Node | None  # the subgraph instance it sits in

    @property
    def id(self) -> str:
        return ":".join((*self.path, str(self.node.id)))


@dataclass(frozen=True)
class _Origin:
    origin_id: str
    origin_slot: int


@dataclass(frozen=True)
class _WidgetValue:
    value: Any


@dataclass(frozen=True)
class _Gap:
    """Nothing to connect, and why (None: nothing worth telling, e.g. a PrimitiveNode)."""

    reason: str | None


_Resolved = _Origin | _WidgetValue | _Gap


@dataclass(frozen=True)
class _Spec:
    name: str
    type: str  # 'COMBO' for combos
    opts: Mapping[str, Any]
    optional: bool
    v1: Any  # the spec as /object_info gives it

    @property
    def widget_type(self) -> str | None:
        wtype = self.opts.get("widgetType") or self.type
        if wtype in _WIDGET_TYPES and not self.opts.get("forceInput"):
            return str(wtype)
        return None


@dataclass(frozen=True)
class _ClassDef:
    key: str
    comfy_class: str
    title: str
    specs: tuple[_Spec, ...]  # in widget/input creation order
    map_order: tuple[_Spec, ...]  # the frontend's nodeData.inputs order (migrateWidgetsValues)
    outputs: tuple[tuple[str, str], ...]


# --------------------------------------------------------------------------- conversion


class _Context:
    def __init__(self, object_info: Mapping[str, Any], rng: random.Random, now: datetime | None):
        self.object_info = object_info
        self.rng = rng
        self.now = now
        self.notes: list[str] = []
        self.classes: dict[str, _ClassDef] = {}
        self.subgraph_raw: dict[str, Mapping[str, Any]] = {}
        self.subgraphs: dict[str, _Graph] = {}
        self.group_nodes: set[str] = set()
        self.root = _Graph("")
        self.dtos: dict[str, _Dto] = {}

    # ---- loading

    def convert(self, workflow: Mapping[str, Any]) -> Conversion:
        self._collect_subgraphs(workflow)
        extra = workflow.get("extra")
        if isinstance(extra, Mapping) and isinstance(extra.get("groupNodes"), Mapping):
            self.group_nodes = {str(k) for k in extra["groupNodes"]}
        self._load_graph(self.root, workflow, ())
        groups = [g for g in workflow.get("groups") or () if isinstance(g, Mapping)]
        if groups:
            self.notes.append(
                f"{len(groups)} group(s) ignored: groups only frame nodes on the canvas"
            )
        order = _execution_order(self.root)
        for node in order:
            self._add_dtos(node, (), None)
        self._apply_primitives()
        graph = self._serialize()
        return Conversion(graph, tuple(self.notes))

    def _collect_subgraphs(self, doc: Mapping[str, Any]) -> None:
        definitions = doc.get("definitions")
        if not isinstance(definitions, Mapping):
            return
        for sub in definitions.get("subgraphs") or ():
            if isinstance(sub, Mapping) and sub.get("id") is not None:
                self.subgraph_raw.setdefault(str(sub["id"]), sub)
                self._collect_subgraphs(sub)

    def _subgraph(self, sub_id: str, stack: tuple[str, ...]) -> _Graph:
        if sub_id in stack:
            raise WorkflowFormatError(
                f"subgraph {self.subgraph_raw[sub_id].get('name') or sub_id!r} contains itself"
            )
        if sub_id not in self.subgraphs:
            raw = self.subgraph_raw[sub_id]
            graph = _Graph(str(raw.get("name") or sub_id))
            self._load_graph(graph, raw, (*stack, sub_id))
            graph.io_inputs = _io_slots(raw.get("inputs"), graph, "origin")
            graph.io_outputs = _io_slots(raw.get("outputs"), graph, "target")
            self.subgraphs[sub_id] = graph
        return self.subgraphs[sub_id]

    def _load_graph(self, graph: _Graph, raw: Mapping[str, Any], stack: tuple[str, ...]) -> None:
        for link in _parse_links(raw.get("links")):
            graph.links.setdefault(str(link.id), link)
        for raw_node in raw.get("nodes") or ():
            if not isinstance(raw_node, Mapping) or raw_node.get("id") is None:
                continue
            node = self._load_node(graph, raw_node, stack)
            if str(node.id) not in graph.by_id:
                graph.nodes.append(node)
                graph.by_id[str(node.id)] = node

    def _load_node(self, graph: _Graph, raw: Mapping[str, Any], stack: tuple[str, ...]) -> _Node:
        type_ = str(raw.get("type") or "")
        mode = raw.get("mode") if isinstance(raw.get("mode"), int) else 0
        title = raw.get("title") or ""
        where = f" in subgraph {graph.name!r}" if graph.name else ""
        if type_ in self.subgraph_raw:
            return self._load_instance(graph, raw, type_, mode, stack)
        if type_ in _REROUTE_TYPES | _SET_TYPES:
            return _Node(
                graph, raw["id"], type_, "reroute", mode, title or type_,
                inputs=_saved_inputs(raw, [_Input("", "*", None)]),
                outputs=_saved_outputs(raw, [_Output("", "*", [])]), raw=raw,
            )  # fmt: skip
        if type_ in _GET_TYPES:
            return _Node(
                graph, raw["id"], type_, "get", mode, title or type_,
                inputs=[], outputs=_saved_outputs(raw, [_Output("", "*", [])]), raw=raw,
            )  # fmt: skip
        if type_ == "PrimitiveNode":
            return _Node(
                graph, raw["id"], type_, "primitive", mode, title or "Primitive",
                inputs=_saved_inputs(raw, []),
                outputs=_saved_outputs(raw, [_Output("connect to widget input", "*", [])]),
                raw=raw,
            )  # fmt: skip
        if type_ in _NOTE_TYPES:
            node = _Node(graph, raw["id"], type_, "note", mode, title or type_, raw=raw)
            self.notes.append(f"{_label(node)}{where}: a note — ignored")
            return node
        if type_ in self.group_nodes or type_.startswith(("workflow>", "workflow/")):
            raise WorkflowFormatError(
                f"node {raw['id']} ({type_}){where}: a legacy group node — convert it to a "
                "subgraph in ComfyUI, or export the API format"
            )
        cls = self._class(type_)
        if cls is None:
            node = _Node(
                graph, raw["id"], type_, "missing", mode, title or type_,
                inputs=_saved_inputs(raw, []), outputs=_saved_outputs(raw, []), raw=raw,
            )  # fmt: skip
            if not any(o.get("links") for o in raw.get("outputs") or [] if isinstance(o, dict)):
                # Feeds nothing and the server does not know it: a display or frontend-only
                # node (rgthree's labels and group togglers, bookmarks, notes of extensions).
                node.role = "note"
                self.notes.append(
                    f"{_label(node)}{where}: not on the server and feeds nothing — ignored "
                    "(a display or frontend-only node; if it should save the result, install it)"
                )
                return node
            if mode not in (_NEVER, _BYPASS):
                raise WorkflowFormatError(
                    f"{_label(node)}{where}: class not on the server — custom node not "
                    "installed? install it or export the API format"
                )
            return node
        return self._load_comfy_node(graph, raw, cls, mode, title, where)

    def _class(self, type_: str) -> _ClassDef | None:
        if type_ in self.classes:
            return self.classes[type_]
        info = self.object_info.get(type_)
        if not isinstance(info, Mapping):
            return None
        if not isinstance(info.get("input"), Mapping):
            raise WorkflowFormatError(
                f"/object_info for {type_} has no input definitions; pass the server's full "
                "GET /object_info answer"
            )
        self.classes[type_] = _class_def(type_, info)
        return self.classes[type_]

    def _load_comfy_node(
        self,
        graph: _Graph,
        raw: Mapping[str, Any],
        cls: _ClassDef,
        mode: int,
        title: str,
        where: str,
    ) -> _Node:
        node = _Node(
            graph, raw["id"], str(raw.get("type")), "comfy", mode, title or cls.title,
            comfy_class=cls.comfy_class, raw=raw,
        )  # fmt: skip
        label = f"{_label(node)}{where}"
        sockets = [_Input(s.name, s.type, None) for s in cls.specs if s.widget_type is None]
        widget_inputs: list[_Input] = []
        for spec in cls.specs:
            if spec.widget_type is None:
                continue
            try:
                node.widgets += _make_widgets(node, spec, label)
            except WorkflowFormatError:
                if mode not in (_NEVER, _BYPASS):
                    raise
                node.widgets.append(_Widget(spec.name, "UNKNOWN", _UNDEFINED))
            widget_inputs.append(_Input(spec.name, spec.type, None, spec.name))
        if cls.key == "PreviewAny":  # previewAny.ts: a read-only text box the prompt carries
            node.widgets.append(_Widget("preview", "STRING", "", saved=False, multiline=True))
        if cls.key in _SAVE_NODE_TYPES and (prefix := node.widget("filename_prefix")):
            prefix.replace = True
        node.inputs = _merge_inputs(sockets + widget_inputs, raw)
        node.outputs = _merge_outputs([_Output(n, t, []) for n, t in cls.outputs], raw)
        props = raw.get("properties")
        if cls.key not in _SAVE_NODE_TYPES:
            node.properties["Node name for S&R"] = cls.key
        if isinstance(props, Mapping):
            node.properties.update(props)
        values = raw.get("widgets_values")
        if isinstance(values, Mapping):
            for widget in node.widgets:
                if widget.saved and widget.name in values:
                    widget.assign(values[widget.name])
        elif isinstance(values, list):
            values = _migrate_widget_values(cls, node.widgets, values)
            try:
                self._assign_widget_values(node, values, label)
            except WorkflowFormatError:
                if mode not in (_NEVER, _BYPASS):
                    raise  # a muted or bypassed node sends no widget values: no harm done
        return node

    def _assign_widget_values(self, node: _Node, values: list[Any], label: str) -> None:
        slots = [w for w in node.widgets if w.saved]
        pairs = _align(slots, values)
        if pairs is None:
            raise WorkflowFormatError(_misfit(label, node, slots, values))
        if any(widget is not slots[i] for i, (widget, _) in enumerate(pairs)):
            used = {id(widget) for widget, _ in pairs}
            last = max(i for i, w in enumerate(slots) if id(w) in used)
            skipped = [w.name for w in slots[: last + 1] if id(w) not in used]
            self.notes.append(
                f"{label}: the file has no value for {', '.join(skipped)} (an older save); "
                "the widget values were matched by type"
            )
        for widget, value in pairs:
            widget.assign(value)

    def _load_instance(
        self,
        graph: _Graph,
        raw: Mapping[str, Any],
        sub_id: str,
        mode: int,
        stack: tuple[str, ...],
    ) -> _Node:
        sub = self._subgraph(sub_id, stack)
        node = _Node(
            graph, raw["id"], sub_id, "subgraph", mode, raw.get("title") or sub.name,
            raw=raw, subgraph=sub,
        )  # fmt: skip
        saved = {
            str(i["name"]): i
            for i in raw.get("inputs") or ()
            if isinstance(i, Mapping) and "name" in i
        }
        for name, type_, link_ids in sub.io_inputs:
            slot = _Input(name, type_, (saved.get(name) or {}).get("link"))
            inner = self._promotable_widget(sub, link_ids)
            if inner is not None:
                promoted = _Widget(**{**inner.__dict__, "name": name, "changed": False})
                promoted.extra = False
                node.widgets.append(promoted)
                slot.widget = name
            node.inputs.append(slot)
        known = {name for name, _, _ in sub.io_inputs}
        node.inputs += [
            _Input(str(i["name"]), i.get("type"), i.get("link"))
            for i in raw.get("inputs") or ()
            if isinstance(i, Mapping) and "name" in i and str(i["name"]) not in known
        ]
        node.outputs = _merge_outputs([_Output(n, t, []) for n, t, _ in sub.io_outputs], raw)
        values = raw.get("widgets_values")
        if isinstance(values, list):
            for widget, value in zip(node.widgets, values, strict=False):
                widget.assign(value)
        elif isinstance(values, Mapping):
            for widget in node.widgets:
                if widget.name in values:
                    widget.assign(values[widget.name])
        return node

    @staticmethod
    def _promotable_widget(sub: _Graph, link_ids: list[Any]) -> _Widget | None:
        """The first inner widget a subgraph input feeds (SubgraphNode promotes it)."""
        for link_id in link_ids:
            link = sub.link(link_id)
            target = sub.by_id.get(str(link.target_id)) if link else None
            if link is None or target is None:
                continue
            slot = target.input_holding(link)
            widget = target.widget(slot.widget) if slot else None
            if widget is not None:
                return widget
        return None

    # ---- flattening

    def _add_dtos(self, node: _Node, path: tuple[str, ...], instance: _Node | None) -> None:
        dto = _Dto(node, path, instance)
        self.dtos[dto.id] = dto
        if node.role != "subgraph" or node.subgraph is None:
            return
        inner_path = (*path, str(node.id))
        for inner in node.subgraph.nodes:
            self._add_dtos(inner, inner_path, node)

    def _apply_primitives(self) -> None:
        """PrimitiveNode.applyToGraph: its value overwrites the widgets it is wired to."""
        for dto in list(self.dtos.values()):
            node = dto.node
            if node.role != "primitive" or not node.outputs or not node.outputs[0].links:
                continue
            targets = []
            for link_id in node.outputs[0].links:
                link = node.graph.link(link_id)
                target = node.graph.by_id.get(str(link.target_id)) if link else None
                slot = target.input_holding(link) if target and link else None
                widget = target.widget(slot.widget) if target and slot else None
                if target is not None and widget is not None:
                    targets.append((target, widget))
            values = node.raw.get("widgets_values")
            if not targets or not isinstance(values, list) or not values:
                continue  # no widget on it, or it holds the value its target already has
            value = values[0]
            props = node.raw.get("properties")
            if value and isinstance(props, Mapping) and props.get("Run widget replace on values"):
                value = self._replace_text(value)
            for target, widget in targets:
                widget.assign(value)
                self.notes.append(
                    f"{_label(node, dto.id)}: a primitive — its value {value!r} is written into "
                    f"{_label(target, _sibling_id(dto, target))} {widget.name!r}"
                )

    # ---- the prompt

    def _serialize(self) -> dict[str, Any]:
        output: dict[str, dict[str, Any]] = {}
        left_out: list[str] = []
        for dto in self.dtos.values():
            node = dto.node
            if node.role == "reroute":
                self.notes.append(f"{_label(node, dto.id)}: a reroute — links followed through it")
            if node.role == "subgraph":
                self._note_instance(dto)
            if node.is_virtual:
                continue
            if node.mode == _NEVER:
                self.notes.append(f"{_label(node, dto.id)}: muted — left out")
                continue
            if node.mode == _BYPASS:
                self.notes.append(
                    f"{_label(node, dto.id)}: bypassed — the nodes it fed take its inputs instead"
                )
                continue
            inputs: dict[str, Any] = {}
            for widget in node.widgets:
                if not widget.name or not widget.in_prompt:
                    continue
                inputs[widget.name] = _wrap(self._widget_prompt_value(dto, widget))
            for slot, inp in enumerate(node.inputs):
                resolved = self._resolve_input(dto, slot, set())
                if isinstance(resolved, _Gap):
                    if resolved.reason and inp.link is not None:
                        left_out.append(
                            f"{_label(node, dto.id)} input {inp.name!r}: left out — "
                            f"{resolved.reason}"
                        )
                    continue
                if isinstance(resolved, _WidgetValue):
                    inputs[inp.name] = _wrap(resolved.value)
                    continue
                inputs[inp.name] = [resolved.origin_id, resolved.origin_slot]
            output[dto.id] = {
                "inputs": inputs,
                "class_type": node.comfy_class,
                "_meta": {"title": node.title},
            }
        # Inputs linked to nodes that are not in the prompt (muted ones) are dropped.
        for node_id, entry in output.items():
            inputs = entry["inputs"]
            for name, value in list(inputs.items()):
                if isinstance(value, list) and len(value) == 2 and value[0] not in output:
                    del inputs[name]
                    origin = self.dtos.get(str(value[0]))
                    why = "muted" if origin and origin.node.mode == _NEVER else "not in the prompt"
                    who = _label(origin.node, origin.id) if origin else f"node {value[0]}"
                    dto = self.dtos[node_id]
                    left_out.append(
                        f"{_label(dto.node, node_id)} input {name!r}: left out — it comes from "
                        f"{who}, which is {why}"
                    )
            for name in [k for k, v in inputs.items() if v is _UNDEFINED]:
                del inputs[name]
        self.notes += left_out
        return {key: output[key] for key in _js_key_order(output)}

    def _note_instance(self, dto: _Dto) -> None:
        node = dto.node
        inside = (*dto.path, str(node.id))
        real = [
            key
            for key, inner in self.dtos.items()
            if inner.path[: len(inside)] == inside and not inner.node.is_virtual
        ]
        self.notes.append(
            f"{_label(node, dto.id)}: flattened into {', '.join(real) if real else 'nothing'}"
        )
        if node.mode in (_NEVER, _BYPASS):
            what = "muted" if node.mode == _NEVER else "bypassed"
            self.notes.append(
                f"{_label(node, dto.id)}: the subgraph node is {what}, but ComfyUI's frontend "
                "(1.27.10) still sends the nodes inside it; mute or bypass those to leave them out"
            )

    def _widget_prompt_value(self, dto: _Dto, widget: _Widget) -> Any:
        value = widget.current()
        label = _label(dto.node, dto.id)
        if widget.dynamic and isinstance(value, str):
            resolved = _dynamic_prompt(value, self.rng)
            if resolved != value:
                self.notes.append(
                    f"{label} {widget.name!r}: dynamic prompt resolved as the frontend does when "
                    f"queueing (comments removed, {{a|b}} choices picked at random): {resolved!r}"
                )
            return resolved
        if widget.replace:
            replaced = self._replace_text(value)
            if replaced != value:
                self.notes.append(
                    f"{label} {widget.name!r}: %…% replacements applied as the frontend does when "
                    f"queueing: {replaced!r}"
                )
            return replaced
        return value

    def _replace_text(self, value: Any) -> Any:
        """utils/searchAndReplace.applyTextReplacements: %date:fmt% and %Node.widget%."""
        if not isinstance(value, str):
            return value
        nodes = list(_all_nodes(self.root))

        def one(match: re.Match[str]) -> str:
            text = match.group(1)
            split = text.split(".")
            if len(split) != 2:
                if split[0].startswith("date:"):
                    return _format_date(split[0][5:], self.now or datetime.now())
                return match.group(0)
            found = [n for n in nodes if n.properties.get("Node name for S&R") == split[0]]
            found = found or [n for n in nodes if n.title == split[0]]
            widget = found[0].widget(split[1]) if found else None
            if widget is None:
                return match.group(0)
            current = widget.current()
            shown = "" if current is None or current is _UNDEFINED else _js_str(current)
            return re.sub(r'[/?<>\\:*|"\x00-\x1f\x7f]', "_", shown)

        return re.sub(r"%([^%]+)%", one, value)

    # ---- link resolution (ExecutableNodeDTO.resolveInput / resolveOutput)

    def _dto(self, path: tuple[str, ...], node_id: Any) -> _Dto:
        key = ":".join((*path, str(node_id)))
        if key not in self.dtos:
            raise WorkflowFormatError(f"node {key} is referenced but was not loaded")
        return self.dtos[key]

    def _setter(self, getter: _Dto) -> _Dto | None:
        """The SetNode of the name a GetNode reads, in the same (sub)graph."""
        name = _first_value(getter.node.raw)
        for node in getter.node.graph.nodes:
            if node.type in _SET_TYPES and _first_value(node.raw) == name and node.inputs:
                return self._dto(getter.path, node.id)
        return None

    def _resolve_input(
        self, dto: _Dto, slot: int, visited: set[tuple[str, str, int]], type_: Any = None
    ) -> _Resolved:
        _visit(dto, "input", slot, visited)
        if not 0 <= slot < len(dto.node.inputs):
            raise WorkflowFormatError(f"{_label(dto.node, dto.id)}: has no input {slot}")
        inp = dto.node.inputs[slot]
        if inp.link is None:
            return _Gap(None)
        graph = dto.node.graph
        link = graph.link(inp.link)
        if link is None:
            return _Gap(f"its link {inp.link} is not in the file")
        instance = dto.instance
        if instance is not None and _same_id(link.origin_id, _SUBGRAPH_INPUT_ID):
            return self._resolve_from_instance_input(dto, instance, link.origin_slot, visited)
        origin = graph.by_id.get(str(link.origin_id))
        if origin is None:
            return _Gap(f"its source node {link.origin_id} is not in the file")
        origin_dto = self._dto(dto.path, origin.id)
        return self._resolve_output(
            origin_dto, link.origin_slot, type_ if type_ is not None else inp.type, visited
        )

    def _resolve_from_instance_input(
        self, dto: _Dto, instance: _Node, index: int, visited: set[tuple[str, str, int]]
    ) -> _Resolved:
        """A link from a subgraph's input: continue outside, at the instance's input."""
        if not 0 <= index < len(instance.inputs):
            raise WorkflowFormatError(
                f"{_label(instance, ':'.join(dto.path))}: the subgraph has no input {index}"
            )
        outer = instance.inputs[index]
        if outer.link is None:
            widget = instance.widget(outer.widget)
            if widget is None:
                return _Gap(
                    f"subgraph input {outer.name!r} of {_label(instance, ':'.join(dto.path))} "
                    "is not connected"
                )
            return _WidgetValue(widget.current())
        instance_dto = self.dtos[":".join(dto.path)]
        return self._resolve_input(instance_dto, index, visited)

    def _resolve_output(
        self, dto: _Dto, slot: int, type_: Any, visited: set[tuple[str, str, int]]
    ) -> _Resolved:
        _visit(dto, "output", slot, visited)
        node = dto.node
        if node.mode == _BYPASS:
            index = _bypass_slot_index(node, slot, type_)
            if index == -1:
                return _Gap(f"bypassed {_label(node, dto.id)} has no input of type {type_}")
            return self._resolve_input(dto, index, visited)
        if node.role == "subgraph":
            return self._resolve_subgraph_output(dto, slot, type_, visited)
        if node.role == "get":
            setter = self._setter(dto)
            if setter is None:
                return _Gap(f"{_label(node, dto.id)} reads a SetNode that is not in the graph")
            return self._resolve_input(setter, 0, visited, type_)
        if node.is_virtual:
            if slot < len(node.inputs):
                if node.inputs[slot].link is None:
                    return _Gap(f"{_label(node, dto.id)} is not connected to anything")
                return self._resolve_input(dto, slot, visited, type_)
            return _Gap(None)  # a PrimitiveNode: its value was written into the widget
        return _Origin(dto.id, int(slot))

    def _resolve_subgraph_output(
        self, dto: _Dto, slot: int, type_: Any, visited: set[tuple[str, str, int]]
    ) -> _Resolved:
        node = dto.node
        sub = node.subgraph
        if sub is None or not 0 <= slot < len(sub.io_outputs):
            raise WorkflowFormatError(f"{_label(node, dto.id)}: the subgraph has no output {slot}")
        name, _, link_ids = sub.io_outputs[slot]
        link = next((sub.link(i) for i in link_ids if sub.link(i) is not None), None)
        if link is None:
            return _Gap(f"output {name!r} of subgraph {sub.name!r} is not connected inside it")
        inner_path = (*dto.path, str(node.id))
        if _same_id(link.origin_id, _SUBGRAPH_INPUT_ID):  # an input wired straight through
            return self._resolve_from_instance_input(
                _Dto(node, inner_path, node), node, link.origin_slot, visited
            )
        inner = sub.by_id.get(str(link.origin_id))
        if inner is None:
            raise WorkflowFormatError(
                f"subgraph {sub.name!r}: output {name!r} comes from node {link.origin_id}, which "
                "is not in it"
            )
        return self._resolve_output(
            self._dto(inner_path, inner.id), link.origin_slot, type_, visited
        )


# --------------------------------------------------------------------------- node definitions


def _first_value(raw: Mapping[str, Any] | None) -> Any:
    values = (raw or {}).get("widgets_values")
    return values[0] if isinstance(values, list) and values else None


def _class_def(key: str, info: Mapping[str, Any]) -> _ClassDef:
    declared = info["input"]
    required = dict(declared.get("required") or {})
    optional = dict(declared.get("optional") or {})
    order = info.get("input_order") if isinstance(info.get("input_order"), Mapping) else None
    required = _in_order(required, (order or {}).get("required"))
    optional = _in_order(optional, (order or {}).get("optional"))
    name = str(info.get("name") or key)
    # beforeRegisterNodeDef of the core extensions, in their registration order.
    if key in _AUDIO_UI_CLASSES:
        required["audioUI"] = ["AUDIO_UI", {}]
    if _options(required.get("audio")).get("audio_upload") is True:
        required["upload"] = ["AUDIOUPLOAD", {}]
    media = next((n for n, s in required.items() if _is_media_combo(s)), None)
    if media is not None:
        required["upload"] = ["IMAGEUPLOAD", {**_options(required[media]), "imageInputName": media}]
    specs: dict[str, _Spec] = {}
    for optional_flag, section in ((False, required), (True, optional)):
        for input_name, v1 in section.items():
            specs[input_name] = _Spec(
                str(input_name), _v2_type(v1), _options(v1), optional_flag, v1
            )
    map_order = tuple(specs.values())
    ordered: list[_Spec] = []
    if order:
        ordered += [
            specs[n] for n in order.get("required") or () if n in specs and not specs[n].optional
        ]
        ordered += [
            specs[n] for n in order.get("optional") or () if n in specs and specs[n].optional
        ]
    seen = {s.name for s in ordered}
    ordered += [s for s in map_order if s.name not in seen]
    outputs = []
    out_types = info.get("output") or []
    out_names = info.get("output_name") or []
    for index, out_type in enumerate(out_types):
        out_name = out_names[index] if index < len(out_names) and out_names[index] else None
        type_ = "COMBO" if isinstance(out_type, list) else str(out_type)
        outputs.append((str(out_name or f"output_{index}"), type_))
    title = _FRONTEND_TITLES.get(name) or info.get("display_name") or name
    return _ClassDef(key, name, str(title), tuple(ordered), map_order, tuple(outputs))


def _in_order(section: dict[str, Any], names: object) -> dict[str, Any]:
    """/object_info sections in the server's own order (input_order; JSON key order otherwise)."""
    if not isinstance(names, list):
        return section
    ordered = {n: section[n] for n in names if n in section}
    return {**ordered, **{n: s for n, s in section.items() if n not in ordered}}


def _options(v1: object) -> Mapping[str, Any]:
    if isinstance(v1, list | tuple) and len(v1) > 1 and isinstance(v1[1], Mapping):
        return v1[1]
    return {}


def _v2_type(v1: object) -> str:
    if combo_choices(v1) is not None:
        return "COMBO"
    if isinstance(v1, list | tuple) and v1 and isinstance(v1[0], str):
        return v1[0]
    return "UNKNOWN"


def _is_media_combo(v1: object) -> bool:
    opts = _options(v1)
    uploads = any(
        opts.get(k) is True for k in ("image_upload", "video_upload", "animated_image_upload")
    )
    return uploads and combo_choices(v1) is not None


def _make_widgets(node: _Node, spec: _Spec, label: str) -> list[_Widget]:
    """The widgets the frontend's constructor for this input adds, in order."""
    kind = spec.widget_type or ""
    opts = spec.opts
    default = opts.get("default")
    if kind in _BROWSER_WIDGETS:
        raise WorkflowFormatError(
            f"{label}: input {spec.name!r} is a {kind} widget, which only the browser can fill "
            "(camera, 3D view, microphone); export the API format from ComfyUI instead"
        )
    if kind == "INT":
        widgets = [_Widget(spec.name, kind, 0 if default is None else default)]
        control = opts.get("control_after_generate")
        if control is None:
            control = spec.name in _SEED_NAMES
        if control:
            widgets.append(_control_widget())
        return widgets
    if kind == "FLOAT":
        return [_Widget(spec.name, kind, 0 if default is None else default)]
    if kind == "BOOLEAN":
        return [_Widget(spec.name, kind, False if default is None else default)]
    if kind == "STRING":
        multiline = bool(opts.get("multiline"))
        value = "" if default is None else default
        widget = _Widget(
            spec.name, kind, _js_str(value) if multiline else value, multiline=multiline,
            dynamic=opts.get("dynamicPrompts") is True,
        )  # fmt: skip
        return [widget]
    if kind == "COMBO":
        return _combo_widgets(spec)
    if kind == "IMAGEUPLOAD":
        target = node.widget(str(opts.get("imageInputName")))
        if target is not None:
            folder = opts.get("image_folder")
            target.upload = _Upload(
                _js_str(target.value),
                str(folder) if folder else "input",
                bool(opts.get("allow_batch")),
            )
        return [_Widget(spec.name, "button", "image", in_prompt=False, extra=True)]
    if kind == "AUDIOUPLOAD":
        return [_Widget(spec.name, "button", "", in_prompt=False, extra=True)]
    if kind == "AUDIO_UI":
        return [_Widget(spec.name, kind, "", saved=False)]
    if kind in ("MARKDOWN", "TEXTAREA"):
        return [_Widget(spec.name, kind, default or "")]
    if kind == "COLOR":
        return [_Widget(spec.name, kind, default or "#000000")]
    return [_Widget(spec.name, kind, _UNDEFINED if default is None else default)]


def _combo_widgets(spec: _Spec) -> list[_Widget]:
    opts = spec.opts
    choices = tuple(combo_choices(spec.v1) or ())
    if opts.get("multi_select"):
        return [_Widget(spec.name, "COMBO", [], multi=True, choices=choices)]
    default: Any = opts.get("default")
    if not _js_truthy(default):
        default = choices[0] if choices else ("Loading..." if opts.get("remote") else _UNDEFINED)
    widgets = [_Widget(spec.name, "COMBO", default, choices=choices)]
    remote = opts.get("remote")
    if isinstance(remote, Mapping) and remote.get("refresh_button"):
        # useRemoteWidget.addRefreshButton: a button the frontend does not mark serialize: false.
        widgets.append(_Widget("refresh", "button", "refresh", extra=True))
    if opts.get("control_after_generate"):
        widgets += [
            _control_widget(),
            _Widget("control_filter_list", "filter", "", in_prompt=False, extra=True),
        ]
    return widgets


def _control_widget() -> _Widget:
    return _Widget("control_after_generate", "control", "randomize", in_prompt=False, extra=True)


def _merge_inputs(defined: list[_Input], raw: Mapping[str, Any]) -> list[_Input]:
    """litegraphService ComfyNode.configure: definition order, saved links matched by name,
    inputs the definition lacks (added by custom JS) kept after them."""
    saved_list = [i for i in raw.get("inputs") or () if isinstance(i, Mapping) and "name" in i]
    saved = {str(i["name"]): i for i in saved_list}
    merged = []
    for slot in defined:
        data = saved.get(slot.name)
        widget = slot.widget or _widget_name(data)
        merged.append(_Input(slot.name, slot.type, data.get("link") if data else None, widget))
    names = {slot.name for slot in defined}
    merged += [
        _Input(str(i["name"]), i.get("type"), i.get("link"), _widget_name(i))
        for i in saved_list
        if str(i["name"]) not in names
    ]
    return merged


def _widget_name(data: Mapping[str, Any] | None) -> str | None:
    widget = (data or {}).get("widget")
    return str(widget["name"]) if isinstance(widget, Mapping) and "name" in widget else None


def _merge_outputs(defined: list[_Output], raw: Mapping[str, Any]) -> list[_Output]:
    saved = [o for o in raw.get("outputs") or () if isinstance(o, Mapping)]
    merged = []
    for index in range(max(len(defined), len(saved))):
        data = saved[index] if index < len(saved) else None
        links = list((data or {}).get("links") or [])
        if index < len(defined):
            merged.append(_Output(defined[index].name, defined[index].type, links))
        else:
            merged.append(_Output(str(data.get("name", "")), data.get("type"), links))  # type: ignore[union-attr]
    return merged


def _saved_inputs(raw: Mapping[str, Any], defaults: list[_Input]) -> list[_Input]:
    saved = [i for i in raw.get("inputs") or () if isinstance(i, Mapping)]
    merged = list(defaults)
    for index, data in enumerate(saved):
        slot = _Input(
            str(data.get("name", "")), data.get("type"), data.get("link"), _widget_name(data)
        )
        if index < len(merged):
            merged[index] = slot
        else:
            merged.append(slot)
    return merged


def _saved_outputs(raw: Mapping[str, Any], defaults: list[_Output]) -> list[_Output]:
    saved = [o for o in raw.get("outputs") or () if isinstance(o, Mapping)]
    merged = list(defaults)
    for index, data in enumerate(saved):
        slot = _Output(str(data.get("name", "")), data.get("type"), list(data.get("links") or []))
        if index < len(merged):
            merged[index] = slot
        else:
            merged.append(slot)
    return merged


def _io_slots(
    raw: object, graph: _Graph, end: Literal["origin", "target"]
) -> list[tuple[str, Any, list[Any]]]:
    """A subgraph definition's inputs (end='origin') or outputs (end='target'), with the inner
    links that start / end at each."""
    slots = []
    io_id = _SUBGRAPH_INPUT_ID if end == "origin" else _SUBGRAPH_OUTPUT_ID
    for index, slot in enumerate(s for s in raw or () if isinstance(s, Mapping)):  # type: ignore[attr-defined]
        link_ids = slot.get("linkIds")
        if not isinstance(link_ids, list):
            link_ids = [
                link.id
                for link in graph.links.values()
                if _same_id(getattr(link, f"{end}_id"), io_id)
                and getattr(link, f"{end}_slot") == index
            ]
        slots.append((str(slot.get("name", "")), slot.get("type"), list(link_ids)))
    return slots


def _parse_links(raw: object) -> Iterator[_Link]:
    """Links as lists [id, origin_id, origin_slot, target_id, target_slot, type] (version 0.4)
    or objects {id, origin_id, …} (version 1 and subgraphs), in a list or keyed by id."""
    items = raw.values() if isinstance(raw, Mapping) else raw or ()
    for item in items:  # type: ignore[union-attr]
        if isinstance(item, list | tuple) and len(item) >= 5:
            link_id, origin_id, origin_slot, target_id, target_slot = item[:5]
            type_ = item[5] if len(item) > 5 else None
        elif isinstance(item, Mapping) and "id" in item:
            link_id, origin_id = item["id"], item.get("origin_id")
            origin_slot, target_id = item.get("origin_slot"), item.get("target_id")
            target_slot, type_ = item.get("target_slot"), item.get("type")
        else:
            continue
        if link_id is None or not isinstance(origin_slot, int) or not isinstance(target_slot, int):
            continue
        yield _Link(link_id, origin_id, origin_slot, target_id, target_slot, type_)


# --------------------------------------------------------------------------- widget values


def _migrate_widget_values(cls: _ClassDef, widgets: list[_Widget], values: list[Any]) -> list[Any]:
    """litegraphUtil.migrateWidgetsValues: files from before forceInput inputs lost their widget
    carry a value for them; drop it when the count says so."""
    names = {w.name for w in widgets}
    original = [s for s in cls.map_order if s.name in names or s.opts.get("forceInput")]
    count = sum(
        2 if s.opts.get("control_after_generate") or s.name in _SEED_NAMES else 1 for s in original
    )
    if count != len(values):
        return values
    pairs = itertools.zip_longest(original, values)
    return [v for s, v in pairs if s is None or not s.opts.get("forceInput")]


def _fits(widget: _Widget, value: Any) -> bool:
    """Could this saved value belong to this widget? (to line up files that lack a value)"""
    if value is None or widget.kind in ("button", "UNKNOWN"):
        return True
    if widget.kind == "control":
        return isinstance(value, bool) or value in _CONTROL_VALUES
    if widget.kind == "filter":
        return isinstance(value, str)
    if widget.kind in ("INT", "FLOAT"):
        return _is_number(value)
    if widget.kind == "BOOLEAN":
        return isinstance(value, bool)
    if widget.kind == "COMBO":
        if widget.multi:
            return isinstance(value, list)
        if isinstance(value, bool):
            return value in widget.choices
        return isinstance(value, str | int | float | Mapping)
    if widget.kind in ("STRING", "MARKDOWN", "TEXTAREA", "COLOR"):
        return isinstance(value, str) or _is_number(value)
    return True


def _align(slots: list[_Widget], values: list[Any]) -> list[tuple[_Widget, Any]] | None:
    """Pair widgets with saved values the way LGraphNode.configure does (by position) when every
    value fits; otherwise find the pairing that skips companion widgets older files lack."""
    positional = list(zip(slots, values, strict=False))
    if all(_fits(w, v) for w, v in positional):
        return positional

    def search(i: int, j: int) -> list[tuple[_Widget, Any]] | None:
        if j == len(values) or i == len(slots):
            return []
        widget = slots[i]
        if _fits(widget, values[j]):
            rest = search(i + 1, j + 1)
            if rest is not None:
                return [(widget, values[j]), *rest]
        if widget.extra:
            return search(i + 1, j)
        return None

    return search(0, 0)


def _misfit(label: str, node: _Node, slots: list[_Widget], values: list[Any]) -> str:
    for widget, value in zip(slots, values, strict=False):
        if not _fits(widget, value):
            wanted = {
                "INT": "a number",
                "FLOAT": "a number",
                "BOOLEAN": "true or false",
                "control": "fixed/increment/decrement/randomize",
                "filter": "text",
                "COMBO": "one of its choices",
            }.get(widget.kind, "text")
            break
    else:  # pragma: no cover - _align only fails on a misfit
        widget, value, wanted = slots[0], values[0], "something else"
    names = ", ".join(w.name for w in slots)
    return (
        f"{label}: widget {widget.name!r} got {value!r}, expected {wanted} — the saved widget "
        f"values do not match this server's {node.comfy_class} inputs ({names}); update the "
        "node in ComfyUI or export the API format"
    )


def _wrap(value: Any) -> Any:
    """Arrays mean links in the API format; array values travel as {"__value__": [...]}."""
    if isinstance(value, list | tuple):
        return {"__value__": list(value)}
    return value


# --------------------------------------------------------------------------- graph helpers


def _execution_order(graph: _Graph) -> list[_Node]:
    """LGraph.computeExecutionOrder: Kahn's order over links; nodes left in loops last."""
    order: list[_Node] = []
    ready: list[_Node] = []
    pending: dict[str, _Node] = {}
    remaining: dict[str, int | None] = {}
    for node in graph.nodes:
        pending[str(node.id)] = node
        count = sum(1 for i in node.inputs if i.link is not None)
        if count == 0:
            ready.append(node)
        else:
            remaining[str(node.id)] = count
    visited: set[str] = set()
    while ready:
        node = ready.pop(0)
        order.append(node)
        pending.pop(str(node.id), None)
        for output in node.outputs:
            for link_id in output.links:
                link = graph.link(link_id)
                if link is None or str(link.id) in visited:
                    continue
                target = graph.by_id.get(str(link.target_id))
                visited.add(str(link.id))
                if target is None:
                    continue
                left = remaining.get(str(target.id))
                left = None if left is None else left - 1  # JS: undefined - 1 is NaN
                remaining[str(target.id)] = left
                if left == 0:
                    ready.append(target)
    order += [pending[k] for k in _js_key_order(pending)]
    return order


def _bypass_slot_index(node: _Node, slot: int, type_: Any) -> int:
    """ExecutableNodeDTO#getBypassSlotIndex (1.27.10): the input at the output's own index when
    it fits both the output's type and the consumer's, else the first input of exactly the
    consumer's type, else the first that fits both; -1 when none."""
    inputs = node.inputs
    if type_ in ("*", ""):
        return slot if len(inputs) > slot else 0
    output_type = node.outputs[slot].type if 0 <= slot < len(node.outputs) else None
    if slot < len(inputs):
        opposite = inputs[slot]
        if _valid_connection(opposite.type, output_type) and _valid_connection(
            opposite.type, type_
        ):
            return slot
    for index, inp in enumerate(inputs):
        if inp.type == type_:
            return index
    for index, inp in enumerate(inputs):
        if _valid_connection(inp.type, output_type) and _valid_connection(inp.type, type_):
            return index
    return -1


def _valid_connection(type_a: Any, type_b: Any) -> bool:
    """LiteGraph.isValidConnection: wildcards, equal types, or a shared member of a,b,c lists."""
    a = 0 if type_a in ("", "*") else type_a
    b = 0 if type_b in ("", "*") else type_b
    if not a or not b or a == b:
        return True
    a, b = str(a).lower(), str(b).lower()
    if "," not in a and "," not in b:
        return a == b
    return any(_valid_connection(x, y) for x in a.split(",") for y in b.split(","))


def _all_nodes(graph: _Graph) -> Iterator[_Node]:
    """graphTraversalUtil.collectAllNodes: a subgraph's nodes come before its instance."""
    for node in graph.nodes:
        if node.role == "subgraph" and node.subgraph is not None:
            yield from _all_nodes(node.subgraph)
        yield node


def _sibling_id(dto: _Dto, node: _Node) -> str:
    return ":".join((*dto.path, str(node.id)))


def _visit(dto: _Dto, end: str, slot: int, visited: set[tuple[str, str, int]]) -> None:
    """Note that resolving passed this input or output of a node: passing one twice means the
    links go round in a circle."""
    key = (dto.id, end, slot)
    if key in visited:
        raise WorkflowFormatError(
            f"{_label(dto.node, dto.id)}: its links go round in a circle ({end} {slot})"
        )
    visited.add(key)


def _label(node: _Node, exec_id: str | None = None) -> str:
    shown = exec_id or str(node.id)
    plain = node.type
    if node.role == "subgraph" and node.subgraph is not None:
        plain = f"subgraph {node.subgraph.name!r}"
    custom = node.raw.get("title")
    if custom and custom != node.type:
        return f"node {shown} ({plain} {custom!r})"
    return f"node {shown} ({plain})"


def _same_id(a: Any, b: Any) -> bool:
    return str(a) == str(b)


def _js_key_order(obj: Mapping[str, Any]) -> list[str]:
    """Property order of a JS object: array-index keys ascending, then the rest as inserted."""
    index = [k for k in obj if re.fullmatch(r"0|[1-9][0-9]*", k) and int(k) < 2**32 - 1]
    rest = [k for k in obj if k not in set(index)]
    return sorted(index, key=int) + rest


# --------------------------------------------------------------------------- JS semantics


def _js_truthy(value: Any) -> bool:
    if value is None or value is _UNDEFINED or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and value == value  # NaN is falsy
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _js_str(value: Any) -> str:
    """String(value) as JavaScript writes it."""
    if value is None:
        return "null"
    if value is _UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ",".join("" if v is None or v is _UNDEFINED else _js_str(v) for v in value)
    return "[object Object]"


def _js_number(value: float) -> str:
    """Number.prototype.toString for a double (ECMAScript Number::toString, radix 10)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # The shortest round-trip digits (Python's repr and JS agree on them) and the exponent.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    stripped = digits.rstrip("0")
    exponent = int(exponent) + len(digits) - len(stripped)
    digits = stripped
    k, n = len(digits), len(digits) + exponent  # value = 0.digits × 10^n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        shown = digits if k == 1 else digits[0] + "." + digits[1:]
        text = f"{shown}e{'+' if e > 0 else '-'}{abs(e)}"
    return sign + text


def _annotated_path(value: Any, folder: str) -> str:
    """formatUtil.createAnnotatedPath: 'name [output]' for files outside the input folder."""
    if isinstance(value, Mapping):
        sub = str(value.get("subfolder") or "")
        name = str(value.get("filename") or "")
        path = f"{sub}/{name}" if sub else name
        kind = value.get("type")
        return path + (_annotation(str(kind), folder) if kind else "")
    text = _js_str(value)
    return text + _annotation(text, folder)


def _annotation(path: str, folder: str) -> str:
    has = re.search(r"\[(input|output|temp)\]", path, re.IGNORECASE)
    return f" [{folder}]" if not has and folder != "input" else ""


_COMMENTS = re.compile(r"/\*[\s\S]*?\*/|//[^\n\r\u2028\u2029]*")


def _dynamic_prompt(text: str, rng: random.Random) -> str:
    """formatUtil.processDynamicPrompt: strip // and /* */ comments, pick one option of every
    {a|b|c} (nested too), keep backslash escapes, then unescape \\{ \\} \\|."""
    source = _COMMENTS.sub("", text)
    i = 0
    result = ""

    def escape() -> str:
        nonlocal i
        nxt = source[i] if i < len(source) else "undefined"  # JS reads past the end
        i += 1
        return "\\" + nxt

    def choice_block() -> str:
        nonlocal i
        options: list[str] = []
        choice = ""
        depth = 0
        while i < len(source):
            char = source[i]
            i += 1
            if char == "\\":
                choice += escape()
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                if not depth:
                    break
                depth -= 1
            elif char == "|" and not depth:
                options.append(choice)
                choice = ""
                continue
            choice += char
        options.append(choice)
        return _dynamic_prompt(options[rng.randrange(len(options))], rng)

    while i < len(source):
        char = source[i]
        i += 1
        if char == "\\":
            result += escape()
        elif char == "{":
            result += choice_block()
        else:
            result += char
    return re.sub(r"\\([{}|])", r"\1", result)


_DATE_PART = re.compile(r"dd?|MM?|hh?|mm?|ss?|yyy?y?")


def _format_date(fmt: str, when: datetime) -> str:
    """formatUtil.formatDate: yyyy, yy, M/MM, d/dd, h/hh (24 h), m/mm, s/ss."""
    parts = {"d": when.day, "M": when.month, "h": when.hour, "m": when.minute, "s": when.second}

    def one(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "yy":
            return str(when.year)[2:]
        if text == "yyyy":
            return str(when.year)
        if text[0] in parts:
            return str(parts[text[0]]).rjust(len(text), "0")
        return text

    return _DATE_PART.sub(one, fmt)


__all__: Sequence[str] = ("Conversion", "WorkflowFormatError", "ui_to_api", "workflow_format")
