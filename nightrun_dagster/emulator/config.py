"""The emulator's settings: where it listens, how slow it renders, which faults it injects."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nightrun_dagster.emulator.profile import Profile
from nightrun_dagster.night.time_scale import TimeScale
from nightrun_dagster.workflows.model_inputs import LEGACY_FOLDERS
from nightrun_dagster.workflows.model_inputs import MODEL_FOLDERS as MODEL_FOLDERS

# Legacy folder names ComfyUI maps onto the current ones, by the name the emulator's callers use.
FOLDER_ALIASES = LEGACY_FOLDERS

# Every model file the templates in workflows/*.json name, the brand LoRAs the example jobs use,
# the SDXL ControlNets a job may pick, and what IP-Adapter's PLUS preset needs.
DEFAULT_MODELS: dict[str, tuple[str, ...]] = {
    "checkpoints": ("sd_xl_base_1.0.safetensors",),
    "loras": (
        "brand.safetensors",
        "food_photo_xl.safetensors",
        "verde_brand_style.safetensors",
    ),
    "vae": ("wan_2.1_vae.safetensors",),
    "controlnet": (
        "controlnet-canny-sdxl-1.0.safetensors",
        "controlnet-depth-sdxl-1.0.safetensors",
        "controlnet-lineart-sdxl-1.0.safetensors",
        "controlnet-pose-sdxl-1.0.safetensors",
        "controlnet-tile-sdxl-1.0.safetensors",
    ),
    "text_encoders": ("umt5_xxl_fp8_e4m3fn_scaled.safetensors",),
    "diffusion_models": ("wan2.1_t2v_1.3B_fp16.safetensors",),
    "ipadapter": ("ip-adapter-plus_sdxl_vit-h.safetensors",),
    "clip_vision": ("CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors",),
}


def default_models() -> dict[str, list[str]]:
    return {folder: list(names) for folder, names in DEFAULT_MODELS.items()}


@dataclass
class EmulatorConfig:
    """Everything the emulator can be told. Fault fields can also change at runtime
    (`POST /emulator/faults`, `EmulatorServer.set_faults`)."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port (kept across restarts)
    render_ms: int = 50  # wall time of one prompt that executes at least one node
    output_dir: Path | None = None  # None: a fresh temporary folder
    input_dir: Path | None = None
    temp_dir: Path | None = None
    models: dict[str, list[str]] = field(default_factory=default_models)
    missing_models: set[str] = field(default_factory=set)  # NAME or FOLDER/NAME, hidden
    oom_probability: float = 0.0  # each execution, from a seeded RNG
    oom_every: int = 0  # OOM the Nth, 2Nth, … execution; 0: never
    error_every: int = 0  # the Nth, 2Nth, … execution fails with a (non-OOM) node error
    prompt_failures: int = 0  # the next N `POST /prompt` calls answer HTTP 500 (a sick server)
    oom_max_pixels: int = 0  # a latent above width×height×batch×frames OOMs; 0: no limit
    stall_prompts: set[int] = field(default_factory=set)  # execution ordinals (1-based)
    crash_after: int = 0  # the Nth execution crashes the server once it starts; 0: never
    restart_down_ms: int = 1000  # how long a crashed server refuses connections
    slow_view_ms: int = 0  # delay before /view answers
    seed: int = 0  # RNG seed for oom_probability and preview names
    vram_total: int = 10 * 1024**3
    # Render times like a real GPU's (emulator.profile), in the night's seconds; None: render_ms.
    profile: Profile | None = None
    # A compressed night (`nightrun bench night`): the emulator sleeps the night's seconds at the
    # clock's pace and stamps its messages, history and stats on the night's clock.
    time_scale: TimeScale | None = None

    def now(self) -> float:
        """Epoch seconds on the emulator's clock (the night's, when compressed)."""
        return self.time_scale.now().timestamp() if self.time_scale else time.time()

    def wall_seconds(self, night_seconds: float) -> float:
        return self.time_scale.wall_seconds(night_seconds) if self.time_scale else night_seconds

    def night_seconds(self, wall_seconds: float) -> float:
        return self.time_scale.night_seconds(wall_seconds) if self.time_scale else wall_seconds

    def model_list(self, folder: str) -> list[str]:
        """The names a loader combo lists for `folder`, sorted like ComfyUI sorts them."""
        folder = FOLDER_ALIASES.get(folder, folder)
        hidden = self.missing_models
        return sorted(
            name
            for name in self.models.get(folder, [])
            if name not in hidden and f"{folder}/{name}" not in hidden
        )

    def update(self, changes: dict[str, Any]) -> None:
        """Merge `changes` (JSON-ish: lists for sets, strings for paths); unknown keys raise."""
        known = {f.name: f for f in dataclasses.fields(self)}
        for key in changes:
            if key not in known or key in {"host", "port", "time_scale"}:
                raise KeyError(key)
        for key, value in changes.items():
            setattr(self, key, _coerce(key, value))

    def faults(self) -> dict[str, Any]:
        """The runtime-changeable settings as JSON."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in {"host", "port", "output_dir", "input_dir", "temp_dir", "time_scale"}:
                continue
            value = getattr(self, f.name)
            out[f.name] = sorted(value) if isinstance(value, set) else value
        return out


def _coerce(key: str, value: Any) -> Any:
    if key in {"missing_models"}:
        return {str(v) for v in value}
    if key == "stall_prompts":
        return {int(v) for v in value}
    if key == "models":
        return {str(folder): [str(n) for n in names] for folder, names in value.items()}
    if key in {"output_dir", "input_dir", "temp_dir"}:
        return None if value is None else Path(value)
    if key == "oom_probability":
        return float(value)
    if key == "profile":
        return None if value is None else Profile(value)
    return int(value)
