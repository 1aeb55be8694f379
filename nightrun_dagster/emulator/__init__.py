"""A ComfyUI 0.3.64 emulator: the real protocol on loopback, synthetic ads, injected faults."""

from nightrun_dagster.emulator.config import DEFAULT_MODELS, MODEL_FOLDERS, EmulatorConfig
from nightrun_dagster.emulator.server import EmulatorServer, Host

__all__ = ["DEFAULT_MODELS", "MODEL_FOLDERS", "EmulatorConfig", "EmulatorServer", "Host"]
