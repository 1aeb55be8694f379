"""GPU telemetry: NVML samples when ComfyUI's GPU is on this machine, otherwise the VRAM figures
of ComfyUI's `/system_stats`; `summarize` folds a render step's samples into asset metadata."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import statistics
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pynvml
from pydantic import BaseModel, ConfigDict, ValidationError

NVML = "nvml"
SYSTEM_STATS = "comfyui_system_stats"
MB = 1024**2

log = logging.getLogger(__name__)


class TelemetryError(ValueError):
    """A `/system_stats` payload without a device whose VRAM figures can be read."""


def is_local(url: str) -> bool:
    """Whether `url`'s host is this machine: loopback, `localhost`, this host's name, or an
    address of one of its interfaces. Names are never looked up (a slow resolver must not stall
    a render loop), so another name of this machine counts as remote: NVML is then unused."""
    host = urlsplit(url if "://" in url else f"http://{url}").hostname
    if not host:
        return False
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host == socket.gethostname().lower()
    if addr.is_loopback or addr.is_unspecified:
        return True
    # An address this machine can bind to is one of its own.
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((str(addr), 0))
    except OSError:
        return False
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _mb(n_bytes: int) -> int:
    return round(n_bytes / MB)


def _temperature(handle: Any) -> int:
    """GPU core °C: the versioned call where the driver has it, the older one otherwise."""
    try:
        return int(pynvml.nvmlDeviceGetTemperatureV(handle, pynvml.NVML_TEMPERATURE_GPU))
    except pynvml.NVMLError:
        return int(pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))


class _Device(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = "unknown"
    type: str | None = None
    index: int | None = None
    vram_total: int
    vram_free: int
    torch_vram_total: int | None = None
    torch_vram_free: int | None = None


class _SystemStats(BaseModel):
    model_config = ConfigDict(extra="ignore")

    devices: list[_Device]


def from_system_stats(
    stats: Mapping[str, Any], *, device_index: int | None = None
) -> dict[str, Any]:
    """ComfyUI's `/system_stats` body as a sample: the device with `index == device_index`,
    else the first one (ComfyUI lists the device it renders on). Bytes become MiB."""
    try:
        devices = _SystemStats.model_validate(stats).devices
    except ValidationError as exc:
        raise TelemetryError(f"/system_stats has no readable device: {exc}") from exc
    if not devices:
        raise TelemetryError("/system_stats lists no device")
    device = next((d for d in devices if d.index == device_index), devices[0])
    total, free = _mb(device.vram_total), _mb(device.vram_free)
    sample: dict[str, Any] = {
        "source": SYSTEM_STATS,
        "device": device.name,
        "vram_total_mb": total,
        "vram_free_mb": free,
        "vram_used_mb": total - free,
    }
    if device.torch_vram_total is not None:
        sample["torch_vram_total_mb"] = _mb(device.torch_vram_total)
    if device.torch_vram_free is not None:
        sample["torch_vram_free_mb"] = _mb(device.torch_vram_free)
    sample["at"] = _now()
    return sample


def _values(samples: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [s[key] for s in samples if isinstance(s.get(key), int | float)]


def summarize(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Asset metadata for a step's samples: source(s), count, device, the window, peak VRAM
    used, least VRAM free, mean and peak utilization, peak temperature and power. A figure no
    sample carries (utilization from `/system_stats`) is left out rather than shown as 0."""
    summary: dict[str, Any] = {"samples": len(samples)}
    if not samples:
        return summary
    sources = sorted({str(s["source"]) for s in samples if s.get("source")})
    devices = sorted({str(s["device"]) for s in samples if s.get("device")})
    summary["source"] = ", ".join(sources)
    if devices:
        summary["device"] = ", ".join(devices)
    stamps = sorted(str(s["at"]) for s in samples if s.get("at"))
    if stamps:
        summary["first_at"], summary["last_at"] = stamps[0], stamps[-1]
    folds: list[tuple[str, str, Callable[[list[float]], float]]] = [
        ("vram_total_mb", "vram_total_mb", max),
        ("vram_used_mb", "vram_used_mb_max", max),
        ("vram_free_mb", "vram_free_mb_min", min),
        ("utilization_pct", "utilization_pct_mean", statistics.fmean),
        ("utilization_pct", "utilization_pct_max", max),
        ("temperature_c", "temperature_c_max", max),
        ("power_w", "power_w_max", max),
    ]
    for key, name, fold in folds:
        if values := _values(samples, key):
            value = fold(values)
            summary[name] = round(value, 1) if isinstance(value, float) else value
    return summary


class GpuTelemetry:
    """Samples one GPU. NVML is tried only when `endpoint` is on this machine; when it is not,
    or NVML cannot start or stops answering, `notice` hears the reason once and `sample_nvml`
    returns None from then on without trying again. Use it as::

        sample = telemetry.sample_nvml()
        if sample is None:
            sample = from_system_stats(await client.system_stats())
    """

    def __init__(
        self,
        endpoint: str,
        *,
        notice: Callable[[str], None] | None = None,
        device_index: int = 0,
    ) -> None:
        self.endpoint = endpoint
        self.device_index = device_index
        self.local = is_local(endpoint)
        self._notice = notice or log.info
        self._handle: Any = None
        self._initialized = False  # nvmlInit succeeded: close() owes an nvmlShutdown
        self.unavailable: str | None = None  # why NVML is not used; None while it may be

    def __enter__(self) -> GpuTelemetry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def nvml(self) -> bool:
        """True while NVML is (or may still turn out to be) the source."""
        return self.unavailable is None

    def close(self) -> None:
        """Release NVML (its init is reference-counted per process)."""
        if self._initialized:
            self._initialized = False
            self._handle = None
            with contextlib.suppress(pynvml.NVMLError):
                pynvml.nvmlShutdown()

    def _give_up(self, reason: str) -> None:
        self.close()
        self.unavailable = reason
        self._notice(reason)

    def _open(self) -> bool:
        if self._handle is not None:
            return True
        if self.unavailable is not None:
            return False
        if not self.local:
            self._give_up(
                f"NVML not used: ComfyUI at {self.endpoint} is not on this machine; "
                "using ComfyUI /system_stats"
            )
            return False
        try:
            pynvml.nvmlInit()
            self._initialized = True
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(self.device_index)
        except pynvml.NVMLError as exc:
            self._give_up(f"NVML unavailable ({exc}): using ComfyUI /system_stats")
            return False
        return True

    def sample_nvml(self) -> dict[str, Any] | None:
        """VRAM, utilization, temperature and power of the GPU now; None when NVML is not the
        source. A reading the GPU does not support (power on some boards) is left out."""
        if not self._open():
            return None
        handle = self._handle
        try:
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        except pynvml.NVMLError as exc:
            # The driver went away or the GPU fell off the bus: stop asking.
            self._give_up(f"NVML stopped answering ({exc}): using ComfyUI /system_stats")
            return None
        sample: dict[str, Any] = {
            "source": NVML,
            "device": name.decode() if isinstance(name, bytes) else str(name),
            "vram_used_mb": _mb(memory.used),
            "vram_free_mb": _mb(memory.free),
            "vram_total_mb": _mb(memory.total),
        }
        with contextlib.suppress(pynvml.NVMLError):
            sample["utilization_pct"] = int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        with contextlib.suppress(pynvml.NVMLError):
            sample["temperature_c"] = _temperature(handle)
        with contextlib.suppress(pynvml.NVMLError):
            sample["power_w"] = round(pynvml.nvmlDeviceGetPowerUsage(handle) / 1000, 1)
        sample["at"] = _now()
        return sample

    # The ComfyUI fallback and the metadata fold, here too for callers holding only the object.
    from_system_stats = staticmethod(from_system_stats)
    summarize = staticmethod(summarize)
