"""The ComfyUI client against the emulator on loopback: happy path and every typed outcome."""

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from nightrun_dagster.comfy.client import ComfyClient, Timeouts, safe_filename
from nightrun_dagster.comfy.errors import (
    ComfyExecutionError,
    ComfyInterrupted,
    ComfyLost,
    ComfyMissingModel,
    ComfyMissingNode,
    ComfyOOM,
    ComfyStalled,
    ComfyUnavailable,
    ComfyValidationError,
)
from nightrun_dagster.workflows.templates import DEFAULT_WORKFLOWS_DIR, load_templates

FAST = Timeouts(connect=2, request=5, stall=5, poll=0.2, unavailable=2)


def smoke(prefix: str = "nightrun/test/smoke") -> dict[str, Any]:
    template = load_templates(DEFAULT_WORKFLOWS_DIR)["smoke_v1"]
    graph = template.graph()
    graph[template.metadata["nodes"]["output"]]["inputs"]["filename_prefix"] = prefix
    return graph


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_submit_wait_download(emulator, tmp_path: Path) -> None:
    async def go():
        async with ComfyClient(emulator.url, timeouts=FAST) as client:
            sub = await client.submit(smoke(), prompt_id="our-own-id-1")
            assert sub.prompt_id == "our-own-id-1"
            outcome = await client.wait(sub.prompt_id)
            size = await client.download(outcome.outputs[0], tmp_path / "dl" / "out.png")
            return outcome, size

    outcome, size = run(go())
    assert outcome.history["status"]["status_str"] == "success"
    assert outcome.server_seconds is not None and outcome.server_seconds > 0
    assert [o.kind for o in outcome.outputs] == ["images"]
    assert size == (tmp_path / "dl" / "out.png").stat().st_size > 0
    with Image.open(tmp_path / "dl" / "out.png") as im:
        assert im.format == "PNG"
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["out.png"]  # no temp left
    assert emulator.stats()["executions_by_prompt"] == {"our-own-id-1": 1}


def test_unknown_class_is_missing_node(emulator) -> None:
    graph = smoke()
    graph["1"]["class_type"] = "NoSuchNodeType"

    async def go():
        async with ComfyClient(emulator.url, timeouts=FAST) as client:
            await client.submit(graph)

    with pytest.raises(ComfyMissingNode) as info:
        run(go())
    assert info.value.classes == ["NoSuchNodeType"]


def test_missing_model_is_named(emulator_factory) -> None:
    server = emulator_factory(missing_models={"sd_xl_base_1.0.safetensors"})
    template = load_templates(DEFAULT_WORKFLOWS_DIR)["static_ad_v1"]

    async def go():
        async with ComfyClient(server.url, timeouts=FAST) as client:
            await client.submit(template.graph())

    with pytest.raises(ComfyMissingModel) as info:
        run(go())
    assert [m.name for m in info.value.models] == ["sd_xl_base_1.0.safetensors"]
    assert info.value.models[0].input_name == "ckpt_name"
    assert "sd_xl_base_1.0.safetensors" in str(info.value)
    assert server.stats()["executions"] == 0


def test_only_model_inputs_name_missing_models(emulator) -> None:
    """`clip_name` is a CLIP vision model on CLIPVisionLoader; a value absent from another
    combo is no model: the rejection names the one model and nothing else."""
    size = {"width": 64, "height": 64, "batch_size": 1, "color": 0}
    scale = {"image": ["0", 0], "upscale_method": "sideways", "width": 64, "height": 64}
    graph = {
        "0": {"class_type": "EmptyImage", "inputs": size},
        "1": {"class_type": "ImageScale", "inputs": {**scale, "crop": "disabled"}},
        "2": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": "vit.safetensors"}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }

    async def go():
        async with ComfyClient(emulator.url, timeouts=FAST) as client:
            await client.submit(graph)

    with pytest.raises(ComfyMissingModel) as info:
        run(go())
    assert set(info.value.node_errors) == {"1", "2"}
    assert [(m.class_type, m.input_name, m.name) for m in info.value.models] == [
        ("CLIPVisionLoader", "clip_name", "vit.safetensors")
    ]


def test_bad_values_are_a_validation_error(emulator) -> None:
    graph = smoke()
    graph["1"]["inputs"]["width"] = -5

    async def go():
        async with ComfyClient(emulator.url, timeouts=FAST) as client:
            await client.submit(graph)

    with pytest.raises(ComfyValidationError) as info:
        run(go())
    assert "1" in info.value.node_errors
    assert not isinstance(info.value, ComfyMissingModel | ComfyMissingNode)


def test_partially_valid_prompt_is_withdrawn(emulator) -> None:
    graph = smoke()
    graph["9"] = {"class_type": "LoadImage", "inputs": {"image": "nope.png"}}
    graph["10"] = {"class_type": "PreviewImage", "inputs": {"images": ["9", 0]}}

    async def go():
        async with ComfyClient(emulator.url, timeouts=FAST) as client:
            with pytest.raises(ComfyValidationError) as info:
                await client.submit(graph, prompt_id="partial-1")
            await asyncio.sleep(0.3)
            return info.value, await client.queue()

    err, queue = run(go())
    assert "9" in err.node_errors
    assert "partial-1" not in queue
    # it may have started before the delete arrived, but it must not be left queued or rerun
    assert emulator.stats()["executions_by_prompt"].get("partial-1", 0) <= 1


def test_oom_and_runtime_error_are_typed(emulator_factory, tmp_path: Path) -> None:
    server = emulator_factory(oom_every=1)

    async def go_oom():
        async with ComfyClient(server.url, timeouts=FAST) as client:
            sub = await client.submit(smoke())
            await client.wait(sub.prompt_id)

    with pytest.raises(ComfyOOM) as info:
        run(go_oom())
    assert "OutOfMemoryError" in info.value.exception_type

    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"this is not an image")
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "corrupt.png"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    server.set_faults(oom_every=0)

    async def go_error():
        async with ComfyClient(server.url, timeouts=FAST) as client:
            name = await client.upload_image(corrupt)
            graph["1"]["inputs"]["image"] = name
            sub = await client.submit(graph)
            await client.wait(sub.prompt_id)

    with pytest.raises(ComfyExecutionError) as err:
        run(go_error())
    assert not isinstance(err.value, ComfyOOM)
    assert err.value.node_type == "LoadImage" and err.value.exception_type


def test_interrupt_by_someone_else(emulator_factory) -> None:
    server = emulator_factory(stall_prompts={1})

    async def go():
        async with ComfyClient(server.url, timeouts=FAST) as client:
            sub = await client.submit(smoke())
            waiter = asyncio.create_task(client.wait(sub.prompt_id))
            await asyncio.sleep(0.3)
            async with ComfyClient(server.url, timeouts=FAST) as other:
                await other.interrupt()
            await waiter

    with pytest.raises(ComfyInterrupted):
        run(go())


def test_stall_is_interrupted_and_removed(emulator_factory) -> None:
    server = emulator_factory(stall_prompts={1})
    quick = Timeouts(connect=2, request=5, stall=0.6, poll=0.1, unavailable=2)

    async def go():
        async with ComfyClient(server.url, timeouts=quick) as client:
            sub = await client.submit(smoke(), prompt_id="stalls")
            try:
                await client.wait(sub.prompt_id)
            finally:
                await asyncio.sleep(0.3)
                queue = await client.queue()
            return queue

    with pytest.raises(ComfyStalled):
        run(go())
    assert server.stats()["interrupted"] >= 1


def test_lost_after_restart(emulator_factory) -> None:
    server = emulator_factory(render_ms=400)

    async def go():
        async with ComfyClient(server.url, timeouts=FAST) as client:
            first = await client.submit(smoke("a"))
            second = await client.submit(smoke("b"))
            server.restart(down_ms=200, wait=True)
            with pytest.raises(ComfyLost):
                await client.wait(second.prompt_id)
            return first

    run(go())
    assert server.stats()["restarts"] == 1


def test_a_prompt_seen_to_succeed_is_harvested_after_a_restart_forgot_it(
    emulator_factory, tmp_path: Path
) -> None:
    # The websocket said `execution_success`, then the server restarted before anyone read
    # /history: the history is gone, the files are not, so it is not rendered again.
    server = emulator_factory(render_ms=50)

    async def go() -> tuple[Any, int, dict[str, Any] | None]:
        async with ComfyClient(server.url, timeouts=FAST) as client:
            sub = await client.submit(smoke("seen"))
            while server.stats()["successes"] < 1:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # the reader task takes the last frames
            await asyncio.to_thread(server.restart, down_ms=300, wait=True)
            forgotten = await client.history(sub.prompt_id)
            outcome = await client.wait(sub.prompt_id)
            size = await client.download(outcome.outputs[0], tmp_path / "seen.png")
            return outcome, size, forgotten

    outcome, size, forgotten = run(go())
    assert forgotten is None  # the restarted server no longer knows it
    assert [o.kind for o in outcome.outputs] == ["images"] and size > 0
    assert outcome.server_seconds is not None and outcome.server_seconds > 0
    assert outcome.history["from_websocket"] is True
    assert server.stats()["successes"] == 1


def test_an_outage_is_counted_once_and_a_websocket_drop_not_at_all(emulator_factory) -> None:
    server = emulator_factory()
    heard: list[bool] = []

    async def go() -> tuple[int, int]:
        async with ComfyClient(server.url, timeouts=FAST) as client:
            client.on_reachability = heard.append
            await client.open_socket()
            await client.system_stats()
            await asyncio.to_thread(server.restart, down_ms=500)
            for _ in range(3):  # three failed calls, one outage
                with pytest.raises(ComfyUnavailable):
                    await client.system_stats()
            assert client.down_since is not None and client.outages == 1
            await asyncio.to_thread(server.wait_until_up, 10)
            await client.system_stats()
            assert client.down_since is None
            # The websocket comes back on its own back-off (up to 5 s): drop it once it has.
            for _ in range(100):
                if client.reconnects >= 1:  # the restart's
                    break
                await asyncio.sleep(0.1)
            await asyncio.to_thread(server.drop_websockets)
            for _ in range(100):
                await asyncio.sleep(0.1)
                if client.reconnects >= 2:  # the restart's and the drop's
                    break
            await client.system_stats()
            return client.outages, client.reconnects

    outages, reconnects = run(go())
    assert outages == 1 and heard == [False, True] and reconnects >= 2


def test_a_server_that_never_answered_has_no_outage() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go() -> int:
        async with ComfyClient(f"http://127.0.0.1:{port}", timeouts=FAST) as client:
            with pytest.raises(ComfyUnavailable):
                await client.system_stats()
            return client.outages

    assert run(go()) == 0


def test_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go():
        async with ComfyClient(f"http://127.0.0.1:{port}", timeouts=FAST) as client:
            await client.system_stats()

    with pytest.raises(ComfyUnavailable, match=f"127.0.0.1:{port}"):
        run(go())


@pytest.mark.parametrize(
    ("server_name", "safe"),
    [
        ("img_00001_.png", "img_00001_.png"),
        ("../../etc/passwd", "passwd"),
        ("/abs/path/x.png", "x.png"),
        ("..\\..\\win.png", "win.png"),
        ("..", "output"),
        ("we ird$name.png", "we_ird_name.png"),
        (".hidden.png", "hidden.png"),
    ],
)
def test_server_filenames_never_escape(server_name: str, safe: str) -> None:
    assert safe_filename(server_name) == safe
