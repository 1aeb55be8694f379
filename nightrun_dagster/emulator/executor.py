"""Runs one queued prompt with ComfyUI's frame sequence, cache, pacing and injected faults."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nightrun_dagster.emulator.config import EmulatorConfig
from nightrun_dagster.emulator.context import NodeContext
from nightrun_dagster.emulator.errors import (
    Interrupted,
    NodeFailure,
    node_error,
    out_of_memory,
)
from nightrun_dagster.emulator.files import Folders, resolve_input
from nightrun_dagster.emulator.generic import is_sampler, run_generic
from nightrun_dagster.emulator.graph import ExecutionList, Signatures, is_link
from nightrun_dagster.emulator.nodes import NODES, input_hash
from nightrun_dagster.emulator.profile import render_seconds
from nightrun_dagster.emulator.state import CacheEntry, QueueItem, ServerState

# Binary websocket event types (server.BinaryEventTypes).
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4
PNG_FORMAT = 2

# Share of render_ms each executed node takes; every sampler (KSampler, KSamplerAdvanced,
# SamplerCustom, SamplerCustomAdvanced …) dominates as it does on a GPU.
SAMPLER_WEIGHT = 14.0
NODE_WEIGHT = {
    "VAEDecode": 1.5,
    "VAEDecodeTiled": 1.5,
    "SaveVideo": 1.5,
    "SaveWEBM": 1.5,
    "SaveAnimatedWEBP": 1.5,
    "SaveAnimatedPNG": 1.5,
    "VAEEncode": 1.0,
    "ImageUpscaleWithModel": 1.0,
}
GIB = 1024**3
# VRAM the loaders' models occupy once loaded (SDXL fp16, Wan2.1 1.3B + umt5 fp8, Flux's
# clip_l + t5xxl fp8, CLIP-ViT-H, an ESRGAN, …).
MODEL_BYTES = {
    "CheckpointLoaderSimple": int(6.9 * GIB),
    "CheckpointLoader": int(6.9 * GIB),
    "ImageOnlyCheckpointLoader": int(4.2 * GIB),
    "unCLIPCheckpointLoader": int(6.9 * GIB),
    "UNETLoader": int(2.8 * GIB),
    "CLIPLoader": int(1.4 * GIB),
    "DualCLIPLoader": int(5.0 * GIB),
    "TripleCLIPLoader": int(5.6 * GIB),
    "QuadrupleCLIPLoader": int(6.5 * GIB),
    "VAELoader": int(0.3 * GIB),
    "ControlNetLoader": int(2.5 * GIB),
    "DiffControlNetLoader": int(2.5 * GIB),
    "CLIPVisionLoader": int(1.2 * GIB),
    "StyleModelLoader": int(0.8 * GIB),
    "UpscaleModelLoader": int(0.07 * GIB),
    "GLIGENLoader": int(0.4 * GIB),
    "HypernetworkLoader": int(0.1 * GIB),
    "PhotoMakerLoader": int(0.9 * GIB),
    "ModelPatchLoader": int(1.0 * GIB),
    "LoraLoaderModelOnly": int(0.2 * GIB),
    "IPAdapterUnifiedLoader": int(1.6 * GIB),
}
# Classes whose IS_CHANGED hashes the input file they load.
_HASHED_INPUTS = {
    "LoadImage": "image",
    "LoadImageMask": "image",
    "LoadImageOutput": "image",
    "LoadLatent": "latent",
    "LoadVideo": "file",
}


@dataclass
class Faults:
    """Decided when the execution starts, from its ordinal."""

    oom: bool = False
    stall: bool = False
    crash: bool = False
    error: bool = False


@dataclass
class Pacing:
    """What the emulator learns of its own wall time across prompts, so a compressed night's
    render takes the profile's seconds and not that plus the emulator's CPU: each node class's
    own work (drawing, encoding), planned inside the node's share of the budget, and how late
    the last renders still ended (the bookkeeping around the nodes), taken off the budget."""

    work_s: dict[str, float] = field(default_factory=dict)
    late_s: float = 0.0

    def learn_work(self, class_type: str, seconds: float) -> None:
        # The larger of the last and a decayed past: a slow moment is planned for next time.
        past = self.work_s.get(class_type, 0.0)
        self.work_s[class_type] = max(max(seconds, 0.0), past * 0.9)

    def learn_late(self, late: float, budget: float) -> None:
        # Integral control: each render's lateness moves the next one's aim by half as much.
        self.late_s = min(max(self.late_s + late / 2, 0.0), budget / 2)


@dataclass
class RunResult:
    outcome: str  # success, error, oom, interrupted
    history: dict[str, Any]
    status: dict[str, Any]
    seconds: float
    prefixes: list[str] = field(default_factory=list)


def _format_value(value: Any) -> Any:
    if value is None or isinstance(value, int | float | bool | str):
        return value
    return str(value)


class ProgressRegistry:
    """comfy_execution.progress: per-node value/max/state, sent whole as `progress_state`."""

    def __init__(self, prompt_id: str) -> None:
        self.prompt_id = prompt_id
        self.nodes: dict[str, dict[str, Any]] = {}

    def _entry(self, node_id: str) -> dict[str, Any]:
        return self.nodes.setdefault(node_id, {"state": "pending", "value": 0, "max": 1})

    def start(self, node_id: str) -> None:
        self._entry(node_id).update(state="running", value=0.0, max=1.0)

    def update(self, node_id: str, value: int, total: int) -> None:
        self._entry(node_id).update(state="running", value=value, max=total)

    def finish(self, node_id: str) -> None:
        entry = self._entry(node_id)
        entry.update(state="finished", value=entry["max"])

    def payload(self) -> dict[str, Any]:
        return {
            "prompt_id": self.prompt_id,
            "nodes": {
                node_id: {
                    "value": e["value"],
                    "max": e["max"],
                    "state": e["state"],
                    "node_id": node_id,
                    "prompt_id": self.prompt_id,
                    "display_node_id": node_id,
                    "parent_node_id": None,
                    "real_node_id": node_id,
                }
                for node_id, e in self.nodes.items()
                if e["state"] != "pending"
            },
        }


class PromptRun:
    """One execution of one queue item (execution.PromptExecutor.execute_async)."""

    def __init__(
        self,
        state: ServerState,
        config: EmulatorConfig,
        folders: Folders,
        object_info: dict[str, dict[str, Any]],
        item: QueueItem,
        faults: Faults,
        rng: random.Random,
        crash: Callable[[], None],
        *,
        started: float | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        self.state = state
        self.config = config
        self.folders = folders
        self.info = object_info
        self.item = item
        self.prompt = item.prompt
        self.prompt_id = item.prompt_id
        self.client_id: str | None = item.extra_data.get("client_id")
        self.faults = faults
        self.rng = rng
        self.crash = crash
        self.messages: list[list[Any]] = []
        self.progress = ProgressRegistry(self.prompt_id)
        self.prefixes: list[str] = []
        # time.monotonic() the execution counts from: now, or on a compressed night when the
        # prompt before it ended (it waited in the queue; the GPU had no gap).
        self.started = time.monotonic() if started is None else started
        self.targets: dict[str, tuple[float, float]] = {}  # node -> (start, end) seconds
        self.pacing = pacing if pacing is not None else Pacing()
        self.budget = 0.0  # wall seconds the profile gives this render
        self.slept = 0.0

    # ------------------------------------------------------------ messages
    def add_message(
        self, event: str, data: dict[str, Any], broadcast: bool, at: float | None = None
    ) -> None:
        stamp = self.config.now() if at is None else at
        data = {**data, "timestamp": int(stamp * 1000)}
        self.messages.append([event, data])
        if self.client_id is not None or broadcast:
            self.state.send(event, data, self.client_id)

    def send_progress_state(self) -> None:
        self.state.send("progress_state", self.progress.payload(), self.client_id)

    def to_client(self, event: str, data: dict[str, Any]) -> None:
        if self.client_id is not None:
            self.state.send(event, data, self.client_id)

    # ------------------------------------------------------------ the run
    async def run(self) -> RunResult:
        self.state.interrupt.clear()
        self.state.client_id = self.client_id
        self.add_message(
            "execution_start", {"prompt_id": self.prompt_id}, broadcast=False, at=self.start_stamp()
        )

        signatures = Signatures(self.prompt, self._is_changed)
        keys = {node_id: signatures.of(node_id) for node_id in self.prompt}
        # Classic cache: keep only what this prompt can use.
        used = set(keys.values())
        for key in [k for k in self.state.cache if k not in used]:
            del self.state.cache[key]
        cache = self.state.cache
        cached_nodes = [node_id for node_id in self.prompt if keys[node_id] in cache]
        self.add_message(
            "execution_cached", {"nodes": cached_nodes, "prompt_id": self.prompt_id}, False
        )

        execution = ExecutionList(
            self.prompt,
            lambda n: self.info[self.prompt[n]["class_type"]]["output_node"] is True,
            lambda n: keys.get(n) in cache,
        )
        execution.add_outputs(self.item.outputs)
        order = execution.order()
        to_run = [n for n in order if keys[n] not in cache]
        self._plan_time(to_run)
        fault_node = next(
            (n for n in to_run if self._is_sampler(n)),
            to_run[0] if to_run else None,
        )

        executed: list[str] = []
        outcome = "success"
        for node_id in order:
            class_type = self.prompt[node_id]["class_type"]
            entry = cache.get(keys[node_id])
            if entry is not None:
                self.to_client(
                    "executed",
                    {
                        "node": node_id,
                        "display_node": node_id,
                        "output": entry.ui,
                        "prompt_id": self.prompt_id,
                    },
                )
                self.progress.finish(node_id)
                self.send_progress_state()
                continue
            self.progress.start(node_id)
            self.send_progress_state()
            inputs: dict[str, Any] = {}
            try:
                inputs = self._resolve_inputs(node_id, keys)
                self.to_client(
                    "executing",
                    {"node": node_id, "display_node": node_id, "prompt_id": self.prompt_id},
                )
                self.state.last_node_id = node_id
                self._check_interrupt()
                if node_id == fault_node:
                    await self._inject_faults(node_id)
                ctx = self._context(node_id, class_type)
                began, slept = time.monotonic(), self.slept
                outputs, ui = await NODES.get(class_type, run_generic)(ctx, **inputs)
                work = time.monotonic() - began - (self.slept - slept)
                self.pacing.learn_work(class_type, work)
                await self._sleep_until(self.targets[node_id][1])
            except Interrupted:
                outcome = "interrupted"
                self.add_message(
                    "execution_interrupted",
                    {
                        "prompt_id": self.prompt_id,
                        "node_id": node_id,
                        "node_type": class_type,
                        "executed": list(executed),
                    },
                    broadcast=True,
                )
                break
            except Exception as ex:
                failure = ex if isinstance(ex, NodeFailure) else NodeFailure.from_exception(ex)
                outcome = "oom" if failure.is_oom else "error"
                if failure.is_oom:
                    self.state.vram_used = 0  # ComfyUI unloads every model after an OOM
                self.add_message(
                    "execution_error",
                    {
                        "prompt_id": self.prompt_id,
                        "node_id": node_id,
                        "node_type": class_type,
                        "executed": list(executed),
                        "exception_message": failure.message,
                        "exception_type": failure.exception_type,
                        "traceback": failure.traceback,
                        "current_inputs": {
                            name: [_format_value(value)] for name, value in inputs.items()
                        },
                        "current_outputs": list(self.prompt),
                    },
                    broadcast=False,
                )
                break
            meta = {
                "node_id": node_id,
                "display_node": node_id,
                "parent_node": None,
                "real_node_id": node_id,
            }
            cache[keys[node_id]] = CacheEntry(outputs, ui or None, meta if ui else None)
            if ui:
                self.to_client(
                    "executed",
                    {
                        "node": node_id,
                        "display_node": node_id,
                        "output": ui,
                        "prompt_id": self.prompt_id,
                    },
                )
            executed.append(node_id)
            self.progress.finish(node_id)
            self.send_progress_state()
        else:
            if self.state.dead:  # crashed while rendering: it never finished
                await asyncio.Event().wait()
            self.add_message("execution_success", {"prompt_id": self.prompt_id}, False)
            if self.config.time_scale is not None and self.budget > 0:
                late = time.monotonic() - self.started - self.budget
                self.pacing.learn_late(late, self.budget)

        outputs_ui: dict[str, Any] = {}
        metas: dict[str, Any] = {}
        for node_id, key in keys.items():
            entry = cache.get(key)
            if entry is not None and entry.ui is not None:
                outputs_ui[node_id] = entry.ui
                metas[node_id] = entry.meta
        self.state.last_node_id = None
        loaded = sum(MODEL_BYTES.get(self.prompt[n]["class_type"], 0) for n in executed)
        if loaded and outcome != "oom":
            # Models stay loaded between prompts until /free or an OOM unloads them.
            self.state.vram_used = min(int(self.config.vram_total * 0.85), loaded)
        success = outcome == "success"
        return RunResult(
            outcome=outcome,
            history={"outputs": outputs_ui, "meta": metas},
            status={
                "status_str": "success" if success else "error",
                "completed": success,
                "messages": self.messages,
            },
            seconds=time.monotonic() - self.started,
            prefixes=self.prefixes if success else [],
        )

    def failed(self) -> RunResult:
        """The result of a run the emulator itself broke (see the log)."""
        self.state.last_node_id = None
        status = {"status_str": "error", "completed": False, "messages": self.messages}
        return RunResult(
            "error", {"outputs": {}, "meta": {}}, status, time.monotonic() - self.started
        )

    # ------------------------------------------------------------ helpers
    def _is_changed(self, node_id: str) -> Any:
        node = self.prompt.get(node_id) or {}
        class_type = node.get("class_type")
        if class_type == "SaveImageWebsocket":
            return time.time()  # IS_CHANGED = time(): never cached
        if class_type in _HASHED_INPUTS:
            name = (node.get("inputs") or {}).get(_HASHED_INPUTS[class_type])
            path = resolve_input(name, self.folders) if isinstance(name, str) else None
            return input_hash(path)
        return None

    def _resolve_inputs(self, node_id: str, keys: dict[str, str]) -> dict[str, Any]:
        resolved = {}
        declared = self.info[self.prompt[node_id]["class_type"]]["input"]
        known = {*declared.get("required", {}), *declared.get("optional", {})}
        for name, value in self.prompt[node_id]["inputs"].items():
            if name not in known:
                continue
            if is_link(value):
                resolved[name] = self.state.cache[keys[value[0]]].outputs[int(value[1])]
            else:
                resolved[name] = value
        return resolved

    def _plan_time(self, to_run: list[str]) -> None:
        budget = 0.0
        if to_run and self.config.profile is not None:
            night_s = render_seconds(self.prompt, self.config.profile)
            budget = self.config.wall_seconds(night_s)
        elif to_run:
            budget = self.config.render_ms / 1000
        weights = [
            SAMPLER_WEIGHT
            if self._is_sampler(n)
            else NODE_WEIGHT.get(self.prompt[n]["class_type"], 1.0)
            for n in to_run
        ]
        total = sum(weights) or 1.0
        self.budget = budget
        if self.config.time_scale is not None:
            budget = max(budget - self.pacing.late_s, 0.0)
        work = [self.pacing.work_s.get(self.prompt[n]["class_type"], 0.0) for n in to_run]
        # Each node's own work first, the rest of the budget by weight; a budget too short
        # for the work is shared by weight alone (the render runs late).
        spare = budget - sum(work)
        at = 0.0
        for node_id, weight, own in zip(to_run, weights, work, strict=True):
            share = own + spare * weight / total if spare > 0 else budget * weight / total
            self.targets[node_id] = (at, at + share)
            at += share

    def start_stamp(self) -> float:
        """The execution's start on the emulator's clock (earlier than now when it began at
        the end of the prompt before it)."""
        return self.config.now() - self.config.night_seconds(time.monotonic() - self.started)

    def _is_sampler(self, node_id: str) -> bool:
        return is_sampler(self.info[self.prompt[node_id]["class_type"]])

    async def _sleep_until(self, offset: float) -> None:
        delay = self.started + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
            self.slept += delay

    def _check_interrupt(self) -> None:
        if self.state.interrupt.is_set():
            raise Interrupted

    async def _inject_faults(self, node_id: str) -> None:
        if self.faults.crash:
            start, end = self.targets[node_id]
            await self._sleep_until(start + (end - start) / 2)
            self.crash()
            await asyncio.Event().wait()  # the server goes away under us
        if self.faults.stall:
            await self.state.interrupt.wait()
            raise Interrupted
        if self.faults.oom:
            raise self._oom(self._latent_pixels(node_id))
        if self.faults.error:
            raise node_error("shape mismatch in the sampler (an injected error)")

    def _latent_pixels(self, node_id: str) -> int:
        for value in self.prompt[node_id]["inputs"].values():
            if is_link(value):
                node = self.prompt.get(value[0]) or {}
                inputs = node.get("inputs") or {}
                if "width" in inputs and "height" in inputs:
                    size = int(inputs["width"]) * int(inputs["height"])
                    return size * int(inputs.get("batch_size", 1)) * int(inputs.get("length", 1))
        return 1024 * 1024

    def _oom(self, pixels: int) -> NodeFailure:
        # Roughly what SDXL attention asks for at that size.
        requested = max(512 * 1024**2, pixels * 1100)
        return out_of_memory(requested, self.config.vram_total)

    def _oom_check(self, pixels: int) -> None:
        limit = self.config.oom_max_pixels
        if limit and pixels > limit:
            raise self._oom(pixels)

    def _context(self, node_id: str, class_type: str) -> NodeContext:
        start, end = self.targets[node_id]

        async def pace(fraction: float) -> None:
            await self._sleep_until(start + (end - start) * fraction)

        async def progress(value: int, total: int, preview: bytes | None) -> None:
            # main.hijack_progress: interruptible, then progress_state (+ preview with
            # metadata for clients that asked), `progress`, and the legacy preview frame.
            self._check_interrupt()
            self.progress.update(node_id, value, total)
            self.send_progress_state()
            metadata = self.state.supports(self.client_id, "supports_preview_metadata")
            if preview is not None and metadata:
                header = json.dumps(
                    {
                        "node_id": node_id,
                        "prompt_id": self.prompt_id,
                        "display_node_id": node_id,
                        "parent_node_id": None,
                        "real_node_id": node_id,
                        "image_type": "image/png",
                    }
                ).encode()
                payload = len(header).to_bytes(4, "big") + header + preview
                self.state.send_bytes(PREVIEW_IMAGE_WITH_METADATA, payload, self.client_id)
            self.state.send(
                "progress",
                {"value": value, "max": total, "prompt_id": self.prompt_id, "node": node_id},
                self.client_id,
            )
            if preview is not None and not metadata:
                payload = PNG_FORMAT.to_bytes(4, "big") + preview
                self.state.send_bytes(PREVIEW_IMAGE, payload, self.client_id)
            await asyncio.sleep(0)

        letters = "abcdefghijklmnopqrstupvxyz"  # sic: ComfyUI's PreviewImage alphabet
        return NodeContext(
            node_id=node_id,
            class_type=class_type,
            prompt=self.prompt,
            extra_data=self.item.extra_data,
            folders=self.folders,
            config=self.config,
            progress=progress,
            pace=pace,
            oom_check=self._oom_check,
            saved_prefixes=self.prefixes,
            preview_suffix="".join(self.rng.choice(letters) for _ in range(5)),
            info=self.info[class_type],
        )
