"""Protocol behaviour beyond the captures: queue order, files, catalogue, routes, the CLI."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from nightrun_dagster.cli import comfy_sim
from nightrun_dagster.emulator import DEFAULT_MODELS, EmulatorServer
from nightrun_dagster.emulator.driver import Socket, executing_node, is_done, run_prompt

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "workflows"
TEMPLATES = sorted(WORKFLOWS.glob("*.json"))
SMOKE = json.loads((WORKFLOWS / "smoke_v1.json").read_text())
SMOKE.pop("_workflow_metadata")


def smoke(colour: int, prefix: str = "nightrun/smoke") -> dict[str, Any]:
    graph = json.loads(json.dumps(SMOKE))
    graph["1"]["inputs"]["color"] = colour
    graph["4"]["inputs"]["filename_prefix"] = prefix
    return graph


def template(path: Path) -> dict[str, Any]:
    graph = json.loads(path.read_text())
    graph.pop("_workflow_metadata")
    return graph


def test_every_template_class_and_model_is_served(emulator: EmulatorServer) -> None:
    info = httpx.get(f"{emulator.url}/object_info").json()
    for path in TEMPLATES:
        for node in template(path).values():
            assert node["class_type"] in info, (path.name, node["class_type"])
            spec = info[node["class_type"]]["input"]
            for name, value in node["inputs"].items():
                combo = {**spec["required"], **spec.get("optional", {})}.get(name, [None])[0]
                if isinstance(combo, list) and name.endswith("_name"):
                    assert value in combo, (path.name, name, value)
    for name in ("LoraLoader", "ImageBlur", "PreviewAny", "StringConcatenate"):
        assert name in info
    assert info["LoraLoader"]["input"]["required"]["lora_name"][0] == sorted(
        DEFAULT_MODELS["loras"]
    )
    assert info["LoraLoader"]["output"] == ["MODEL", "CLIP"]
    assert httpx.get(f"{emulator.url}/object_info/LoraLoader").json().keys() == {"LoraLoader"}


def test_every_template_is_accepted(emulator: EmulatorServer) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "white").save(buffer, format="PNG")
    for name in ("ui_screen.png", "product.png"):
        files = {"image": (name, buffer.getvalue(), "image/png")}
        httpx.post(f"{emulator.url}/upload/image", files=files).raise_for_status()
    for path in TEMPLATES:
        response = httpx.post(f"{emulator.url}/prompt", json={"prompt": template(path)})
        assert response.status_code == 200, (path.name, response.text)
        assert response.json()["node_errors"] == {}, path.name
    httpx.post(f"{emulator.url}/queue", json={"clear": True})


def test_api_prefix_and_model_folders(emulator: EmulatorServer) -> None:
    url = emulator.url
    assert httpx.get(f"{url}/api/system_stats").json()["system"]["comfyui_version"] == "0.3.64"
    device = httpx.get(f"{url}/system_stats").json()["devices"][0]
    assert device["name"] == "cuda:0 NVIDIA GeForce RTX 3080 : cudaMallocAsync"
    assert device["type"] == "cuda"
    assert device["vram_total"] == 10 * 1024**3
    assert 0 < device["vram_free"] <= device["vram_total"]
    folders = httpx.get(f"{url}/api/models").json()
    assert {"checkpoints", "loras", "vae", "controlnet", "ipadapter", "clip_vision"} <= set(folders)
    assert httpx.get(f"{url}/models/unet").json() == list(DEFAULT_MODELS["diffusion_models"])
    assert httpx.get(f"{url}/models/clip").json() == list(DEFAULT_MODELS["text_encoders"])
    assert "controlnet-depth-sdxl-1.0.safetensors" in httpx.get(f"{url}/models/controlnet").json()
    missing = httpx.get(f"{url}/models/nowhere")
    assert (missing.status_code, missing.content) == (404, b"")
    assert httpx.get(f"{url}/api/object_info/Nope").json() == {}

    async def ws() -> dict[str, Any]:
        socket = await Socket.open(f"ws://127.0.0.1:{emulator.port}/api/ws", "api-client")
        frame = await socket.next()
        await socket.close()
        return frame["json"]

    assert asyncio.run(ws())["data"]["sid"] == "api-client"


def test_subfolder_prefix_counter_and_png_prompt(emulator: EmulatorServer) -> None:
    async def go() -> list[dict[str, Any]]:
        outputs = []
        async with httpx.AsyncClient(base_url=emulator.url) as http:
            for colour in (1, 2):
                body = {"prompt": smoke(colour, "night/job_a/v0001"), "client_id": "s"}
                response, _ = await run_prompt(http, emulator.ws_url, body)
                pid = response.json()["prompt_id"]
                outputs.append((await http.get(f"/history/{pid}")).json()[pid]["outputs"]["4"])
        return outputs

    first, second = asyncio.run(go())
    assert first == {
        "images": [{"filename": "v0001_00001_.png", "subfolder": "night/job_a", "type": "output"}]
    }
    assert second["images"][0]["filename"] == "v0001_00002_.png"
    png = Image.open(emulator.output_dir / "night/job_a/v0001_00001_.png")
    assert json.loads(png.info["prompt"]) == smoke(1, "night/job_a/v0001")
    assert emulator.stats()["successes_by_prefix"] == {"night/job_a/v0001": 2}


def test_queue_priority_front_delete_and_history_routes(emulator_factory) -> None:
    sim = emulator_factory(stall_prompts={1})

    async def go() -> tuple[list[str], list[str], dict[str, Any]]:
        async with httpx.AsyncClient(base_url=sim.url) as http:
            ws = await Socket.open(sim.ws_url, "q")

            async def post(colour: int, **extra: Any) -> str:
                body = {"prompt": smoke(colour), "client_id": "q", **extra}
                return (await http.post("/prompt", json=body)).json()["prompt_id"]

            blocker = await post(1)
            await ws.until(executing_node("1"))  # stalled: the worker holds it
            late = await post(2, number=100)
            early = await post(3, number=50)
            front = await post(4, front=True)
            doomed = await post(5)
            queue = (await http.get("/queue")).json()
            pending = [item[1] for item in queue["queue_pending"]]
            numbers = [item[0] for item in queue["queue_pending"]]
            await http.post("/queue", json={"delete": [doomed]})
            await http.post("/interrupt", json={"prompt_id": blocker})
            await ws.until(is_done(late))
            order = [
                f["json"]["data"]["prompt_id"]
                for f in ws.frames
                if f["json"]["type"] == "execution_start"
            ]
            history = (await http.get("/history")).json()
            await http.post("/history", json={"delete": [early]})
            after_delete = (await http.get("/history")).json()
            await http.post("/history", json={"clear": True})
            cleared = (await http.get("/history")).json()
            await ws.close()
            assert early not in after_delete and len(after_delete) == len(history) - 1
            assert cleared == {}
            # front=True negates the counter; explicit numbers are floats, as in server.py.
            assert numbers == [-1, 2, 50.0, 100.0]
            return (
                pending,
                order,
                {
                    "blocker": blocker,
                    "front": front,
                    "early": early,
                    "late": late,
                    "doomed": doomed,
                },
            )

    pending, order, ids = asyncio.run(go())
    assert pending == [ids["front"], ids["doomed"], ids["early"], ids["late"]]
    assert order == [ids["blocker"], ids["front"], ids["early"], ids["late"]]
    assert ids["doomed"] not in order


def test_no_client_id_prompts_are_silent_but_progress_is_broadcast(emulator) -> None:
    async def go() -> list[str]:
        async with httpx.AsyncClient(base_url=emulator.url) as http:
            ws = await Socket.open(emulator.ws_url, "observer")
            response = await http.post("/prompt", json={"prompt": smoke(7)})
            pid = response.json()["prompt_id"]
            while (await http.get(f"/history/{pid}")).json() == {}:
                await asyncio.sleep(0.01)
            frames = await ws.drain(0.15)
            await ws.close()
            return [f["json"]["type"] for f in [*ws.frames[:1], *frames]]

    kinds = asyncio.run(go())
    assert set(kinds) == {"status", "progress_state"}


def test_upload_keeps_both_files_unless_overwrite(emulator) -> None:
    url = f"{emulator.url}/upload/image"
    first = httpx.post(url, files={"image": ("a.png", b"one", "image/png")}).json()
    same = httpx.post(url, files={"image": ("a.png", b"one", "image/png")}).json()
    other = httpx.post(url, files={"image": ("a.png", b"two", "image/png")}).json()
    forced = httpx.post(
        url, files={"image": ("a.png", b"three", "image/png")}, data={"overwrite": "true"}
    ).json()
    sub = httpx.post(
        url, files={"image": ("b.png", b"x", "image/png")}, data={"subfolder": "job1"}
    ).json()
    assert [first["name"], same["name"], other["name"], forced["name"]] == [
        "a.png",
        "a.png",
        "a (1).png",
        "a.png",
    ]
    assert (emulator.input_dir / "a.png").read_bytes() == b"three"
    assert sub == {"name": "b.png", "subfolder": "job1", "type": "input"}
    assert (emulator.input_dir / "job1" / "b.png").read_bytes() == b"x"


def test_stats_route(emulator) -> None:
    asyncio.run(_run(emulator, smoke(11, "stats/p")))
    stats = httpx.get(f"{emulator.url}/emulator/stats").json()
    for key in (
        "executions",
        "successes_by_prefix",
        "executions_by_prompt",
        "ooms",
        "interrupted",
        "render_seconds",
        "busy_since_first",
        "first_start",
        "last_end",
    ):
        assert key in stats
    assert stats["executions"] == 1
    assert stats["successes_by_prefix"] == {"stats/p": 1}
    assert list(stats["executions_by_prompt"].values()) == [1]
    assert 0.015 <= stats["render_seconds"] < 1.0  # render_ms=20 of pacing
    assert stats["first_start"] <= stats["last_end"]


async def _run(sim: EmulatorServer, graph: dict[str, Any]) -> str:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        response, _ = await run_prompt(http, sim.ws_url, {"prompt": graph, "client_id": "r"})
        return response.json()["prompt_id"]


def test_render_ms_is_the_wall_time_of_a_prompt(emulator_factory) -> None:
    sim = emulator_factory(render_ms=400)
    started = time.monotonic()
    asyncio.run(_run(sim, smoke(21)))
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 1.5
    assert 0.39 <= sim.stats()["render_seconds"] < 1.0


def test_cli_flags_build_the_config(tmp_path: Path) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    comfy_sim.add_arguments(parser)
    args = parser.parse_args(
        [
            "--port",
            "0",
            "--render-ms",
            "5",
            "--oom-probability",
            "0.25",
            "--oom-every",
            "7",
            "--oom-max-pixels",
            "1000000",
            "--stall",
            "2",
            "--stall",
            "9",
            "--crash-after",
            "4",
            "--restart-down-ms",
            "300",
            "--missing-model",
            "sd_xl_base_1.0.safetensors",
            "--model",
            "loras/new_style.safetensors",
            "--model",
            "unet/flux.safetensors",
            "--slow-view-ms",
            "50",
            "--output-dir",
            str(tmp_path / "out"),
        ]
    )
    config = comfy_sim.config_from_args(args)
    assert (config.port, config.render_ms, config.oom_every, config.crash_after) == (0, 5, 7, 4)
    assert config.oom_probability == 0.25
    assert config.oom_max_pixels == 1_000_000
    assert config.stall_prompts == {2, 9}
    assert config.restart_down_ms == 300
    assert config.slow_view_ms == 50
    assert config.model_list("checkpoints") == []
    assert "new_style.safetensors" in config.model_list("loras")
    assert "flux.safetensors" in config.model_list("diffusion_models")
    assert config.output_dir == tmp_path / "out"


def test_cli_process_serves_and_logs_one_line_per_prompt(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nightrun_dagster.cli.comfy_sim",
            "--port",
            "0",
            "--render-ms",
            "10",
            "--output-dir",
            str(tmp_path / "out"),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        url = match.group(1)
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/system_stats").raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        response = httpx.post(f"{url}/prompt", json={"prompt": smoke(3, "cli")})
        pid = response.json()["prompt_id"]
        logged = ""
        while pid not in logged:
            logged = proc.stderr.readline()
        assert "success" in logged and " ms" in logged
        assert (tmp_path / "out" / "cli_00001_.png").is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("path", ["/queue", "/history"])
def test_post_routes_answer_empty_200(emulator, path: str) -> None:
    response = httpx.post(f"{emulator.url}{path}", json={"clear": True})
    assert (response.status_code, response.content) == (200, b"")
    free = httpx.post(f"{emulator.url}/free", json={"unload_models": True, "free_memory": True})
    assert (free.status_code, free.content) == (200, b"")


def test_validation_errors_on_a_sampler(emulator) -> None:
    graph = template(WORKFLOWS / "static_ad_v1.json")
    graph["5"]["inputs"].update(steps=0, denoise=1.5, sampler_name="bogus", cfg="abc")
    response = httpx.post(f"{emulator.url}/prompt", json={"prompt": graph})
    assert response.status_code == 400
    data = response.json()
    assert data["error"]["details"] == ""  # the failure is upstream of the output
    errors = {e["type"]: e for e in data["node_errors"]["5"]["errors"]}
    assert errors["value_smaller_than_min"]["details"] == "steps"
    assert errors["value_bigger_than_max"]["message"] == "Value 1.5 bigger than max of 1.0"
    long_list = errors["value_not_in_list"]
    assert long_list["details"] == "sampler_name: 'bogus' not in (list of length 42)"
    assert long_list["extra_info"]["input_config"] is None  # long lists are not echoed
    assert errors["invalid_input_type"]["extra_info"]["exception_message"] == (
        "could not convert string to float: 'abc'"
    )
    assert data["node_errors"]["5"]["dependent_outputs"] == ["7"]

    graph = template(WORKFLOWS / "static_ad_v1.json")
    graph["5"]["inputs"]["latent_image"] = ["42", 0]  # a link to nowhere, below the output
    data = httpx.post(f"{emulator.url}/prompt", json={"prompt": graph}).json()
    inner = data["node_errors"]["5"]["errors"][0]
    assert inner["type"] == "exception_during_inner_validation"
    assert inner["extra_info"]["exception_type"] == "KeyError"
    assert inner["extra_info"]["linked_node"] == ["5", 0]
