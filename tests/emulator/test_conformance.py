"""The emulator against every payload captured from a real ComfyUI 0.3.64 (captures/).

One scripted session replays the probe that made the captures, in the same order (so even the
prompt `number`s line up); each capture is then compared by shape with what the emulator said.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from nightrun_dagster.emulator import EmulatorConfig, EmulatorServer
from nightrun_dagster.emulator.catalogue import CLASS_ORDER
from nightrun_dagster.emulator.driver import (
    Socket,
    executing_node,
    http_record,
    is_done,
    run_prompt,
)
from nightrun_dagster.emulator.shape import sequence_diff, shape_diff

CAPTURES = Path(__file__).resolve().parent / "captures"
NOT_COMPARED = {"_index.json", "timings.json"}
CAPTURE_FILES = sorted(p.name for p in CAPTURES.glob("*.json") if p.name not in NOT_COMPARED)

# Where the emulator differs on purpose, path → why.
ALLOWED = {
    # The capture ran on CPU (index null); the emulator reports a CUDA device, index 0.
    "system_stats.json": ["$.devices[0].index"],
}

ERROR_FILES = [
    "post_prompt_unknown_class_400.json",
    "post_prompt_missing_model_400.json",
    "post_prompt_missing_model_minimal_400.json",
    "post_prompt_bad_values_400.json",
    "post_prompt_type_mismatch_400.json",
    "post_prompt_bad_link_400.json",
    "post_prompt_no_outputs_400.json",
    "post_prompt_no_prompt_key_400.json",
    "post_prompt_missing_class_type_400.json",
]


def capture(name: str) -> dict[str, Any]:
    return json.loads((CAPTURES / name).read_text())


def body(name: str) -> dict[str, Any]:
    return capture(name)["request"]["json"]


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[..., 1] = 200
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


async def probe(sim: EmulatorServer) -> dict[str, dict[str, Any]]:
    """What the capture probe did, step by step; returns observations by capture file."""
    seen: dict[str, dict[str, Any]] = {}
    ws_url = sim.ws_url
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as http:

        async def get(name: str, path: str, **params: Any) -> httpx.Response:
            response = await http.get(path, params=params or None)
            seen[name] = {**http_record(response), "params": params}
            return response

        async def prompt(post: str, ws: str | None = None, history: str | None = None) -> str:
            response, frames = await run_prompt(http, ws_url, body(post))
            seen[post] = http_record(response)
            prompt_id = response.json()["prompt_id"]
            if ws:
                seen[ws] = {"frames": frames}
            if history:
                await get(history, f"/history/{prompt_id}")
            return prompt_id

        async def upload(name: str, filename: str, data: bytes, **form: str) -> None:
            files = {"image": (filename, data, "image/png")}
            seen[name] = http_record(await http.post("/upload/image", files=files, data=form))

        await get("system_stats.json", "/system_stats")
        await get("features.json", "/features")
        for file in CAPTURE_FILES:
            if file.startswith("object_info_") and file != "object_info_index.json":
                await get(file, capture(file)["request"]["path"])
        await get("object_info_index.json", "/object_info")
        await get("models.json", "/models")
        await get("models_checkpoints.json", "/models/checkpoints")
        await get("queue_idle.json", "/queue")
        await get("get_prompt_idle.json", "/prompt")

        ff = capture("ws_feature_flags_handshake.json")
        socket = await Socket.open(ws_url, ff["client_id"])
        await socket.send_json(
            {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
        )
        await socket.next()
        await socket.next()
        seen["ws_feature_flags_handshake.json"] = {"frames": socket.frames}
        await socket.close()

        await prompt("post_prompt_ok.json", "ws_sequence_ok.json", "history_ok.json")
        await get("view_ok.json", "/view", **capture("view_ok.json")["request"]["params"])
        await get(
            "view_missing_404.json",
            "/view",
            **capture("view_missing_404.json")["request"]["params"],
        )
        await prompt("post_prompt_cached.json", "ws_sequence_cached.json", "history_cached.json")
        await prompt("post_prompt_custom_prompt_id.json")
        for file in ERROR_FILES:
            seen[file] = http_record(await http.post("/prompt", json=body(file)))

        await upload(
            "upload_image_ok.json", "probe_upload.png", png(16, 16), overwrite="true", type="input"
        )
        await prompt(
            "post_prompt_partial_valid_200.json",
            "ws_sequence_partial_valid.json",
            "history_partial_valid.json",
        )
        loadimage = capture("history_loadimage_preview.json")["response"]
        graph = next(iter(loadimage.values()))["prompt"]
        response, frames = await run_prompt(
            http, ws_url, {"prompt": graph[2], "client_id": graph[3]["client_id"]}
        )
        seen["ws_sequence_loadimage_preview.json"] = {"frames": frames}
        preview_id = response.json()["prompt_id"]
        entry = (await get("history_loadimage_preview.json", f"/history/{preview_id}")).json()
        preview = entry[preview_id]["outputs"]["2"]["images"][0]
        await get("view_temp_preview.json", "/view", **preview)

        await upload(
            "upload_image_corrupt.json",
            "probe_corrupt.png",
            b"this is not a png...",
            overwrite="true",
        )
        await prompt(
            "post_prompt_runtime_error.json",
            "ws_sequence_runtime_error.json",
            "history_runtime_error.json",
        )
        await prompt(
            "post_prompt_text_preview_any.json",
            "ws_sequence_text_preview_any.json",
            "history_text_preview_any.json",
        )
        await prompt(
            "post_prompt_savewebsocket.json",
            "ws_sequence_binary_legacy.json",
            "history_savewebsocket.json",
        )

        meta = capture("ws_sequence_binary_with_metadata.json")
        socket = await Socket.open(ws_url, meta["client_id"])
        await socket.send_json(
            {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
        )
        graph_body = {**body("post_prompt_savewebsocket.json"), "client_id": meta["client_id"]}
        response = await http.post("/prompt", json=graph_body)
        await socket.until(is_done(response.json()["prompt_id"]))
        seen["ws_sequence_binary_with_metadata.json"] = {"frames": socket.frames}
        await socket.close()

        socket = await Socket.open(ws_url)
        seen["ws_connect_without_clientid.json"] = {"first_frame": await socket.next()}
        await socket.close()

        observer = await Socket.open(
            ws_url, capture("ws_sequence_no_client_id_observer.json")["client_id"]
        )
        await observer.next()
        response = await http.post("/prompt", json=body("post_prompt_no_client_id.json"))
        seen["post_prompt_no_client_id.json"] = http_record(response)
        lone = response.json()["prompt_id"]
        while (await http.get(f"/history/{lone}")).json() == {}:
            await asyncio.sleep(0.01)
        await observer.drain(0.15)
        seen["ws_sequence_no_client_id_observer.json"] = {"frames": observer.frames}
        await observer.close()

        await interrupt_scenario(sim, http, seen)

        seen["post_interrupt_idle_nobody.json"] = http_record(await http.post("/interrupt"))
        await get("history_list_max2.json", "/history", max_items=2)
        await get("queue_final.json", "/queue")
        # After the uploads, LoadImage's combo lists them (the capture's server had example.png).
        await get("object_info_LoadImage.json", "/object_info/LoadImage")
    return seen


async def interrupt_scenario(
    sim: EmulatorServer, http: httpx.AsyncClient, seen: dict[str, dict[str, Any]]
) -> None:
    """Long prompt A (6 nodes, ~0.3 s each), short B queued behind it and deleted, then A
    interrupted while node 3 runs — so node 4's `executing` comes before the interrupt."""
    sim.set_faults(render_ms=1800)
    long_body = body("post_prompt_long.json")
    socket = await Socket.open(sim.ws_url, long_body["client_id"])
    response = await http.post("/prompt", json=long_body)
    seen["post_prompt_long.json"] = http_record(response)
    a = response.json()["prompt_id"]
    await socket.until(executing_node("1"))
    response = await http.post("/prompt", json=body("post_prompt_queued_second.json"))
    seen["post_prompt_queued_second.json"] = http_record(response)
    b = response.json()["prompt_id"]
    await socket.until(executing_node("3"))
    seen["queue_running_pending.json"] = http_record(await http.get("/queue"))
    seen["get_prompt_busy.json"] = http_record(await http.get("/prompt"))
    seen["history_while_running.json"] = http_record(await http.get(f"/history/{a}"))
    seen["post_queue_delete.json"] = http_record(await http.post("/queue", json={"delete": [b]}))
    seen["queue_after_delete.json"] = http_record(await http.get("/queue"))
    seen["post_interrupt.json"] = http_record(await http.post("/interrupt", json={"prompt_id": a}))
    await socket.until(is_done(a))
    seen["ws_sequence_interrupt.json"] = {"frames": socket.frames}
    await socket.close()
    seen["history_interrupted.json"] = http_record(await http.get(f"/history/{a}"))
    seen["history_deleted_pending.json"] = http_record(await http.get(f"/history/{b}"))
    sim.set_faults(render_ms=30)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("conformance")
    config = EmulatorConfig(
        render_ms=30,
        output_dir=root / "output",
        input_dir=root / "input",
        temp_dir=root / "temp",
    )
    with EmulatorServer(config) as sim:
        yield asyncio.run(probe(sim))


def compare(name: str, expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Problems with one observation, per the kind of capture it answers."""
    if name.startswith("ws_sequence_") or name == "ws_feature_flags_handshake.json":
        return sequence_diff(expected["frames"], got["frames"])
    if name == "ws_connect_without_clientid.json":
        first = got["first_frame"]["json"]
        problems = shape_diff(expected["first_frame_json"], first)
        sid = first["data"].get("sid", "")
        if len(sid) != 32 or any(c not in "0123456789abcdef" for c in sid):
            problems.append(f"sid {sid!r} is not a server-made hex id")
        return problems
    if name == "object_info_index.json":
        return index_problems(expected, got)
    problems = []
    if got["status"] != expected["status"]:
        problems.append(f"status: expected {expected['status']}, got {got['status']}")
    if "content_type" in expected and got["content_type"] != expected["content_type"]:
        problems.append(
            f"content type: expected {expected['content_type']!r}, got {got['content_type']!r}"
        )
    if "response" in expected:
        problems += shape_diff(
            expected["response"], got.get("response"), allow=ALLOWED.get(name, ())
        )
    if "body_text" in expected and got["body"].decode() != expected["body_text"]:
        problems.append(f"body: expected {expected['body_text']!r}, got {got['body'][:60]!r}")
    if "headers" in expected:
        problems += header_problems(expected, got)
    return problems


def header_problems(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    want = expected["headers"]
    have = got["headers"]
    problems = []
    for key in want:
        if key in {"date", "server"}:
            continue
        if key not in have:
            problems.append(f"header {key!r} missing")
    if "content-type" in want and have.get("content-type") != want["content-type"]:
        problems.append(f"content-type {have.get('content-type')!r} != {want['content-type']!r}")
    if "content-disposition" in want:
        filename = got["params"]["filename"]
        if have.get("content-disposition") != f'filename="{filename}"':
            problems.append(f"content-disposition {have.get('content-disposition')!r}")
    if "content-length" in have and int(have["content-length"]) != len(got["body"]):
        problems.append("content-length does not match the body")
    if "body_first_16_bytes_hex" in expected:
        magic = expected["body_first_16_bytes_hex"][:16]
        if got["body"][:8].hex() != magic:
            problems.append(f"body starts {got['body'][:8].hex()}, expected {magic}")
    return problems


def index_problems(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Every class the emulator serves that the real server had: same listing metadata."""
    problems = []
    if got["status"] != expected["status"]:
        problems.append(f"status {got['status']}")
    served = got["response"]
    if list(served) != list(CLASS_ORDER):
        problems.append(f"/object_info lists {list(served)}")
    real = expected["nodes"]
    for name, info in served.items():
        if name not in real:
            if not info["python_module"].startswith("custom_nodes."):
                problems.append(f"{name}: not on the real server and not a custom node")
            continue
        for key, value in real[name].items():
            mine = (
                info.get(key, False)
                if key in {"api_node", "deprecated", "experimental"}
                else info[key]
            )
            if mine != value:
                problems.append(f"{name}.{key}: expected {value!r}, got {mine!r}")
        for key in ("input", "input_order", "output", "output_is_list", "output_name", "name"):
            if key not in info:
                problems.append(f"{name}: no {key!r}")
    return problems


@pytest.mark.parametrize("name", CAPTURE_FILES)
def test_capture_conformance(name: str, observed: dict[str, dict[str, Any]]) -> None:
    assert name in observed, f"the probe scenario never reproduced {name}"
    problems = compare(name, capture(name), observed[name])
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


def test_prompt_numbers_match_the_probe(observed: dict[str, dict[str, Any]]) -> None:
    """`number` counts every POST, rejected ones included: the replay lands on the same ones."""
    for name in CAPTURE_FILES:
        expected = capture(name).get("response")
        if name.startswith("post_prompt_") and isinstance(expected, dict) and "number" in expected:
            assert observed[name]["response"]["number"] == expected["number"], name


def test_client_prompt_id_is_echoed(observed: dict[str, dict[str, Any]]) -> None:
    sent = body("post_prompt_custom_prompt_id.json")["prompt_id"]
    assert observed["post_prompt_custom_prompt_id.json"]["response"]["prompt_id"] == sent


def test_cached_rerun_reports_every_node(observed: dict[str, dict[str, Any]]) -> None:
    history = next(iter(observed["history_cached.json"]["response"].values()))
    cached = dict(history["status"]["messages"])["execution_cached"]["nodes"]
    assert cached == ["1", "2", "3", "4"]
    assert history["outputs"]["4"]["images"][0]["filename"] == "probe_00001_.png"


def test_validation_details_match_the_capture(observed: dict[str, dict[str, Any]]) -> None:
    """Beyond shape: the same error types on the same nodes, the same messages."""
    for name in ERROR_FILES:
        want, got = capture(name)["response"], observed[name]["response"]
        assert got["error"]["type"] == want["error"]["type"], name
        assert got["error"]["message"] == want["error"]["message"], name
        assert list(got["node_errors"]) == list(want["node_errors"]), name
        for node_id, entry in want["node_errors"].items():
            mine = got["node_errors"][node_id]
            assert sorted(e["type"] for e in mine["errors"]) == sorted(
                e["type"] for e in entry["errors"]
            ), name
            assert mine["dependent_outputs"] == entry["dependent_outputs"], name
    bad = observed["post_prompt_bad_values_400.json"]["response"]["node_errors"]["1"]["errors"]
    assert {e["details"] for e in bad} == {
        "height, abc, invalid literal for int() with base 10: 'abc'",
        "batch_size",
        "width",
    }
    missing = observed["post_prompt_missing_model_400.json"]["response"]["node_errors"]["1"]
    assert missing["errors"][0]["details"].startswith(
        "ckpt_name: 'missing.safetensors' not in ['sd_xl_base_1.0.safetensors'"
    )


def test_shape_check_catches_a_mismatch() -> None:
    """The comparison is not vacuous: a renamed key, a changed type and a reordered frame fail."""
    good = capture("history_ok.json")["response"]
    broken = json.loads(json.dumps(good))
    entry = next(iter(broken.values()))
    entry["status"]["complete"] = entry["status"].pop("completed")
    entry["prompt"][0] = "0"
    problems = shape_diff(good, broken)
    assert any("keys differ" in p and "completed" in p for p in problems)
    assert any(p.startswith("$.<uuid>.prompt[0]: expected int") for p in problems)
    frames = capture("ws_sequence_ok.json")["frames"]
    swapped = [*frames[:3], frames[4], frames[3], *frames[5:]]
    assert sequence_diff(frames, swapped)
