"""`nightrun bench render --json`: one JSON object with a row per configuration."""

import json
import subprocess
import sys


def test_bench_render_json_shape() -> None:
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
        "--width",
        "256",
        "--height",
        "320",
        "--json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert doc["bench"] == "render" and doc["image"] == "256x320"
    rows = doc["results"]
    assert [(r["render_ms"], r["queue_ahead"]) for r in rows] == [(40, 2), (40, 0)]
    for row in rows:
        assert row["prompts"] == 6
        assert 0 < row["duty_cycle"] <= 1.05
        assert row["server_render_s"] >= 6 * 0.04 * 0.9
        assert row["wall_s"] > 0
