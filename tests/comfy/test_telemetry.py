"""GPU telemetry: NVML where the GPU is local and present, said once and replaced by ComfyUI's
`/system_stats` where it is not; the summary that goes into asset metadata."""

import asyncio
import json
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pynvml
import pytest

from nightrun_dagster.comfy.client import ComfyClient
from nightrun_dagster.comfy.telemetry import (
    NVML,
    SYSTEM_STATS,
    GpuTelemetry,
    TelemetryError,
    from_system_stats,
    is_local,
    summarize,
)
from nightrun_dagster.emulator import EmulatorServer

# The repo's copy of the payloads captured from a real ComfyUI 0.3.64 (a CPU-only server).
CAPTURED = Path(__file__).resolve().parents[1] / "emulator/captures/system_stats.json"
MIB = 1024**2


def _nvml_present() -> bool:
    """Whether this machine has a working NVML (a GPU and its driver)."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


class _CountInit:
    """Counts calls to the real `pynvml.nvmlInit`, passing them through."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.real(*args, **kwargs)


def _captured_stats() -> dict[str, Any]:
    return json.loads(CAPTURED.read_text())["response"]


def test_pynvml_comes_from_nvidia_ml_py_without_a_deprecation_warning() -> None:
    # The deprecated `pynvml` distribution installs an import hook that warns on every import.
    done = subprocess.run(
        [sys.executable, "-W", "error::FutureWarning", "-c", "import pynvml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_is_local() -> None:
    for url in (
        "http://127.0.0.1:8188",
        "http://localhost:8188/",
        "https://LOCALHOST",
        "http://[::1]:8188",
        "127.0.0.1:8188",
        "http://0.0.0.0:8188",
        f"http://{socket.gethostname()}:8188",
    ):
        assert is_local(url), url
    for url in ("http://gpu-box.example:8188", "http://203.0.113.7:8188", "", "http://"):
        assert not is_local(url), url


def test_local_endpoint_samples_nvml_or_says_once_that_it_cannot(monkeypatch) -> None:
    present = _nvml_present()
    init = _CountInit(pynvml.nvmlInit)
    monkeypatch.setattr(pynvml, "nvmlInit", init)
    notices: list[str] = []
    with GpuTelemetry("http://127.0.0.1:8188", notice=notices.append) as telemetry:
        samples = [telemetry.sample_nvml() for _ in range(4)]
    if present:
        # A GPU machine: every sample is real and complete enough to reproduce a night's load.
        assert notices == [] and telemetry.nvml
        assert init.calls == 1
        for sample in samples:
            assert sample is not None and sample["source"] == NVML
            assert sample["device"]
            assert sample["vram_total_mb"] > 0
            assert 0 <= sample["vram_used_mb"] <= sample["vram_total_mb"]
            assert 0 <= sample["vram_free_mb"] <= sample["vram_total_mb"]
            assert 0 <= sample["utilization_pct"] <= 100
            assert 0 < sample["temperature_c"] < 120
            assert "power_w" not in sample or sample["power_w"] >= 0
            datetime.fromisoformat(sample["at"])
        summary = summarize(samples)
        assert summary["source"] == NVML and summary["samples"] == 4
        assert summary["vram_used_mb_max"] == max(s["vram_used_mb"] for s in samples)
        assert "utilization_pct_mean" in summary and "temperature_c_max" in summary
    else:
        # No driver here: said once, then None without asking NVML again.
        assert samples == [None] * 4
        assert len(notices) == 1
        assert notices[0].startswith("NVML unavailable (")
        assert "/system_stats" in notices[0]
        assert init.calls == 1
        assert not telemetry.nvml and telemetry.unavailable == notices[0]


def test_remote_endpoint_never_tries_nvml(monkeypatch) -> None:
    init = _CountInit(pynvml.nvmlInit)
    monkeypatch.setattr(pynvml, "nvmlInit", init)
    notices: list[str] = []
    telemetry = GpuTelemetry("http://gpu-box.example:8188", notice=notices.append)
    assert not telemetry.local
    assert [telemetry.sample_nvml() for _ in range(3)] == [None] * 3
    assert init.calls == 0
    assert len(notices) == 1
    assert "gpu-box.example:8188 is not on this machine" in notices[0]
    assert "/system_stats" in notices[0]


def test_from_system_stats_on_a_captured_payload() -> None:
    stats = _captured_stats()
    device = stats["devices"][0]
    sample = from_system_stats(stats)
    # Same mapping through the object, for callers that hold only the telemetry.
    assert GpuTelemetry.from_system_stats(stats) | {"at": sample["at"]} == sample
    assert sample["source"] == SYSTEM_STATS
    assert sample["device"] == "cpu"
    assert sample["vram_total_mb"] == round(device["vram_total"] / MIB) == 24106
    assert sample["vram_free_mb"] == round(device["vram_free"] / MIB) == 23176
    assert sample["vram_used_mb"] == 24106 - 23176
    assert sample["torch_vram_total_mb"] == round(device["torch_vram_total"] / MIB)
    assert sample["torch_vram_free_mb"] == round(device["torch_vram_free"] / MIB)
    assert datetime.fromisoformat(sample["at"]).tzinfo is not None
    assert set(sample) == {
        "source",
        "device",
        "vram_total_mb",
        "vram_free_mb",
        "vram_used_mb",
        "torch_vram_total_mb",
        "torch_vram_free_mb",
        "at",
    }


def test_from_system_stats_on_the_emulator(emulator: EmulatorServer) -> None:
    async def fetch() -> dict[str, Any]:
        async with ComfyClient(emulator.url) as client:
            return await client.system_stats()

    sample = from_system_stats(asyncio.run(fetch()))
    assert sample["source"] == SYSTEM_STATS
    assert sample["device"].startswith("cuda:0 ")
    assert sample["vram_total_mb"] == emulator.config.vram_total // MIB
    # Idle: the emulator reports about 410 MiB taken by the CUDA context, nothing by models.
    assert 400 <= sample["vram_used_mb"] < 600
    assert sample["vram_used_mb"] + sample["vram_free_mb"] == sample["vram_total_mb"]
    assert sample["torch_vram_total_mb"] == 0


def test_from_system_stats_picks_the_device_asked_for() -> None:
    stats = {
        "devices": [
            {"name": "cuda:0 A", "index": 0, "vram_total": 8 * 1024 * MIB, "vram_free": 0},
            {"name": "cuda:1 B", "index": 1, "vram_total": 24 * 1024 * MIB, "vram_free": MIB},
        ]
    }
    assert from_system_stats(stats)["device"] == "cuda:0 A"
    picked = from_system_stats(stats, device_index=1)
    assert picked["device"] == "cuda:1 B"
    assert picked["vram_used_mb"] == 24 * 1024 - 1
    assert "torch_vram_total_mb" not in picked


@pytest.mark.parametrize(
    "stats",
    [{}, {"devices": []}, {"devices": [{"name": "cuda:0"}]}, {"system": {"os": "posix"}}],
)
def test_from_system_stats_rejects_payloads_without_vram(stats: dict[str, Any]) -> None:
    with pytest.raises(TelemetryError):
        from_system_stats(stats)


def test_summarize() -> None:
    nvml = [
        {
            "source": NVML,
            "device": "NVIDIA H200",
            "vram_used_mb": used,
            "vram_free_mb": 140000 - used,
            "vram_total_mb": 140000,
            "utilization_pct": util,
            "temperature_c": temp,
            "power_w": power,
            "at": f"2026-02-10T02:00:0{i}.000+00:00",
        }
        for i, (used, util, temp, power) in enumerate(
            [(9000, 40, 55, 210.5), (31000, 99, 71, 640.2), (20000, 76, 66, 480.0)]
        )
    ]
    summary = summarize(nvml)
    assert summary == {
        "samples": 3,
        "source": NVML,
        "device": "NVIDIA H200",
        "first_at": "2026-02-10T02:00:00.000+00:00",
        "last_at": "2026-02-10T02:00:02.000+00:00",
        "vram_total_mb": 140000,
        "vram_used_mb_max": 31000,
        "vram_free_mb_min": 109000,
        "utilization_pct_mean": 71.7,
        "utilization_pct_max": 99,
        "temperature_c_max": 71,
        "power_w_max": 640.2,
    }

    # From ComfyUI alone there is no utilization, temperature or power: those keys stay out.
    stats = [from_system_stats(_captured_stats()) for _ in range(2)]
    only_stats = summarize(stats)
    assert only_stats["source"] == SYSTEM_STATS and only_stats["samples"] == 2
    assert only_stats["vram_used_mb_max"] == 930
    assert not {"utilization_pct_mean", "temperature_c_max", "power_w_max"} & set(only_stats)

    mixed = summarize([*nvml, *stats])
    assert mixed["source"] == f"{SYSTEM_STATS}, {NVML}"
    assert mixed["samples"] == 5 and mixed["vram_used_mb_max"] == 31000
    assert mixed["vram_free_mb_min"] == 23176
    assert mixed["utilization_pct_max"] == 99

    assert summarize([]) == {"samples": 0}
