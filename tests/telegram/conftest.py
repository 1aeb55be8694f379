"""Fixtures for the Telegram tests: a fake Bot API server and small synthetic job folders."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from nightrun_dagster.telegram.send import SendReport, send_shortlist
from tests.telegram import taps
from tests.telegram.fake_bot_api import FakeBotAPI

TOKEN = "424242:AAH-fake-Secret_token-value-0123456789"
CHAT = -1001234
NIGHT = "2026-02-10"


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(TOKEN) as server:
        yield server


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 40), (200, 120, 40)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def make_job(tmp_path: Path) -> Callable[..., Path]:
    """make_job(n, job_key=…) → runs/<night>/job_<key>/ with n picks, previews and params."""

    def make(n: int, job_key: str = "shoes-2026", night: str = NIGHT) -> Path:
        job = tmp_path / "runs" / night / f"job_{job_key}"
        picks = []
        for i in range(1, n + 1):
            vid = f"v{i:04d}"
            vdir = job / "variants" / vid
            (vdir / "out").mkdir(parents=True)
            (vdir / "meta").mkdir()
            (vdir / "out" / "img_0001.preview.jpg").write_bytes(_jpeg())
            params = {
                "variant_id": vid,
                "seed": 1000 + i,
                "loras": [{"name": "brand_style", "enabled": True, "weight": 0.7}],
                "sampler": "euler_a",
                "steps": 20,
                "cfg": 6.0,
                "denoise": 1.0,
                "template": {"id": "static_ad_v1", "version": "1.0.0"},
            }
            (vdir / "meta" / "params.json").write_text(json.dumps(params))
            picks.append(
                {
                    "rank": i,
                    "variant_id": vid,
                    "file": "out/img_0001.png",
                    "preview": "out/img_0001.preview.jpg",
                    "total": round(0.9 - i / 100, 4),
                    "cluster": f"p{i % 3}",
                    "components": {"sharpness": 0.8, "text": 0.7, "brand_color": 0.6},
                    "reason": f"#1 in cluster p{i % 3}",
                }
            )
        sel = job / "selection"
        sel.mkdir(parents=True, exist_ok=True)
        shortlist = {"night": night, "job_key": job_key, "picks": picks}
        (sel / "shortlisted.json").write_text(json.dumps(shortlist, indent=2))
        return job

    return make


@pytest.fixture
def sent(api: FakeBotAPI, make_job: Callable[..., Path], token: str) -> SendReport:
    """A job of 4 candidates sent to the review chat, buttons valid for an hour from taps.NOW."""
    return send_shortlist(
        token,
        taps.CHAT,
        make_job(4),
        signing_key=taps.KEY,
        base_url=api.base_url,
        per_message_delay=0,
        now=taps.NOW,
        ttl_s=3600,
    )
