"""Graphs people bring render on the emulator: SDXL base + refiner, Flux dev and custom sampling,
hires fix, img2img, Wan image-to-video, animated WEBP/WEBM/PNG and ComfyUI's own templates.

Every graph goes through the real client (submit, wait, download) on loopback. Pixels follow the
prompt and the seed (same seed, same pixels; another seed, other pixels), sizes follow the latent
and the upscalers, videos are real files."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

from nightrun_dagster.comfy.client import ComfyClient, Outcome, Timeouts, safe_filename
from nightrun_dagster.comfy.errors import ComfyOOM
from nightrun_dagster.emulator import EmulatorServer
from nightrun_dagster.emulator.config import default_models
from nightrun_dagster.emulator.driver import Socket, is_done

DATA = Path(__file__).resolve().parent / "data"
FAST = Timeouts(connect=2, request=15, stall=20, poll=0.2, unavailable=2)
# What the graphs below name beyond the emulator's default models.
MODELS = {
    "checkpoints": [
        "sd_xl_refiner_1.0.safetensors",
        "v1-5-pruned-emaonly-fp16.safetensors",
        "dreamshaper_8.safetensors",
    ],
    "loras": ["blindbox_v1_mix.safetensors"],
    "diffusion_models": ["flux1-dev.safetensors", "wan2.1_i2v_480p_14B_fp16.safetensors"],
    "text_encoders": ["clip_l.safetensors", "t5xxl_fp8_e4m3fn.safetensors"],
    "vae": ["ae.safetensors"],
    "clip_vision": ["clip_vision_h.safetensors"],
}
Files = dict[str, list[Path]]


# The API graphs ComfyUI's frontend made from the captured UI workflows (beside them).
UI_WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows" / "data" / "ui_workflows"


def graph(name: str) -> dict[str, Any]:
    folder = UI_WORKFLOWS if name.endswith(".api") else DATA / "graphs"
    return json.loads((folder / f"{name}.json").read_text())


def with_inputs(g: dict[str, Any], **changes: dict[str, Any]) -> dict[str, Any]:
    """A copy with `node_id={input: value}` changes."""
    out = copy.deepcopy(g)
    for node_id, values in changes.items():
        out[node_id]["inputs"].update(values)
    return out


def photo(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A stand-in product photo: a flat colour with a lighter disc."""
    img = np.full((height, width, 3), colour, np.uint8)
    cv2.circle(img, (width // 2, height // 2), min(width, height) // 4, (240, 240, 235), -1)
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(sim: EmulatorServer, name: str, data: bytes) -> None:
    files = {"image": (name, data, "image/png")}
    httpx.post(
        f"{sim.url}/upload/image", files=files, data={"overwrite": "true"}
    ).raise_for_status()


@pytest.fixture
def sim(emulator_factory) -> EmulatorServer:
    models = default_models()
    for folder, names in MODELS.items():
        models.setdefault(folder, []).extend(names)
    server = emulator_factory(models=models)
    upload(server, "product_photo.png", photo(600, 450, (200, 80, 40)))
    upload(server, "flux_dev_example.png", photo(512, 512, (40, 90, 200)))
    return server


def render(sim: EmulatorServer, tmp: Path, *graphs: dict[str, Any]) -> list[tuple[Files, Outcome]]:
    """Each graph in turn through the client; its output files downloaded, by node id."""

    async def go() -> list[tuple[Files, Outcome]]:
        results = []
        async with ComfyClient(sim.url, timeouts=FAST) as client:
            for i, g in enumerate(graphs):
                outcome = await client.wait((await client.submit(g)).prompt_id)
                files: Files = {}
                for output in outcome.outputs:
                    dest = tmp / f"{i}_{output.node_id}_{safe_filename(output.filename)}"
                    await client.download(output, dest)
                    files.setdefault(output.node_id, []).append(dest)
                results.append((files, outcome))
        return results

    tmp.mkdir(parents=True, exist_ok=True)
    return asyncio.run(go())


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def frames(path: Path) -> np.ndarray:
    """Every frame of an animated image or a video file."""
    if path.suffix in {".webp", ".png"}:
        with Image.open(path) as img:
            out = []
            for index in range(getattr(img, "n_frames", 1)):
                img.seek(index)
                out.append(np.asarray(img.convert("RGB")))
            return np.stack(out)
    capture = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        out.append(frame)
    capture.release()
    return np.stack(out)


def probe(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames,r_frame_rate:format=format_name",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(result.stdout)
    return {**data["streams"][0], "format": data["format"]["format_name"]}


def seeds_decide(
    sim: EmulatorServer, tmp: Path, g: dict[str, Any], node: str, seed_input: str, read: Any
) -> tuple[Files, np.ndarray, Outcome]:
    """Renders seed A, seed B, then A again (the cache holds only B's run then, so A really
    renders twice): A's pixels repeat exactly and B's differ. Returns A's files, pixels and
    outcome."""
    a, b = g[node]["inputs"][seed_input], g[node]["inputs"][seed_input] + 1
    first, other, again = render(
        sim,
        tmp,
        g,
        with_inputs(g, **{node: {seed_input: b}}),
        with_inputs(g, **{node: {seed_input: a}}),
    )
    output = next(iter(first[0]))
    one, two, three = (read(r[0][output][0]) for r in (first, other, again))
    assert np.array_equal(one, three), "the same seed rendered different pixels"
    assert one.shape == two.shape
    assert np.abs(one.astype(int) - two.astype(int)).mean() > 3, "another seed, same picture"
    return first[0], one, first[1]


def ksampler_graph(
    text: str, seed: int, steps: int, cfg: float, sampler: str, scheduler: str, w: int, h: int
) -> dict[str, Any]:
    """The plain SDXL txt2img graph with those settings, to compare other graphs against."""
    return {
        "1": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"},
        },
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": text}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": ""}},
        "4": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": w, "height": h, "batch_size": 1},
        },
        "5": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["1", 0],
                "seed": seed,
                "steps": steps,
                "cfg": cfg,
                "sampler_name": sampler,
                "scheduler": scheduler,
                "positive": ["2", 0],
                "negative": ["3", 0],
                "latent_image": ["4", 0],
                "denoise": 1.0,
            },
        },
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "ref"}},
    }


def sharpness(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def saturation(img: np.ndarray) -> float:
    return float(cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[..., 1].mean())


# ---------------------------------------------------------------- images
def test_sdxl_base_and_refiner_render_like_one_ksampler_of_all_steps(sim, tmp_path: Path) -> None:
    g = graph("sdxl_base_refiner")
    _, image, _ = seeds_decide(sim, tmp_path / "seeds", g, "8", "noise_seed", pixels)
    assert image.shape == (832, 640, 3)
    # Base (steps 0–20, noise 424243) then refiner (20–25, no new noise): the refiner carries on
    # the base's picture, as one 25-step KSampler with the base's seed, cfg and sampler would.
    text = g["3"]["inputs"]["text_g"]
    reference = ksampler_graph(text, 424243, 25, 7.0, "dpmpp_2m", "karras", 640, 832)
    [(ref, _)] = render(sim, tmp_path / "ref", reference)
    assert np.array_equal(pixels(ref["7"][0]), image)
    # A base that stops at step 6 is blurry on its own; the refiner's 19 steps sharpen it.
    short = with_inputs(g, **{"8": {"end_at_step": 6}, "9": {"start_at_step": 6}})
    short["12"] = {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}}
    short["13"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["12", 0], "filename_prefix": "b"},
    }
    [(out, _)] = render(sim, tmp_path / "short", short)
    assert sharpness(pixels(out["13"][0])) < 0.5 * sharpness(pixels(out["11"][0]))


def test_flux_dev_samples_from_noise_guider_sampler_and_scheduler(sim, tmp_path: Path) -> None:
    g = graph("flux_dev")
    _, image, _ = seeds_decide(sim, tmp_path / "seeds", g, "8", "noise_seed", pixels)
    assert image.shape == (512, 768, 3)  # EmptySD3LatentImage's size
    # RandomNoise's seed, BasicScheduler's steps and scheduler, KSamplerSelect's sampler,
    # BasicGuider's cfg 1 and the text through FluxGuidance: the same as that KSampler.
    text = g["4"]["inputs"]["text"]
    [(ref, _)] = render(
        sim, tmp_path / "ref", ksampler_graph(text, 777001, 20, 1.0, "euler", "simple", 768, 512)
    )
    assert np.array_equal(pixels(ref["7"][0]), image)
    [(few, _)] = render(sim, tmp_path / "few", with_inputs(g, **{"10": {"steps": 5}}))
    assert sharpness(pixels(few["14"][0])) < 0.5 * sharpness(image)


def test_cfg_guider_takes_cfg_and_the_combined_prompt(sim, tmp_path: Path) -> None:
    g = graph("custom_cfg_guider")
    _, image, _ = seeds_decide(sim, tmp_path / "seeds", g, "7", "noise_seed", pixels)
    assert image.shape == (640, 512, 3)
    # The colours are only in ConditioningCombine's second input: the gradient starts at #2B59C3.
    top = image[:24].reshape(-1, 3).mean(axis=0)
    assert np.abs(top - np.array([0x2B, 0x59, 0xC3])).max() < 40, top
    # SamplerCustom takes the same settings as widgets and links: the same picture.
    custom = copy.deepcopy(g)
    custom["11"] = {
        "class_type": "SamplerCustom",
        "inputs": {
            "model": ["1", 0],
            "add_noise": True,
            "noise_seed": 5150,
            "cfg": 6.5,
            "positive": ["4", 0],
            "negative": ["5", 0],
            "sampler": ["8", 0],
            "sigmas": ["9", 0],
            "latent_image": ["10", 0],
        },
    }
    hot_guider = with_inputs(g, **{"6": {"cfg": 14.0}})
    [(same, _), (hot, _)] = render(sim, tmp_path / "more", custom, hot_guider)
    assert np.array_equal(pixels(same["13"][0]), image)
    assert saturation(pixels(hot["13"][0])) > saturation(image) + 5


def test_hires_fix_upscales_and_keeps_the_first_pass(sim, tmp_path: Path) -> None:
    g = graph("hires_fix")
    files, image, _ = seeds_decide(sim, tmp_path / "seeds", g, "5", "seed", pixels)
    assert image.shape == (768, 768, 3)  # 512 × LatentUpscaleBy 1.5
    assert pixels(files["11"][0]).shape == (384, 384, 3)  # then ImageScaleBy 0.5
    # The denoise-0.5 pass refines the first pass's picture rather than drawing another.
    first_pass = with_inputs(g)
    first_pass["12"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}}
    first_pass["13"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["12", 0], "filename_prefix": "first"},
    }
    [(out, _)] = render(sim, tmp_path / "first", first_pass)
    small = pixels(out["13"][0])
    assert small.shape == (512, 512, 3)
    enlarged = cv2.resize(small, (768, 768)).astype(int)
    assert np.abs(enlarged - image.astype(int)).mean() < 6


def test_img2img_keeps_the_uploaded_photo_at_the_upscaled_size(sim, tmp_path: Path) -> None:
    g = graph("img2img")
    _, image, _ = seeds_decide(sim, tmp_path / "seeds", g, "7", "seed", pixels)
    # VAEEncode crops 600×450 to 600×448; LatentUpscale to width 640 keeps the aspect.
    assert image.shape == (472, 640, 3)
    upload(sim, "product_photo.png", photo(600, 450, (30, 160, 70)))
    [(green, _)] = render(sim, tmp_path / "green", g)
    other = pixels(green["9"][0])
    # The base shows through: the orange photo's render is redder, the green one's greener.
    assert image[..., 0].mean() > other[..., 0].mean() + 20
    assert other[..., 1].mean() > image[..., 1].mean() + 20


# ---------------------------------------------------------------- video
def test_wan_image_to_video_makes_an_mp4_of_length_frames(sim, tmp_path: Path) -> None:
    g = graph("image_to_video_wan.api")
    files, video, _ = seeds_decide(sim, tmp_path / "seeds", g, "3", "seed", frames)
    info = probe(files["56"][0])
    assert info["codec_name"] == "h264" and "mp4" in info["format"]
    assert (info["width"], info["height"]) == (512, 512)
    assert int(info["nb_read_frames"]) == 33 == len(video)  # WanImageToVideo's length
    assert info["r_frame_rate"] == "16/1"  # CreateVideo's fps
    assert files["56"][0].name.endswith("ComfyUI_00001_.mp4")


def test_animated_webp_webm_and_png_outputs(sim, tmp_path: Path) -> None:
    g = graph("animated_outputs")
    files, clip, outcome = seeds_decide(sim, tmp_path / "seeds", g, "9", "seed", frames)
    assert clip.shape == (9, 256, 320, 3)  # EmptyHunyuanLatentVideo 320×256, length 9
    assert not np.array_equal(clip[0], clip[-1])  # it moves
    with Image.open(files["11"][0]) as webp:
        webp.seek(1)
        webp.load()
        assert (webp.format, webp.n_frames, webp.info["duration"]) == ("WEBP", 9, 125)
        assert webp.getexif()[0x0110].startswith('prompt:{"1": {"class_type": "UNETLoader"')
    webm = probe(files["12"][0])
    assert (webm["codec_name"], webm["width"], webm["height"]) == ("vp9", 320, 256)
    assert int(webm["nb_read_frames"]) == 9 and "webm" in webm["format"]
    with Image.open(files["13"][0]) as apng:
        assert (apng.format, apng.n_frames) == ("PNG", 9)
    assert b"comf" in files["13"][0].read_bytes()  # the prompt chunk after the image data
    outputs = outcome.history["outputs"]
    assert outputs["11"]["animated"] == [True]
    assert outputs["12"] == {
        "images": [{"filename": "clip_00002_.webm", "subfolder": "graphs", "type": "output"}],
        "animated": [True],
    }


# ---------------------------------------------------------------- ComfyUI's own templates
@pytest.mark.parametrize(
    ("name", "node", "shape"),
    [
        ("default.api", "9", (512, 512, 3)),
        ("lora.api", "9", (768, 768, 3)),
        ("image_to_video_wan.api", "56", (33, 512, 512, 3)),
    ],
)
def test_comfyui_template_graphs_render(sim, tmp_path: Path, name: str, node: str, shape) -> None:
    [(files, outcome)] = render(sim, tmp_path, graph(name))
    path = files[node][0]
    got = frames(path) if path.suffix == ".mp4" else pixels(path)
    assert got.shape == shape
    assert outcome.history["status"]["status_str"] == "success"
    assert got.std() > 10  # a rendered picture, not a flat fill


# ---------------------------------------------------------------- time, memory and faults
def test_custom_sampler_paces_like_a_ksampler(emulator_factory) -> None:
    """SamplerCustomAdvanced takes the sampler's share of render_ms and reports one progress
    frame per BasicScheduler step."""
    models = default_models()
    for folder, names in MODELS.items():
        models.setdefault(folder, []).extend(names)
    sim = emulator_factory(models=models, render_ms=900)
    g = with_inputs(graph("flux_dev"), **{"10": {"steps": 12}, "11": {"width": 256, "height": 256}})

    async def go() -> list[tuple[float, dict[str, Any]]]:
        socket = await Socket.open(sim.ws_url, "pace")
        timed = []
        try:
            async with httpx.AsyncClient(base_url=sim.url, timeout=30) as http:
                response = await http.post("/prompt", json={"prompt": g, "client_id": "pace"})
                done = is_done(response.json()["prompt_id"])
                while True:
                    frame = await socket.next(15)
                    timed.append((time.monotonic() * 1000, frame))
                    if done(frame):
                        return timed
        finally:
            await socket.close()

    texts = [(t, f["json"]) for t, f in asyncio.run(go()) if f.get("kind") == "text"]
    executing = {j["data"]["node"]: t for t, j in texts if j["type"] == "executing"}
    progress = [j["data"] for _, j in texts if j["type"] == "progress"]
    assert [(p["node"], p["value"], p["max"]) for p in progress] == [
        ("12", step, 12) for step in range(1, 13)
    ]
    # 14 of the 27.5 weight units of this graph: about 460 ms of 900.
    assert executing["13"] - executing["12"] > 350
    stats = httpx.get(f"{sim.url}/system_stats").json()["devices"][0]
    # UNETLoader + DualCLIPLoader (clip_l + t5xxl) + VAELoader stay loaded.
    assert stats["vram_total"] - stats["vram_free"] > 7.5 * 1024**3


def test_an_oom_hits_the_custom_sampler(sim, tmp_path: Path) -> None:
    sim.set_faults(oom_every=1)

    async def go() -> ComfyOOM:
        async with ComfyClient(sim.url, timeouts=FAST) as client:
            submitted = await client.submit(graph("flux_dev"))
            with pytest.raises(ComfyOOM) as oom:
                await client.wait(submitted.prompt_id)
            return oom.value

    oom = asyncio.run(go())
    assert (oom.node_id, oom.node_type) == ("12", "SamplerCustomAdvanced")
