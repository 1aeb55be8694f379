"""Fixtures for contact sheets: small real job folders and one real headless Chromium."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.contact.browser import Browser

NIGHT = "2026-02-10"
INJECTION = "</script><img src=x onerror=alert(1)>"
STATIC = {
    "id": "static_ad_v1",
    "version": "1.0.0",
    "sha256": "a" * 64,
    "file": "static_ad_v1.json",
    "model": "sd_xl_base_1.0.safetensors",
}
UI = {
    "id": "ui_anchored_v1",
    "version": "1.0.0",
    "sha256": "b" * 64,
    "file": "ui_anchored_v1.json",
    "model": "sd_xl_base_1.0.safetensors",
}
WAN = {
    "id": "wan21_teaser_v1",
    "version": "1.0.0",
    "sha256": "c" * 64,
    "file": "wan21_teaser_v1.json",
    "model": "wan2.1_t2v_1.3B_fp16.safetensors",
}


@dataclass
class Spec:
    """One variant to write: its parameters and what happened to it."""

    vid: str
    template: dict[str, Any]
    seed: int
    lora: float | None = None  # weight of `brand_style`, None: the LoRA is off
    total: float | None = None  # None: not scored
    status: str = "ok"  # ok | failed | pending
    prompt: str = "studio product photo of a green yerba mate pack"
    controlnet: dict[str, Any] | None = None
    kind: str = "image"
    components: dict[str, float | None] = field(default_factory=dict)


def _image(path: Path, size: tuple[int, int], seed: int, fmt: str) -> None:
    # Distinct colours per variant, a gradient and a shape: a screenshot of several of them
    # has many colours, and a wrong thumbnail would show.
    w, h = size
    img = Image.new("RGB", size)
    px = img.load()
    r0, g0, b0 = (seed * 53) % 256, (seed * 97) % 256, (seed * 29) % 256
    for y in range(h):
        for x in range(w):
            px[x, y] = ((r0 + x * 2) % 256, (g0 + y * 2) % 256, (b0 + x + y) % 256)
    ImageDraw.Draw(img).ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=(250, 120, 20))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt)


def _components(spec: Spec) -> dict[str, Any]:
    t = spec.total or 0.0
    base = {
        "sharpness": round(min(1.0, t + 0.05), 3),
        "text": round(t, 3),
        "brand_color": round(max(0.0, t - 0.05), 3),
        "ui_integrity": round(t, 3) if spec.template["id"] == "ui_anchored_v1" else None,
        "artifacts": round(min(1.0, t + 0.02), 3),
    }
    if spec.kind == "video":
        base["ui_integrity"] = None
        base["temporal"] = round(t, 3)
    base.update(spec.components)
    return base


def write_variant(job_dir: Path, spec: Spec, job_id: str, *, images: bool = True) -> None:
    """params.json (with its render section), outputs and score.json as the pipeline writes."""
    vdir = job_dir / "variants" / spec.vid
    if spec.kind == "video":
        file, preview, size = "out/vid_0001.mp4", "out/vid_0001.poster.jpg", (128, 72)
    else:
        file, preview, size = "out/img_0001.png", "out/img_0001.preview.jpg", (96, 120)
    params: dict[str, Any] = {
        "params_version": 1,
        "job_id": job_id,
        "variant_id": spec.vid,
        "prompt": spec.prompt,
        "prompt_index": 0,
        "negative": "blurry, watermark",
        "seed": spec.seed,
        "loras": [
            {
                "name": "brand_style",
                "path": "brand_style.safetensors",
                "enabled": spec.lora is not None,
                "weight": spec.lora,
            }
        ],
        "sampler": "dpmpp_2m_karras",
        "steps": 20,
        "cfg": 4.5,
        "denoise": 1.0,
        "controlnet": spec.controlnet,
        "width": 1024,
        "height": 1280,
        "frames": 49 if spec.kind == "video" else None,
        "template": spec.template,
    }
    if spec.status == "ok":
        if images:
            if spec.kind == "video":
                # The page only links the video; its bytes need not decode.
                (vdir / "out").mkdir(parents=True, exist_ok=True)
                (vdir / file).write_bytes(b"\x00\x00\x00\x18ftypmp42 not a real video")
            else:
                _image(vdir / file, size, spec.seed, "PNG")
            _image(vdir / preview, (size[0] // 2, size[1] // 2), spec.seed, "JPEG")
        params["render"] = {
            "status": "ok",
            "outputs": [
                {
                    "file": file,
                    "preview": preview,
                    "bytes": (vdir / file).stat().st_size if images else 1,
                    "kind": spec.kind,
                }
            ],
            "degrade_rung": "none",
            "elapsed_s": 1.5,
        }
    elif spec.status == "failed":
        params["render"] = {"status": "failed", "error": "out of memory at every rung"}
    _write_json(vdir / "meta" / "params.json", params)
    if spec.total is not None:
        comps = _components(spec)
        score = {
            "score_version": 1,
            "variant_id": spec.vid,
            "outputs": [
                {
                    "file": file,
                    "kind": spec.kind,
                    "total": spec.total,
                    "components": {
                        k: None if v is None else {"score": v, "raw": {}} for k, v in comps.items()
                    },
                    "weights": {},
                }
            ],
            "total": spec.total,
            "best": 0,
        }
        _write_json(vdir / "meta" / "score.json", score)


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1))


def write_job(
    night_dir: Path,
    key: str,
    job_id: str,
    specs: list[Spec],
    picks: list[tuple[str, int]] | None = None,
    *,
    images: bool = True,
) -> Path:
    """A job folder `night_dir/job_<key>` with its index, variants and, given picks, a shortlist."""
    job_dir = night_dir / f"job_{key}"
    _write_json(
        job_dir / "variants" / "index.json",
        {
            "job_id": job_id,
            "night": NIGHT,
            "mode": "exploration",
            "cap": len(specs),
            "sweep_size": 4 * len(specs),
            "selection": "covering rows + scrambled Sobol",
            "count": len(specs),
            "variants": [s.vid for s in specs],
        },
    )
    for spec in specs:
        write_variant(job_dir, spec, job_id, images=images)
    if picks is not None:
        by_id = {s.vid: s for s in specs}
        _write_json(
            job_dir / "selection" / "shortlisted.json",
            {
                "night": NIGHT,
                "job_id": job_id,
                "job_key": key,
                "k": len(picks),
                "n": len(specs),
                "picks": [
                    {
                        "rank": rank,
                        "variant_id": vid,
                        "file": "out/img_0001.png",
                        "total": by_id[vid].total,
                        "cluster": f"c{rank}",
                        "components": {
                            k: v for k, v in _components(by_id[vid]).items() if v is not None
                        },
                        "reason": "top of its cluster",
                    }
                    for vid, rank in picks
                ],
                "clusters": {f"c{rank}": [vid] for vid, rank in picks},
            },
        )
    return job_dir


PROMO_KEY = "promo-cafe-12"
# Job text is user input: markup in the job id must come out as text.
PROMO_ID = 'Promo "Café" <b>#12</b>'
TEASER_KEY = "teaser-reel"
TEASER_ID = "Teaser reel"


def promo_specs() -> list[Spec]:
    canny = {"type": "canny", "weight": 0.55}
    return [
        Spec("v0001", STATIC, seed=1003, lora=None, total=0.62),
        Spec("v0002", STATIC, seed=1001, lora=0.7, total=0.91),
        Spec("v0003", STATIC, seed=1005, lora=1.0, total=0.35),
        Spec("v0004", UI, seed=1000, lora=0.7, total=0.78, controlnet=canny),
        Spec("v0005", UI, seed=1004, lora=None, status="failed", controlnet=canny),
        Spec("v0006", UI, seed=1002, lora=1.0, prompt=f"checkout {INJECTION} screen"),
        Spec("v0007", STATIC, seed=999, lora=None, total=0.55),
    ]


def teaser_specs() -> list[Spec]:
    return [
        Spec("v0001", WAN, seed=7, total=0.7, kind="video"),
        Spec("v0002", WAN, seed=8, kind="video"),
    ]


@dataclass
class SampleNight:
    night_dir: Path
    promo: Path
    teaser: Path


@pytest.fixture
def sample_night(tmp_path: Path) -> SampleNight:
    """A night with an image job (scored, failed, unscored, shortlist, 2 templates, LoRA arms)
    and a video job, plus the night plan that orders them."""
    night_dir = tmp_path / "runs" / NIGHT
    promo = write_job(
        night_dir, PROMO_KEY, PROMO_ID, promo_specs(), [("v0002", 1), ("v0001", 2), ("v0004", 3)]
    )
    teaser = write_job(night_dir, TEASER_KEY, TEASER_ID, teaser_specs())
    _write_json(
        night_dir / "night_plan.json",
        {
            "night": NIGHT,
            "mode": "exploration",
            "max_renders": 2000,
            "total_budget": 9,
            "jobs": [{"key": PROMO_KEY, "job_id": PROMO_ID}, {"key": TEASER_KEY}],
        },
    )
    return SampleNight(night_dir, promo, teaser)


class SheetPage:
    """A contact sheet open in the browser, with the few DOM moves the tests make."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser

    def open(self, path: Path) -> None:
        self.browser.events.clear()
        self.browser.navigate(path.resolve().as_uri())
        self.browser.wait_for("document.body.dataset.ready === '1'")

    def js(self, expression: str) -> Any:
        return self.browser.evaluate(expression)

    def ids(self) -> list[str]:
        """Visible cards in DOM order, as `job/variant`."""
        return self.js(
            "[...document.querySelectorAll('article.card')].filter(c => !c.hidden)"
            ".map(c => c.dataset.job + '/' + c.dataset.id)"
        )

    def variant_ids(self) -> list[str]:
        return [i.split("/", 1)[1] for i in self.ids()]

    def set(self, control: str, value: str | bool) -> str:
        """Set a toolbar control as a person would and fire `change`; the live count after."""
        return self.js(
            f"""(() => {{
              const e = document.getElementById({json.dumps(control)});
              if (e.type === "checkbox") e.checked = {json.dumps(value)};
              else e.value = {json.dumps(value)};
              e.dispatchEvent(new Event("change", {{bubbles: true}}));
              return document.getElementById("count").textContent;
            }})()"""
        )

    def data(self) -> dict[str, Any]:
        return self.js("JSON.parse(document.getElementById('sheet-data').textContent)")

    def wait_images(self) -> None:
        """Until every image the page started loading has finished (lazy ones included)."""
        self.browser.wait_for(
            "[...document.images].filter(i => i.getAttribute('src')).every(i => i.complete)"
        )


@pytest.fixture
def page(chromium: Browser) -> SheetPage:
    return SheetPage(chromium)


@pytest.fixture
def make_job() -> Callable[..., Path]:
    return write_job


@pytest.fixture
def spec_type() -> type[Spec]:
    return Spec


@pytest.fixture
def templates() -> dict[str, dict[str, Any]]:
    return {"static": STATIC, "ui": UI, "wan": WAN}


@pytest.fixture
def injection() -> str:
    return INJECTION
