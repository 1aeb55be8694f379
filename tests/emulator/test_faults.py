"""Injected faults: OOMs, stalls, crashes with history loss, missing models, slow downloads."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from nightrun_dagster.emulator import EmulatorServer
from nightrun_dagster.emulator.driver import Socket, executing_node, is_done, run_prompt
from nightrun_dagster.emulator.shape import shape_diff

CAPTURES = Path(__file__).resolve().parent / "captures"
WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def static_ad(seed: int, width: int = 256, height: int = 320, prefix: str = "ad") -> dict:
    graph = json.loads((WORKFLOWS / "static_ad_v1.json").read_text())
    graph.pop("_workflow_metadata")
    graph["2"]["inputs"]["text"] = 'headline "Hola" brand "Verde" price "$ 1"'
    graph["4"]["inputs"].update(width=width, height=height)
    graph["5"]["inputs"]["seed"] = seed
    graph["7"]["inputs"]["filename_prefix"] = prefix
    return graph


async def submit_all(sim: EmulatorServer, graphs: list[dict]) -> list[dict[str, Any]]:
    """Run graphs one after the other; their history entries."""
    entries = []
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as http:
        for graph in graphs:
            response, _ = await run_prompt(http, sim.ws_url, {"prompt": graph, "client_id": "f"})
            assert response.status_code == 200, response.text
            prompt_id = response.json()["prompt_id"]
            entries.append((await http.get(f"/history/{prompt_id}")).json()[prompt_id])
    return entries


def error_of(entry: dict[str, Any]) -> dict[str, Any] | None:
    return dict(entry["status"]["messages"]).get("execution_error")


def captured_error() -> dict[str, Any]:
    history = json.loads((CAPTURES / "history_runtime_error.json").read_text())["response"]
    return dict(next(iter(history.values()))["status"]["messages"])["execution_error"]


def test_oom_every_nth_execution(emulator_factory) -> None:
    sim = emulator_factory(oom_every=2)
    entries = asyncio.run(submit_all(sim, [static_ad(seed) for seed in range(1, 5)]))
    outcomes = [e["status"]["status_str"] for e in entries]
    assert outcomes == ["success", "error", "success", "error"]
    error = error_of(entries[1])
    assert error is not None
    # The captured execution_error's shape; only the failing node's own inputs differ.
    assert not shape_diff(captured_error(), error, allow=["$.current_inputs"])
    assert list(error["current_inputs"])[:3] == ["model", "seed", "steps"]
    assert error["exception_type"] == "torch.OutOfMemoryError"
    assert error["node_type"] == "KSampler"
    assert error["exception_message"].startswith("Allocation on device 0 would exceed")
    assert "comfy/model_management.py" in error["traceback"][-1]
    assert entries[1]["outputs"] == {}
    stats = sim.stats()
    assert stats["ooms"] == 2
    assert stats["successes_by_prefix"] == {"ad": 2}


def test_oom_above_max_pixels_and_smaller_succeeds(emulator_factory) -> None:
    sim = emulator_factory(oom_max_pixels=300 * 400)
    big, small = asyncio.run(submit_all(sim, [static_ad(1, 512, 640), static_ad(1, 256, 320)]))
    assert error_of(big)["exception_type"] == "torch.OutOfMemoryError"
    assert small["status"]["status_str"] == "success"


def test_oom_probability_is_seeded(emulator_factory) -> None:
    always = emulator_factory(oom_probability=1.0)
    never = emulator_factory(oom_probability=0.0)
    assert error_of(asyncio.run(submit_all(always, [static_ad(3)]))[0]) is not None
    assert error_of(asyncio.run(submit_all(never, [static_ad(3)]))[0]) is None


def test_stall_until_interrupt(emulator_factory) -> None:
    sim = emulator_factory(stall_prompts={1})

    async def go() -> tuple[list[dict], dict]:
        async with httpx.AsyncClient(base_url=sim.url) as http:
            ws = await Socket.open(sim.ws_url, "stall")
            response = await http.post(
                "/prompt", json={"prompt": static_ad(1), "client_id": "stall"}
            )
            prompt_id = response.json()["prompt_id"]
            await ws.until(executing_node("5"))  # the KSampler
            assert await ws.drain(0.4) == []  # stalled: nothing at all
            assert (await http.get("/queue")).json()["queue_running"][0][1] == prompt_id
            await http.post("/interrupt", json={"prompt_id": prompt_id})
            frames = await ws.until(is_done(prompt_id))
            await ws.close()
            return frames, (await http.get(f"/history/{prompt_id}")).json()[prompt_id]

    frames, entry = asyncio.run(go())
    kinds = [f["json"]["type"] for f in frames]
    assert kinds == ["execution_interrupted", "status", "executing"]
    assert frames[0]["json"]["data"]["node_id"] == "5"
    assert entry["status"]["status_str"] == "error"
    assert entry["status"]["completed"] is False
    assert "execution_interrupted" in dict(entry["status"]["messages"])
    stats = sim.stats()
    assert (stats["stalls"], stats["interrupted"]) == (1, 1)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_crash_after_nth_execution_loses_queue_and_history(emulator_factory) -> None:
    sim = emulator_factory(crash_after=2, restart_down_ms=500, render_ms=200)

    async def go() -> None:
        async with httpx.AsyncClient(base_url=sim.url, timeout=5) as http:
            first = await submit_all(sim, [static_ad(1)])
            assert first[0]["status"]["status_str"] == "success"
            kept = sim.output_dir / "ad_00001_.png"
            ws = await Socket.open(sim.ws_url, "crash")
            a = await http.post("/prompt", json={"prompt": static_ad(2), "client_id": "crash"})
            b = await http.post("/prompt", json={"prompt": static_ad(3), "client_id": "crash"})
            ids = [a.json()["prompt_id"], b.json()["prompt_id"]]
            with pytest.raises(ConnectionClosed):  # the socket drops with the server
                await ws.until(lambda f: False, timeout=5)
            assert refused(sim.port)
            with pytest.raises(httpx.ConnectError):
                await http.get("/queue")
            sim.wait_until_up(5)
            assert (await http.get("/queue")).json() == {"queue_running": [], "queue_pending": []}
            for prompt_id in ids:
                assert (await http.get(f"/history/{prompt_id}")).json() == {}
            assert (await http.get("/history")).json() == {}
            assert kept.is_file()  # files outlive the crash
            # A fresh server numbers from 0 again, and works.
            again = await http.post("/prompt", json={"prompt": static_ad(4), "client_id": "x"})
            assert again.json()["number"] == 0

    asyncio.run(go())
    stats = sim.stats()
    assert stats["crashes"] == 1
    assert stats["restarts"] == 1
    assert stats["executions"] >= 2  # stats describe the emulator and survive


def test_restart_on_request_refuses_connections_while_down(emulator) -> None:
    graph = static_ad(9)
    asyncio.run(submit_all(emulator, [graph]))
    started = time.monotonic()
    emulator.restart(down_ms=400)
    assert refused(emulator.port)
    emulator.wait_until_up(5)
    assert time.monotonic() - started >= 0.35
    assert httpx.get(f"{emulator.url}/history").json() == {}
    # POST /emulator/restart does the same from outside the process.
    answer = httpx.post(f"{emulator.url}/emulator/restart", json={"down_ms": 300})
    assert answer.json() == {"restarting": True, "down_ms": 300}
    deadline = time.monotonic() + 3
    while not refused(emulator.port) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert refused(emulator.port)
    emulator.wait_until_up(5)
    assert emulator.stats()["restarts"] == 2


def test_missing_model_is_a_400_naming_it(emulator_factory) -> None:
    sim = emulator_factory(missing_models={"sd_xl_base_1.0.safetensors"})
    response = httpx.post(f"{sim.url}/prompt", json={"prompt": static_ad(1)})
    assert response.status_code == 400
    data = response.json()
    assert data["error"]["type"] == "prompt_outputs_failed_validation"
    error = data["node_errors"]["1"]["errors"][0]
    assert error["type"] == "value_not_in_list"
    assert error["extra_info"]["received_value"] == "sd_xl_base_1.0.safetensors"
    assert error["details"].startswith("ckpt_name: 'sd_xl_base_1.0.safetensors' not in [")
    assert httpx.get(f"{sim.url}/models/checkpoints").json() == []
    # Put back at runtime; a LoRA goes missing instead.
    sim.set_faults(missing_models=["loras/brand.safetensors"])
    assert httpx.post(f"{sim.url}/prompt", json={"prompt": static_ad(1)}).status_code == 200
    assert "brand.safetensors" not in httpx.get(f"{sim.url}/models/loras").json()


def test_slow_view(emulator_factory) -> None:
    sim = emulator_factory(slow_view_ms=300)
    entry = asyncio.run(submit_all(sim, [static_ad(1)]))[0]
    image = entry["outputs"]["7"]["images"][0]
    started = time.monotonic()
    response = httpx.get(f"{sim.url}/view", params=image)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_faults_route_merges_and_rejects_unknown_keys(emulator) -> None:
    answer = httpx.post(
        f"{emulator.url}/emulator/faults", json={"oom_every": 3, "stall_prompts": [5]}
    )
    assert answer.status_code == 200
    assert answer.json()["oom_every"] == 3
    assert answer.json()["stall_prompts"] == [5]
    assert emulator.config.stall_prompts == {5}
    bad = httpx.post(f"{emulator.url}/emulator/faults", json={"gpu_on_fire": True})
    assert bad.status_code == 400
    assert "gpu_on_fire" in bad.json()["error"]
