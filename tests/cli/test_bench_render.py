"""`nightrun bench render`: the duty cycle on a ComfyUI given by --comfy-url (the emulator on
loopback here) or on the emulator the command starts itself; bad input is one line."""

import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from nightrun_dagster.cli.main import main
from nightrun_dagster.emulator import EmulatorServer

CAPTURES = Path(__file__).parents[1] / "emulator" / "captures"
RENDER_S = 0.02  # the emulator fixture's render_ms
ROW = re.compile(
    r"^-\s+(?P<load>\S+)\s+(?P<qa>\d+)(?P<default> \(default\))?\s+(?P<renders>\d+)\s+"
    r"\d+ ms\s+\d+ ms\s+(?P<duty>[\d.]+)  \((?P<busy>[\d.]+) s busy / (?P<span>[\d.]+) s\)$"
)


def bench(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["bench", "render", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def check_row(row: dict[str, Any], prompts: int) -> None:
    """Figures that hold together: every prompt rendered, busy time from the server's
    timestamps inside the span they cover, the duty cycle their ratio."""
    assert row["prompts"] == row["renders"] == prompts
    assert row["cached"] == 0
    assert 0 < row["duty_cycle"] <= 1
    assert prompts * RENDER_S * 0.95 <= row["busy_s"] <= row["span_s"]
    assert row["duty_cycle"] == pytest.approx(row["busy_s"] / row["span_s"], abs=1e-3)
    assert row["median_render_ms"] >= RENDER_S * 1000 * 0.95
    assert row["median_gap_ms"] is not None and row["median_gap_ms"] >= 0
    # The server's span lies within the client's first submit → last harvest.
    assert row["span_s"] <= row["wall_s"] + 0.01


def test_comfy_url_json(emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = bench(
        capsys,
        "--comfy-url",
        emulator.url,
        "--prompts",
        "6",
        "--load",
        "256",
        "--width",
        "64",
        "--height",
        "48",
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["bench"] == "render" and doc["image"] == "64x48"
    assert doc["server"]["url"] == emulator.url and doc["server"]["started_by_bench"] is False
    assert doc["server"]["comfyui_version"] == "0.3.64"
    assert doc["graph"] == [
        "EmptyImage 256x256 → ImageBlur radius 15 → ImageScale 64x48 → PreviewImage"
    ]
    rows = doc["results"]
    assert [(r["render_ms"], r["load"], r["queue_ahead"]) for r in rows] == [
        (None, "256x256", 2),
        (None, "256x256", 0),
    ]
    for row in rows:
        check_row(row, 6)
    # Busy time is the server's own: it matches what the emulator measured of its executions.
    stats = emulator.stats()
    assert stats["executions"] == stats["successes"] == 12
    assert sum(r["busy_s"] for r in rows) == pytest.approx(stats["render_seconds"], abs=0.05)
    # PreviewImage: nothing left in the server's output folder, and no history kept there.
    assert not any(emulator.output_dir.iterdir())
    assert stats["views"] == 12


def test_comfy_url_table(emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = bench(
        capsys,
        "--comfy-url",
        emulator.url,
        "--prompts",
        "4",
        "--load",
        "128",
        "96x64",
        "--queue-ahead",
        "1",
        "--width",
        "32",
        "--height",
        "32",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"server  {emulator.url}  (ComfyUI 0.3.64")
    assert (
        lines[1]
        == "graph   EmptyImage 128x128 → ImageBlur radius 15 → ImageScale 32x32 → PreviewImage"
    )
    assert lines[2].startswith("graph   EmptyImage 96x64 ")
    assert lines[3].split() == [
        "render",
        "load",
        "queue-ahead",
        "renders",
        "median",
        "render",
        "median",
        "gap",
        "duty",
    ]
    rows = [ROW.match(line) for line in lines[4:]]
    assert all(rows), lines[4:]
    assert [m.group("load", "qa", "default") for m in rows if m] == [
        ("128x128", "1", " (default)"),
        ("128x128", "0", None),
        ("96x64", "1", " (default)"),
        ("96x64", "0", None),
    ]
    for m in rows:
        assert m is not None and m["renders"] == "4" and 0 < float(m["duty"]) <= 1
        assert float(m["busy"]) <= float(m["span"])


def test_queue_ahead_zero_is_one_configuration(
    emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = bench(
        capsys,
        "--comfy-url",
        emulator.url,
        "--prompts",
        "3",
        "--load",
        "64",
        "--queue-ahead",
        "0",
        "--json",
    )
    assert code == 0, err
    (row,) = json.loads(out)["results"]
    assert row["queue_ahead"] == 0
    check_row(row, 3)


def test_emulator_started_by_the_bench() -> None:
    """Without --comfy-url the bench starts the emulator and measures each --render-ms."""
    cmd = [
        sys.executable,
        "-m",
        "nightrun_dagster.cli.main",
        "bench",
        "render",
        "--prompts",
        "6",
        "--render-ms",
        "40",
        "--load",
        "256",
        "--width",
        "256",
        "--height",
        "320",
        "--json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert doc["image"] == "256x320" and doc["server"]["started_by_bench"] is True
    rows = doc["results"]
    assert [(r["render_ms"], r["queue_ahead"]) for r in rows] == [(40, 2), (40, 0)]
    for row in rows:
        assert row["renders"] == 6 and 0 < row["duty_cycle"] <= 1
        assert row["busy_s"] >= 6 * 0.04 * 0.95
        assert row["median_render_ms"] >= 38


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_url_is_one_line() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    cmd = [sys.executable, "-m", "nightrun_dagster.cli.main", "bench", "render", "--comfy-url", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"error: --comfy-url {url}: cannot use this ComfyUI:")


class _CapturedComfy(BaseHTTPRequestHandler):
    """A ComfyUI answering with the real server's captured payloads, minus `missing` classes
    (answered `200 {}`, as a real server answers for a class it does not have)."""

    missing: frozenset[str] = frozenset()

    def do_GET(self) -> None:  # http.server's name for the handler
        if self.path == "/system_stats":
            body: Any = json.loads((CAPTURES / "system_stats.json").read_text())["response"]
        elif self.path.startswith("/object_info/"):
            name = self.path.removeprefix("/object_info/")
            file = CAPTURES / f"object_info_{name}.json"
            present = name not in self.missing and file.is_file()
            body = json.loads(file.read_text())["response"] if present else {}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(params=["ImageBlur", "EmptyImage"])
def comfy_lacking(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    handler = type("Handler", (_CapturedComfy,), {"missing": frozenset({request.param})})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", request.param
    server.shutdown()
    server.server_close()


def test_server_lacking_a_node(
    comfy_lacking: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, lacking = comfy_lacking
    code, out, err = bench(capsys, "--comfy-url", url, "--prompts", "3")
    assert code == 1 and out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"error: --comfy-url {url}: the server has no {lacking} node")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--load", "abc"], "error: --load 'abc': give a size like 1024 or 2048x1024"),
        (["--load", "0x5"], "error: --load '0x5': width and height must be at least 1"),
        (
            ["--load", "20000"],
            "error: --load 20000x20000: the width 20000 is outside this server's EmptyImage "
            "range 1..16384",
        ),
        (["--render-ms", "50"], "error: --render-ms sets the emulator's render time"),
        (["--prompts", "1"], "error: --prompts 1: at least 2"),
        (["--queue-ahead", "-1"], "error: --queue-ahead -1: must be 0 or more"),
    ],
)
def test_bad_input_is_one_line(
    emulator: EmulatorServer,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    says: str,
) -> None:
    code, out, err = bench(capsys, "--comfy-url", emulator.url, *argv, "--json")
    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith(says)
    assert json.loads(out) == {"error": line.removeprefix("error: ")}
    assert emulator.stats()["prompts_posted"] == 0


def test_url_without_scheme(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = bench(capsys, "--comfy-url", "127.0.0.1:8188")
    assert code == 2
    assert (
        err == "error: --comfy-url 127.0.0.1:8188: give the whole URL, like http://127.0.0.1:8188\n"
    )
