"""Publish packages end to end on synthetic es-AR ads: sizes, OCR after crops, MP4s, manifest."""

from __future__ import annotations

import hashlib
import json
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pytesseract
import pytest
from PIL import Image, ImageDraw, ImageFont

from nightrun_dagster.creative_job.model import CreativeJob
from nightrun_dagster.publish.caption import IG_MAX_CHARS, IG_MAX_HASHTAGS, build_caption
from nightrun_dagster.publish.crop import crop_image
from nightrun_dagster.publish.formats import formats_for_job
from nightrun_dagster.publish.package import build_package
from nightrun_dagster.publish.video import probe
from nightrun_dagster.scoring.context import ScoreContext
from nightrun_dagster.scoring.score import score_file

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
APPROVAL = {"by": "@ana_mkt", "at": "2026-02-11T09:15:00-03:00", "chat_id": 42}
SIZES = {
    "IG_feed_4x5_1080x1350": (1080, 1350),
    "FB_feed_4x5_1080x1350": (1080, 1350),
    "IG_story_1080x1920": (1080, 1920),
    "FB_story_1080x1920": (1080, 1920),
    "IG_feed_1x1_1080x1080": (1080, 1080),
    "FB_feed_1x1_1080x1080": (1080, 1080),
    "IG_reel_1080x1920": (1080, 1920),
}


def norm(text: str) -> str:
    """Lowercase, accents off, letters and digits only: OCR is compared on this."""
    bare = unicodedata.normalize("NFKD", text)
    return "".join(c for c in bare.lower() if c.isalnum() and not unicodedata.combining(c))


def ocr(path: Path) -> str:
    return norm(pytesseract.image_to_string(Image.open(path), lang="spa+eng"))


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT, size)


def make_ad(path: Path, *, edge: bool) -> None:
    """1024×1280 ad: headline on top, price badge by the right edge, product in the middle.

    `edge` puts the headline against the left edge and a footer at the bottom, so neither a
    9:16 nor a 1:1 window can hold all the text.
    """
    img = Image.new("RGB", (1024, 1280))
    draw = ImageDraw.Draw(img)
    for y in range(1280):
        draw.line([(0, y), (1024, y)], fill=(236 - y // 20, 232 - y // 30, 214 - y // 16))
    # The product: a dark box with a label, in the middle.
    draw.rectangle([400, 520, 700, 960], fill=(22, 96, 60))
    draw.rectangle([430, 700, 670, 800], fill=(246, 238, 210))
    if edge:
        draw.text((18, 60), "Envío gratis", font=font(72), fill=(20, 20, 20))
        draw.text((300, 1170), "Pedí hoy", font=font(60), fill=(20, 20, 20))
    else:
        draw.text((370, 70), "Café Tostado", font=font(60), fill=(20, 20, 20))
    # Price badge: white text on orange, by the right edge.
    draw.rounded_rectangle([760, 380, 1010, 490], radius=28, fill=(232, 96, 20))
    draw.text((782, 405), "$ 4.999", font=font(54), fill=(255, 255, 255))
    img.save(path)


def make_clip(dest: Path, poster: Path) -> None:
    """An 832×480 two-second H.264 clip of a titled frame, plus a 640×369 poster of it."""
    frame = Image.new("RGB", (832, 480), (240, 236, 220))
    draw = ImageDraw.Draw(frame)
    draw.rectangle([330, 150, 500, 420], fill=(22, 96, 60))
    draw.text((40, 30), "Mate Verde", font=font(56), fill=(20, 20, 20))
    draw.rounded_rectangle([600, 200, 820, 290], radius=20, fill=(232, 96, 20))
    draw.text((618, 220), "$ 4.999", font=font(44), fill=(255, 255, 255))
    still = dest.with_suffix(".frame.png")
    frame.save(still)
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", "24", "-i", str(still)),
            *("-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(dest)),
        ],
        check=True,
    )
    still.unlink()
    frame.resize((640, 369)).save(poster, quality=92)


def job_dict(platforms: list[dict[str, str]], **copy: Any) -> dict[str, Any]:
    return {
        "job_id": "Promo Café #12",
        "created_at": "2026-02-09T10:00:00-03:00",
        "product": {"sku": "CF-1", "name": "Café Tostado 250 g", "brand": "Tostal", "price": 4999},
        "goal": {"objective": "sales", "offer": "2x1 los jueves", "cta": "Comprá ahora"},
        "platforms": platforms,
        "assets": {"product_images": ["cafe.png"]},
        "copy": {
            "headline": "Café Tostado",
            "subheadline": "Recién molido, a $ 4.999",
            "hashtags": ["#cafe", "tostado", "#Café de especialidad"],
            "language": "es-AR",
            **copy,
        },
        "generation": {
            "workflow": {"template_id": "product_hero_v1", "workflow_path": "wf.json"},
            "seed_strategy": {"mode": "fixed", "seed": 7},
            "variants": {},
        },
    }


def make_job_dir(root: Path, *, kind: str, edge: bool = False) -> Path:
    job_dir = root / "job_promo-cafe-12"
    variant = job_dir / "variants" / "v0001"
    (variant / "out").mkdir(parents=True)
    (variant / "meta").mkdir()
    if kind == "image":
        make_ad(variant / "out" / "img_0001.png", edge=edge)
        output = {"file": "out/img_0001.png", "preview": "out/img_0001.preview.jpg"}
    else:
        make_clip(variant / "out" / "vid_0001.mp4", variant / "out" / "vid_0001.poster.jpg")
        output = {"file": "out/vid_0001.mp4", "preview": "out/vid_0001.poster.jpg"}
    params = {
        "params_version": 1,
        "job_id": "Promo Café #12",
        "variant_id": "v0001",
        "night": "2026-02-10",
        "prompt": "a bag of roasted coffee on a wooden table",
        "negative": None,
        "seed": 5000,
        "loras": [{"name": "grain", "path": "loras/grain.safetensors", "weight": 0.6}],
        "sampler": "dpmpp_2m_karras",
        "steps": 28,
        "template": {
            "id": "product_hero_v1",
            "version": "1.2.0",
            "sha256": "ab" * 32,
            "model": "sd_xl_base_1.0.safetensors",
        },
        "render": {"status": "ok", "outputs": [{**output, "kind": kind}]},
    }
    (variant / "meta" / "params.json").write_text(json.dumps(params))
    return job_dir


def validate(data: dict[str, Any]) -> CreativeJob:
    return CreativeJob.model_validate(data)


IMAGE_PLATFORMS = [
    {"platform": "instagram", "format": "feed_4x5", "deliverable": "image"},
    {"platform": "instagram", "format": "story_9x16", "deliverable": "image"},
    {"platform": "facebook", "format": "feed_1x1", "deliverable": "image"},
    {"platform": "facebook", "format": "carousel_4x5", "deliverable": "image"},
]


@pytest.fixture(scope="module")
def image_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CreativeJob]:
    job_dir = make_job_dir(tmp_path_factory.mktemp("img"), kind="image")
    job = validate(job_dict(IMAGE_PLATFORMS))
    return build_package(job_dir, "v0001", job, approval=APPROVAL), job


@pytest.fixture(scope="module")
def edge_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    job_dir = make_job_dir(tmp_path_factory.mktemp("edge"), kind="image", edge=True)
    platforms = [
        {"platform": "instagram", "format": "story_9x16"},
        {"platform": "instagram", "format": "feed_1x1"},
    ]
    job = validate(job_dict(platforms, headline="Envío gratis"))
    return build_package(job_dir, "v0001", job, approval=APPROVAL)


@pytest.fixture(scope="module")
def video_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    job_dir = make_job_dir(tmp_path_factory.mktemp("vid"), kind="video")
    platforms = [
        {"platform": "instagram", "format": "reel_9x16", "deliverable": "video"},
        {"platform": "facebook", "format": "feed_4x5", "deliverable": "video"},
    ]
    job = validate(job_dict(platforms))
    return build_package(job_dir, "v0001", job, approval=APPROVAL)


def manifest(package: Path) -> dict[str, Any]:
    return json.loads((package / "manifest.json").read_text(encoding="utf-8"))


def test_only_the_jobs_placements_at_exact_sizes(image_package: tuple[Path, CreativeJob]) -> None:
    package, _ = image_package
    names = sorted(p.name for p in package.iterdir())
    assert names == [
        "FB_feed_1x1_1080x1080.png",
        "FB_feed_4x5_1080x1350.png",
        "IG_feed_4x5_1080x1350.png",
        "IG_story_1080x1920.png",
        "caption.txt",
        "checklist.md",
        "manifest.json",
    ]
    for name in names:
        if name.endswith(".png"):
            assert Image.open(package / name).size == SIZES[name.removesuffix(".png")]
    assert not [p for p in package.parent.iterdir() if p.name.startswith(".")]


def test_headline_and_price_survive_every_crop(image_package: tuple[Path, CreativeJob]) -> None:
    package, _ = image_package
    for png in sorted(package.glob("*.png")):
        text = ocr(png)
        assert "cafetostado" in text, (png.name, text)
        assert "4999" in text, (png.name, text)


def test_story_crop_slides_to_keep_the_edge_badge(image_package: tuple[Path, CreativeJob]) -> None:
    package, _ = image_package
    story = next(f for f in manifest(package)["formats"] if f["file"] == "IG_story_1080x1920.png")
    x0, _, x1, _ = story["crop"]["window"]
    assert not story["crop"]["padded"]
    assert x1 - x0 == 720  # the whole height at 9:16, no upscale beyond what 1920 needs
    assert x0 > (1024 - 720) // 2  # slid right of centre to keep the price badge
    assert x1 >= 1010
    labels = {b["label"] for b in story["crop"]["kept_boxes"] if b["kind"] == "text"}
    assert any("4.999" in label for label in labels)
    assert any(b["kind"] == "salient" for b in story["crop"]["kept_boxes"])


def test_pads_instead_of_cutting_edge_text(edge_package: Path) -> None:
    formats = {f["file"]: f for f in manifest(edge_package)["formats"]}
    assert set(formats) == {"IG_story_1080x1920.png", "IG_feed_1x1_1080x1080.png"}
    for name, fmt in formats.items():
        assert fmt["crop"]["padded"], name
        assert Image.open(edge_package / name).size == SIZES[name.removesuffix(".png")]
        text = ocr(edge_package / name)
        x0, y0, x1, y1 = fmt["crop"]["window"]
        assert x0 <= 760 and y0 <= 380 and x1 >= 1010 and y1 >= 490, name
        # The white price on its badge needs the scorer's OCR (per-pixel channel minimum).
        ctx = ScoreContext(brand="Tostal", product="Café Tostado", price="$ 4.999", brand_colors=())
        found = score_file(edge_package / name, ctx)["components"]["text"]["tokens_found"]
        assert "$ 4.999" in found, (name, found)
        for word in ("enviogratis", "pedihoy"):
            assert word in text, (name, word, text)


def test_centre_crop_would_cut_the_edge_text(tmp_path: Path) -> None:
    # Guards the fixture: a naive centre crop really loses the text the package keeps.
    make_ad(tmp_path / "ad.png", edge=True)
    Image.open(tmp_path / "ad.png").crop((152, 0, 872, 1280)).save(tmp_path / "centre.png")
    text = ocr(tmp_path / "centre.png")
    assert "enviogratis" not in text
    assert "4999" not in text


def test_crop_without_text_is_exact_and_central(tmp_path: Path) -> None:
    img = Image.new("RGB", (1024, 1280), (200, 200, 200))
    out, decision = crop_image(img, (1080, 1080))
    assert out.size == (1080, 1080)
    assert not decision.padded
    assert decision.window == (0, 128, 1024, 1152)


def test_manifest_hashes_sizes_approval_and_reproduction(
    image_package: tuple[Path, CreativeJob],
) -> None:
    package, _ = image_package
    data = manifest(package)
    on_disk = {p.name for p in package.iterdir()} - {"manifest.json"}
    assert set(data["files"]) == on_disk
    for name, info in data["files"].items():
        raw = (package / name).read_bytes()
        assert info["sha256"] == hashlib.sha256(raw).hexdigest()
        assert info["bytes"] == len(raw)
    assert data["approval"]["by"] == "@ana_mkt"
    assert data["approval"]["at"] == "2026-02-11T09:15:00-03:00"
    repro = data["reproduction"]
    assert repro["template"] == {"id": "product_hero_v1", "version": "1.2.0", "sha256": "ab" * 32}
    assert repro["seed"] == 5000
    assert repro["prompt"].startswith("a bag of roasted coffee")
    assert repro["model"] == "sd_xl_base_1.0.safetensors"
    assert repro["loras"][0]["name"] == "grain"
    assert "render" not in repro["params"]
    assert repro["params"]["sampler"] == "dpmpp_2m_karras"
    checklist = (package / "checklist.md").read_text(encoding="utf-8")
    for fmt in data["formats"]:
        assert fmt["file"] in checklist
    assert "@ana_mkt" in checklist and "Meta Business Suite" in checklist


def test_caption_copy_and_hashtags(image_package: tuple[Path, CreativeJob]) -> None:
    package, _ = image_package
    text = (package / "caption.txt").read_text(encoding="utf-8")
    for part in ("Café Tostado", "Recién molido", "2x1 los jueves", "Comprá ahora"):
        assert part in text
    assert "#cafe #tostado #Cafédeespecialidad" in text


def test_caption_trimmed_to_instagram_limits() -> None:
    tags = [f"#tag{i}" for i in range(45)]
    job = validate(job_dict(IMAGE_PLATFORMS, hashtags=tags, subheadline="Muy rico. " * 300))
    caption = build_caption(job)
    assert len(caption.text) <= IG_MAX_CHARS
    assert caption.text.count("#") <= IG_MAX_HASHTAGS
    assert caption.trimmed
    assert caption.text.startswith("Café Tostado")


def test_idempotent_and_rebuilt_on_change(tmp_path: Path) -> None:
    job_dir = make_job_dir(tmp_path, kind="image")
    job = validate(job_dict([{"platform": "instagram", "format": "feed_1x1"}]))
    first = build_package(job_dir, "v0001", job, approval=APPROVAL)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in first.iterdir()}
    again = build_package(job_dir, "v0001", job, approval=dict(APPROVAL))
    assert again == first
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in again.iterdir()} == before

    other = {**APPROVAL, "by": "@jefe"}
    rebuilt = build_package(job_dir, "v0001", job, approval=other)
    assert manifest(rebuilt)["approval"]["by"] == "@jefe"

    source = job_dir / "variants" / "v0001" / "out" / "img_0001.png"
    Image.open(source).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(source)
    sha = manifest(rebuilt)["source"]["sha256"]
    rebuilt_again = build_package(job_dir, "v0001", job, approval=other)
    assert manifest(rebuilt_again)["source"]["sha256"] != sha
    assert sorted(p.name for p in (job_dir / "publish").iterdir()) == ["v0001"]


def test_approval_must_say_who_and_when(tmp_path: Path) -> None:
    job_dir = make_job_dir(tmp_path, kind="image")
    job = validate(job_dict([{"platform": "instagram", "format": "feed_1x1"}]))
    with pytest.raises(ValueError, match="approval"):
        build_package(job_dir, "v0001", job, approval={"by": "@ana"})
    assert not (job_dir / "publish" / "v0001").exists()


def assert_plays(path: Path, size: tuple[int, int]) -> None:
    info = probe(path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert video["codec_name"] == "h264"
    assert video["pix_fmt"] == "yuv420p"
    assert (video["width"], video["height"]) == size
    assert float(info["format"]["duration"]) > 0
    head = path.read_bytes()
    assert head.find(b"moov") < head.find(b"mdat")  # faststart: index before the media


def test_video_job_mp4s_and_stills(video_package: Path) -> None:
    names = sorted(p.name for p in video_package.iterdir())
    assert names == [
        "FB_feed_4x5_1080x1350.mp4",
        "FB_feed_4x5_1080x1350.png",
        "IG_reel_1080x1920.mp4",
        "caption.txt",
        "checklist.md",
        "manifest.json",
    ]
    assert_plays(video_package / "IG_reel_1080x1920.mp4", (1080, 1920))
    assert_plays(video_package / "FB_feed_4x5_1080x1350.mp4", (1080, 1350))
    still = video_package / "FB_feed_4x5_1080x1350.png"
    assert Image.open(still).size == (1080, 1350)
    text = ocr(still)
    assert "mateverde" in text
    reel = next(f for f in manifest(video_package)["formats"] if f["file"].endswith(".mp4"))
    assert reel["crop"]["source_size"] == [832, 480]


def test_image_job_reel_is_a_still_clip(tmp_path: Path) -> None:
    job_dir = make_job_dir(tmp_path, kind="image")
    job = validate(job_dict([{"platform": "instagram", "format": "reel_9x16"}]))
    package = build_package(job_dir, "v0001", job, approval=APPROVAL)
    assert [p.name for p in package.glob("*.mp4")] == ["IG_reel_1080x1920.mp4"]
    assert_plays(package / "IG_reel_1080x1920.mp4", (1080, 1920))


def test_formats_follow_the_job() -> None:
    platforms = [
        {"platform": "instagram", "format": "feed_4x5"},
        {"platform": "instagram", "format": "carousel_4x5"},
        {"platform": "facebook", "format": "story_9x16"},
    ]
    formats = formats_for_job(validate(job_dict(platforms)))
    assert [f.filename for f in formats] == ["IG_feed_4x5_1080x1350.png", "FB_story_1080x1920.png"]
    assert formats[0].job_formats == ("feed_4x5", "carousel_4x5")
