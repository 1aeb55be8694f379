"""Synthetic rendering through the emulator: deterministic, and as good or bad as the settings."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytesseract
from PIL import Image

from nightrun_dagster.emulator import EmulatorServer
from nightrun_dagster.emulator.driver import run_prompt
from nightrun_dagster.emulator.prompt_text import parse_ad_text
from nightrun_dagster.emulator.render import (
    Scene,
    garble,
    garbles_headline,
    off_palette,
    omits_price,
    render,
)

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
AD_TEXT = (
    'professional ad photo, headline "Mate de siempre 2x1", brand "Verde", price "$ 4.999", '
    'product "Yerba Mate Verde 500 g", brand colours #146E46 #FAF0D2'
)


def template(name: str) -> dict[str, Any]:
    graph = json.loads((WORKFLOWS / name).read_text())
    graph.pop("_workflow_metadata")
    return graph


def static_ad(seed: int = 1000, steps: int = 28, cfg: float = 6.0, size: int = 512) -> dict:
    graph = template("static_ad_v1.json")
    graph["2"]["inputs"]["text"] = AD_TEXT
    graph["4"]["inputs"].update(width=size, height=size * 5 // 4)
    graph["5"]["inputs"].update(seed=seed, steps=steps, cfg=cfg)
    return graph


async def render_graph(sim: EmulatorServer, graph: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a graph; returns its history entry's output files, with their bytes."""
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as http:
        response, _ = await run_prompt(http, sim.ws_url, {"prompt": graph, "client_id": "t"})
        assert response.status_code == 200, response.text
        prompt_id = response.json()["prompt_id"]
        entry = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
        assert entry["status"]["status_str"] == "success", entry["status"]
        files = []
        for output in entry["outputs"].values():
            for item in output.get("images", []):
                view = await http.get("/view", params=item)
                assert view.status_code == 200
                files.append({**item, "bytes": view.content, "output": output})
        return files


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def sharpness(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def ocr(img: np.ndarray) -> str:
    """Text drawn in the renderer's two text colours, read separately (flat colour keys are
    far more reliable for tesseract than gradients behind the letters)."""
    found = []
    for colour in ((250, 250, 250), (20, 20, 24)):
        near = np.abs(img.astype(int) - np.array(colour)).sum(axis=2) < 60
        mask = np.where(near, 0, 255).astype(np.uint8)
        mask = cv2.copyMakeBorder(mask, 16, 16, 16, 16, cv2.BORDER_CONSTANT, value=255)
        found.append(pytesseract.image_to_string(mask, config="--psm 11"))
    return "\n".join(found)


def test_same_graph_same_bytes(emulator_factory) -> None:
    graph = static_ad()
    first = asyncio.run(render_graph(emulator_factory(), graph))
    second = asyncio.run(render_graph(emulator_factory(), copy.deepcopy(graph)))
    assert first[0]["filename"] == second[0]["filename"] == "static_ad_00001_.png"
    assert first[0]["subfolder"] == "nightrun"
    assert first[0]["bytes"] == second[0]["bytes"]
    png = Image.open(io.BytesIO(first[0]["bytes"]))
    assert png.size == (512, 640)
    assert json.loads(png.info["prompt"]) == graph  # ComfyUI's `prompt` text chunk


def test_other_seed_other_image(emulator) -> None:
    a = asyncio.run(render_graph(emulator, static_ad(seed=1000)))
    b = asyncio.run(render_graph(emulator, static_ad(seed=1001)))
    assert b[0]["filename"] == "static_ad_00002_.png"  # the counter continues per prefix
    assert np.abs(pixels(a[0]["bytes"]).astype(int) - pixels(b[0]["bytes"])).mean() > 5


def test_few_steps_blur(emulator) -> None:
    sharp = asyncio.run(render_graph(emulator, static_ad(steps=28)))
    blurry = asyncio.run(render_graph(emulator, static_ad(steps=6)))
    assert sharpness(pixels(blurry[0]["bytes"])) < sharpness(pixels(sharp[0]["bytes"])) / 4


def test_high_cfg_oversaturates_and_adds_noise(emulator) -> None:
    calm = pixels(asyncio.run(render_graph(emulator, static_ad(cfg=6.0)))[0]["bytes"])
    loud = pixels(asyncio.run(render_graph(emulator, static_ad(cfg=14.0)))[0]["bytes"])

    def saturation(img: np.ndarray) -> float:
        return float(cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[..., 1].mean())

    assert saturation(loud) > saturation(calm) * 1.2
    assert sharpness(loud) > sharpness(calm) * 2  # noise is high-frequency


def test_headline_brand_and_price_are_drawn(emulator) -> None:
    seed = 1000
    assert not garbles_headline(seed) and not omits_price(seed)
    text = ocr(pixels(asyncio.run(render_graph(emulator, static_ad(seed=seed)))[0]["bytes"]))
    assert "Mate de siempre" in text
    assert "Verde" in text
    assert "4.999" in text


def test_unlucky_seeds_garble_the_headline_or_drop_the_price() -> None:
    text = parse_ad_text(AD_TEXT)
    garbled_seed = next(s for s in range(1000, 1100) if garbles_headline(s) and not omits_price(s))
    no_price_seed = next(s for s in range(1000, 1100) if omits_price(s) and not garbles_headline(s))
    read = ocr(render(Scene(512, 640, garbled_seed, text=text)))
    assert "Mate de siempre" not in read
    assert garble("Mate de siempre 2x1", garbled_seed) != "Mate de siempre 2x1"
    assert "4.999" not in ocr(render(Scene(512, 640, no_price_seed, text=text)))


def test_off_palette_seeds_leave_the_brand_colours() -> None:
    text = parse_ad_text(AD_TEXT)
    palette = np.array(text.colours, dtype=float)

    def distance(seed: int) -> float:
        img = render(Scene(256, 320, seed, text=text)).reshape(-1, 3).astype(float)
        nearest = np.min(np.linalg.norm(img[:, None, :] - palette[None], axis=2), axis=1)
        return float(np.median(nearest))

    bad = next(s for s in range(1000, 1100) if off_palette(s))
    good = [s for s in range(1000, 1010) if not off_palette(s)]
    assert distance(bad) > 2 * max(distance(s) for s in good)


def test_strong_lora_adds_artifacts() -> None:
    text = parse_ad_text(AD_TEXT)
    clean = render(Scene(384, 480, 1000, text=text, loras=(("brand.safetensors", 0.7),)))
    noisy = render(Scene(384, 480, 1000, text=text, loras=(("brand.safetensors", 1.8),)))
    assert sharpness(noisy) > 3 * sharpness(clean)


def test_img2img_drift_follows_denoise_and_controlnet() -> None:
    text = parse_ad_text(AD_TEXT)
    base = render(Scene(384, 480, 7, text=parse_ad_text('headline "Home screen" #224488 #DDEEFF')))

    def drift(denoise: float, strength: float) -> float:
        out = render(
            Scene(384, 480, 1000, denoise=denoise, text=text, base=base, control_strength=strength)
        )
        return float(np.abs(out.astype(int) - base).mean())

    assert drift(0.2, 0.75) < drift(0.8, 0.75)
    assert drift(0.5, 1.0) < drift(0.5, 0.1)
    # Low denoise under a strong ControlNet restyles the base but keeps it.
    assert drift(0.25, 0.9) < 8 < 3 * drift(0.25, 0.9) < drift(0.45, 0.55)


def test_ui_anchored_template_composites_the_uploaded_product(emulator) -> None:
    base = render(Scene(256, 320, 5, text=parse_ad_text('headline "App" #202020 #F0F0F0')))
    product = np.zeros((120, 60, 4), np.uint8)
    product[..., 0] = 230  # a pure red product
    product[..., 3] = 255

    async def go() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=emulator.url) as http:
            for name, img in (("ui_screen.png", base), ("product.png", product)):
                buf = io.BytesIO()
                Image.fromarray(img).save(buf, format="PNG")
                files = {"image": (name, buf.getvalue(), "image/png")}
                assert (await http.post("/upload/image", files=files)).status_code == 200
        graph = template("ui_anchored_v1.json")
        graph["4"]["inputs"].update(width=256, height=320)
        graph["6"]["inputs"]["text"] = AD_TEXT
        # At the template's denoise (0.35) the screenshot still holds the picture and the ad
        # is a faint layer over it; at 0.9 the prompt, and the product with it, take over.
        graph["13"]["inputs"]["denoise"] = 0.9
        return await render_graph(emulator, graph)

    out = pixels(asyncio.run(go())[0]["bytes"])
    assert out.shape == (320, 256, 3)
    # IP-Adapter weight 0.7 blends the product a little into the panel behind it.
    red = (out[..., 0] > 150) & (out[..., 1] < 70) & (out[..., 2] < 70)
    assert red.sum() > 1500  # the uploaded product image is in the ad


def test_video_template_makes_an_mp4_of_length_frames(emulator, tmp_path: Path) -> None:
    graph = template("wan21_teaser_v1.json")
    graph["5"]["inputs"]["text"] = AD_TEXT
    graph["7"]["inputs"].update(width=320, height=192, length=17)
    files = asyncio.run(render_graph(emulator, graph))
    assert len(files) == 1
    video = files[0]
    assert video["filename"] == "wan21_teaser_00001_.mp4"
    assert video["output"] == {
        "images": [
            {"filename": "wan21_teaser_00001_.mp4", "subfolder": "nightrun", "type": "output"}
        ],
        "animated": [True],
    }
    path = tmp_path / "clip.mp4"
    path.write_bytes(video["bytes"])
    capture = cv2.VideoCapture(str(path))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 17
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (
        320,
        192,
    )
    capture.release()
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,pix_fmt,r_frame_rate",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=True,
        text=True,
    )
    stream = json.loads(probe.stdout)["streams"][0]
    assert stream == {"codec_name": "h264", "pix_fmt": "yuv420p", "r_frame_rate": "16/1"}
