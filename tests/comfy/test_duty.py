"""Duty-cycle figures from server timestamps: the real server's captured payloads, and the
emulator's timestamps held to the same rules."""

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from nightrun_dagster.comfy.duty import (
    BenchInputError,
    Execution,
    Load,
    blur_graph,
    duty_of,
    execution_of,
    parse_load,
)
from nightrun_dagster.emulator import EmulatorServer
from nightrun_dagster.emulator.driver import run_prompt

CAPTURES = Path(__file__).parents[1] / "emulator" / "captures"


def capture(name: str) -> dict[str, Any]:
    return json.loads((CAPTURES / name).read_text())["response"]


def ws_timestamps(frames: list[dict[str, Any]]) -> dict[str, int]:
    out = {}
    for frame in frames:
        doc = frame.get("json") or {}
        if doc.get("type") in {"execution_start", "execution_success"}:
            out[doc["type"]] = doc["data"]["timestamp"]
    return out


def test_real_history_gives_the_servers_own_timing() -> None:
    ((pid, entry),) = capture("history_ok.json").items()
    found = execution_of(pid, entry)
    assert found == Execution(pid, 1795221537932, 1795221538009, cached_all=False)
    # The real server sends the same timestamps over the websocket as it keeps in /history.
    frames = json.loads((CAPTURES / "ws_sequence_ok.json").read_text())["frames"]
    assert ws_timestamps(frames) == {
        "execution_start": found.start_ms,
        "execution_success": found.end_ms,
    }


def test_a_prompt_served_from_the_cache_is_no_render() -> None:
    ((pid, entry),) = capture("history_cached.json").items()
    found = execution_of(pid, entry)
    assert found is not None and found.cached_all
    ((ok_pid, ok_entry),) = capture("history_ok.json").items()
    duty = duty_of([execution_of(ok_pid, ok_entry), found])  # type: ignore[list-item]
    assert (duty.renders, duty.cached) == (1, 1)
    assert duty.median_render_ms == 77.0  # the cached one does not count as a render


def test_an_unfinished_entry_has_no_execution() -> None:
    entry = {"status": {"status_str": "error", "messages": [["execution_start", {"timestamp": 5}]]}}
    assert execution_of("p", entry) is None


def test_duty_busy_over_span_and_median_gap() -> None:
    runs = [
        Execution("c", 1_150, 1_250, False),
        Execution("a", 1_000, 1_100, False),
        Execution("b", 1_110, 1_140, False),
    ]
    duty = duty_of(runs)
    assert duty.busy_s == pytest.approx(0.23)
    assert duty.span_s == pytest.approx(0.25)
    assert duty.duty_cycle == pytest.approx(0.23 / 0.25)
    assert duty.median_gap_ms == 10.0  # gaps 10 and 10, sorted by start
    assert duty.median_render_ms == 100.0
    with pytest.raises(ValueError):
        duty_of([])


@pytest.mark.parametrize(
    ("text", "expected"), [("1024", Load(1024, 1024)), ("2048x512", Load(2048, 512))]
)
def test_load_sizes(text: str, expected: Load) -> None:
    assert parse_load(text) == expected


@pytest.mark.parametrize("text", ["", "big", "0", "10x0", "-5", "3x4x5"])
def test_bad_load_is_refused(text: str) -> None:
    with pytest.raises(BenchInputError, match="--load"):
        parse_load(text)


def test_emulator_timestamps_follow_the_real_server(emulator: EmulatorServer) -> None:
    """Epoch ms from the server's clock, the same in the websocket frames and in /history, and
    bracketing the render (the fixture's 20 ms) as the real server's bracket its execution."""

    async def go() -> tuple[dict[str, int], dict[str, Any], str]:
        client_id = f"duty-{uuid.uuid4().hex[:8]}"
        body = {"prompt": blur_graph(Load(256, 256), 64, 64, 7), "client_id": client_id}
        async with httpx.AsyncClient(base_url=emulator.url) as http:
            response, frames = await run_prompt(http, emulator.ws_url, body)
            pid = response.json()["prompt_id"]
            history = (await http.get(f"/history/{pid}")).json()
        return ws_timestamps(frames), history[pid], pid

    before = int(time.time() * 1000)
    ws, entry, pid = asyncio.run(go())
    after = int(time.time() * 1000)
    found = execution_of(pid, entry)
    assert found is not None and not found.cached_all
    assert ws == {"execution_start": found.start_ms, "execution_success": found.end_ms}
    assert before <= found.start_ms <= found.end_ms <= after
    assert found.end_ms - found.start_ms >= 19
    kinds = [kind for kind, _ in entry["status"]["messages"]]
    real = next(iter(capture("history_ok.json").values()))
    assert kinds == [kind for kind, _ in real["status"]["messages"]]
