"""Deterministic synthetic ad images: the emulator's stand-in for diffusion.

A scene (prompt text, seed, sampler settings, LoRAs, ControlNet, IP-Adapter product, img2img base)
becomes a background, a product, a headline, a brand and a price badge. Quality follows the
settings the way a real model's does, so scoring code has something to tell apart: few steps blur,
high CFG oversaturates and adds noise, strong LoRAs add artifacts, some seeds garble the headline,
drop the price or leave the brand palette, and img2img keeps its base's layout at low denoise
under a strong ControlNet and drifts from it as denoise rises or the ControlNet weakens.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nightrun_dagster.creative_job.lettering import wrap_words
from nightrun_dagster.emulator.prompt_text import AdText

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
RGB = tuple[int, int, int]


@dataclass(frozen=True, eq=False)
class Scene:
    width: int
    height: int
    seed: int
    steps: int = 28
    cfg: float = 6.0
    sampler: str = "euler"
    denoise: float = 1.0
    text: AdText = field(default_factory=AdText)
    loras: tuple[tuple[str, float], ...] = ()
    control_strength: float | None = None
    ipadapter_weight: float = 0.0
    base: np.ndarray | None = None  # (H, W, 3) uint8 at output size: img2img
    product: np.ndarray | None = None  # (h, w, 4) uint8 RGBA: IP-Adapter's image


# Seed rules (documented in the emulator's README section of the report).
def garbles_headline(seed: int) -> bool:
    return seed % 11 == 3


def omits_price(seed: int) -> bool:
    return seed % 13 == 5


def off_palette(seed: int) -> bool:
    return seed % 17 == 7


@functools.lru_cache(maxsize=64)
def font(size: int, bold: bool = True) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONT_DIR / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _stable(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


def _luma(c: RGB) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def palette(scene: Scene) -> tuple[RGB, RGB, RGB]:
    """(main, secondary, accent): the prompt's colours, else colours derived from the seed."""
    rng = np.random.default_rng(_stable("palette", scene.seed))
    hue = float(rng.random())
    given = list(scene.text.colours)
    main = given[0] if given else _hsv(hue, 0.55, 0.42)
    second = given[1] if len(given) > 1 else _hsv(hue + 0.06, 0.18, 0.95)
    if len(given) > 2:
        accent = given[2]
    else:
        h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in main))
        accent = _hsv(h + 0.5, max(s, 0.65), max(v, 0.85))
    if off_palette(scene.seed):
        # The model ignored the brand colours: loud, unrelated hues.
        shift = 0.33 + 0.34 * float(rng.random())
        main = _shift_hue(main, shift, 0.9, 0.85)
        second = _shift_hue(second, shift + 0.1, 0.75, 0.95)
        accent = _shift_hue(accent, shift + 0.2, 0.95, 0.9)
    return main, second, accent


def _shift_hue(c: RGB, by: float, s: float, v: float) -> RGB:
    h, _, _ = colorsys.rgb_to_hsv(*(x / 255 for x in c))
    return _hsv(h + by, s, v)


def _gradient(width: int, height: int, top: RGB, bottom: RGB, seed: int) -> np.ndarray:
    rng = np.random.default_rng(_stable("gradient", seed))
    angle = float(rng.uniform(-0.6, 0.6))
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
    t = np.clip(ys * np.cos(angle) + xs * np.sin(angle), 0.0, 1.0)
    a = np.asarray(top, dtype=np.float32)
    b = np.asarray(bottom, dtype=np.float32)
    img = a + (b - a) * t[..., None]
    # A soft light spot, placed by the seed, so backgrounds differ between seeds.
    cx, cy = float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.15, 0.6))
    yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None] - cy
    xx = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :] - cx
    light = np.exp(-(xx * xx + yy * yy) / 0.08)[..., None] * 38.0
    return np.clip(img + light, 0, 255).astype(np.uint8)


def garble(text: str, seed: int) -> str:
    """Swapped and dropped letters, as diffusion models spell."""
    rng = np.random.default_rng(_stable("garble", seed, text))
    words = text.split(" ")
    out = []
    for word in words:
        letters = list(word)
        if len(letters) >= 4:
            i = int(rng.integers(1, len(letters) - 2))
            letters[i], letters[i + 1] = letters[i + 1], letters[i]
            if rng.random() < 0.5:
                del letters[int(rng.integers(1, len(letters) - 1))]
        out.append("".join(letters))
    garbled = " ".join(out)
    return garbled if garbled != text else text[::-1]


def _wrap(draw: ImageDraw.ImageDraw, text: str, face: ImageFont.ImageFont, width: int) -> list[str]:
    return wrap_words(text, width, lambda line: draw.textlength(line, font=face))[:4]


def _fit_font(draw: ImageDraw.ImageDraw, text: str, width: int, start: int, lines: int) -> tuple:
    size = start
    while size > 10:
        face = font(size)
        wrapped = _wrap(draw, text, face, width)
        widest = max((draw.textlength(line, font=face) for line in wrapped), default=0)
        if len(wrapped) <= lines and widest <= width:
            return face, wrapped, size
        size = int(size * 0.88)
    face = font(size)
    return face, _wrap(draw, text, face, width), size


def _text_colour(background: RGB) -> RGB:
    return (20, 20, 24) if _luma(background) > 150 else (250, 250, 250)


def _draw_product(
    canvas: Image.Image, box: tuple[int, int, int, int], scene: Scene, colours: tuple
) -> None:
    main, second, accent = colours
    left, top, right, bottom = box
    draw = ImageDraw.Draw(canvas)
    w, h = right - left, bottom - top
    # Shadow first, so the product stands on something.
    draw.ellipse(
        (left + w * 0.1, bottom - h * 0.04, right - w * 0.1, bottom + h * 0.05),
        fill=tuple(int(c * 0.55) for c in second),
    )
    if scene.product is not None:
        product = Image.fromarray(scene.product, "RGBA")
        product.thumbnail((max(1, w), max(1, h)))
        if scene.ipadapter_weight < 1.0:
            # A weak IP-Adapter only half-transfers the product's look.
            alpha = np.asarray(product.getchannel("A"), dtype=np.float32)
            keep = 0.35 + 0.65 * max(0.0, scene.ipadapter_weight)
            product.putalpha(Image.fromarray((alpha * min(keep, 1.0)).astype(np.uint8)))
        x = left + (w - product.width) // 2
        y = bottom - product.height
        canvas.alpha_composite(product, (max(0, x), max(0, y)))
        return
    body = tuple(max(0, int(c * 0.8)) for c in main)
    label_font = font(max(10, w // 9))
    name = scene.text.product or scene.text.brand or ""
    shape = _product_shape(scene)
    if shape == "bottle":
        neck_w = w * 0.22
        cx = left + w / 2
        draw.rounded_rectangle(
            (left + w * 0.18, top + h * 0.3, right - w * 0.18, bottom),
            radius=int(w * 0.12),
            fill=body,
        )
        draw.rectangle(
            (cx - neck_w / 2, top + h * 0.08, cx + neck_w / 2, top + h * 0.32), fill=body
        )
        draw.rectangle((cx - neck_w * 0.6, top, cx + neck_w * 0.6, top + h * 0.09), fill=accent)
        label = (left + w * 0.18, top + h * 0.5, right - w * 0.18, top + h * 0.78)
    else:
        depth = h * 0.12
        draw.polygon(
            [
                (left + w * 0.1, top + depth),
                (left + w * 0.3, top),
                (right - w * 0.02, top),
                (right - w * 0.2, top + depth),
            ],
            fill=tuple(min(255, int(c * 1.2) + 20) for c in body),
        )
        draw.polygon(
            [
                (right - w * 0.2, top + depth),
                (right - w * 0.02, top),
                (right - w * 0.02, bottom - depth),
                (right - w * 0.2, bottom),
            ],
            fill=tuple(int(c * 0.7) for c in body),
        )
        draw.rectangle((left + w * 0.1, top + depth, right - w * 0.2, bottom), fill=body)
        label = (left + w * 0.14, top + h * 0.42, right - w * 0.24, top + h * 0.72)
    draw.rectangle(label, fill=second)
    if name:
        lw = label[2] - label[0]
        face, lines, _ = _fit_font(draw, name, int(lw * 0.9), label_font.size, 2)
        y = label[1] + 4
        for line in lines:
            draw.text((label[0] + 4, y), line, font=face, fill=_text_colour(second))
            y += face.size + 2


def _product_shape(scene: Scene) -> str:
    words = (scene.text.product or "").lower()
    if any(k in words for k in ("bottle", "botella", "wine", "vino", "juice", "jugo", "aceite")):
        return "bottle"
    if any(k in words for k in ("box", "caja", "pack", "paquete", "yerba", "cereal")):
        return "box"
    return "bottle" if scene.seed % 2 == 0 else "box"


def _draw_copy(
    canvas: Image.Image, scene: Scene, colours: tuple, region: tuple, compact: bool = False
) -> None:
    """Headline (top of the region), brand (bottom left) and price badge (right); `compact`
    fits them into an img2img panel."""
    main, _, accent = colours
    left, top, right, bottom = region
    draw = ImageDraw.Draw(canvas)
    w, h = right - left, bottom - top
    rng = np.random.default_rng(_stable("copy", scene.seed))
    if scene.text.headline:
        text = scene.text.headline
        if garbles_headline(scene.seed):
            text = garble(text, scene.seed)
        start = max(14, w // 8) if compact else max(14, w // 11)
        face, lines, size = _fit_font(draw, text, int(w * 0.9), start, 2 if compact else 3)
        colour = _text_colour(tuple(canvas.getpixel((left + w // 2, top + 4)))[:3])
        y = top + int(h * 0.04)
        align = int(rng.integers(0, 2))
        for line in lines:
            lw = draw.textlength(line, font=face)
            x = left + (w - lw) / 2 if align == 0 else left + w * 0.05
            draw.text((x, y), line, font=face, fill=colour)
            y += int(size * 1.15)
    if scene.text.brand:
        face = font(max(12, w // 16))
        y = bottom - face.size - int(h * 0.04)
        x = left + int(w * 0.05)
        pad = max(4, face.size // 4)
        tw = draw.textlength(scene.text.brand, font=face)
        draw.rounded_rectangle(
            (x - pad, y - pad, x + tw + pad, y + face.size + pad), radius=pad, fill=main
        )
        draw.text((x, y), scene.text.brand, font=face, fill=_text_colour(main))
    if scene.text.price and not omits_price(scene.seed):
        size = max(12, w // 13)
        if compact:
            size = max(10, min(size, int(h * 0.1)))
        face = font(size)
        tw = draw.textlength(scene.text.price, font=face)
        radius = int(max(tw / 2 + size * 0.6, size * 1.4))
        cx = right - radius - int(w * 0.04)
        low, high = (0.62, 0.7) if compact else (0.42, 0.62)
        cy = top + int(h * float(rng.uniform(low, high)))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=accent)
        draw.text(
            (cx - tw / 2, cy - face.size * 0.6),
            scene.text.price,
            font=face,
            fill=_text_colour(accent),
        )


# A ControlNet at strength 1 keeps the drift to 65% of the denoise: the sampler re-draws
# every pixel either way, the edges just pull it back onto the base's lines.
CONTROL_HOLD = 0.35
# The prompt's ad is laid over an img2img base from drift AD_FROM, whole by AD_FULL: at
# denoise 0.25 the latent leaves the sampler no room to paint a panel over the screen.
AD_FROM, AD_FULL = 0.15, 0.6


def _drift(scene: Scene) -> float:
    """How free img2img is to leave its base: the denoise (the share of the noise schedule
    the sampler re-runs), held back a little by a ControlNet on the base's edges."""
    drift = scene.denoise
    if scene.control_strength is not None:
        drift *= 1.0 - CONTROL_HOLD * min(max(scene.control_strength, 0.0), 1.0)
    return min(max(drift, 0.0), 1.0)


def _field(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """A smooth random field in about -1..1, varying over `cells` cells across the width."""
    gh, gw = max(2, cells * h // w), max(2, cells)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _img2img_base(scene: Scene, synthetic: np.ndarray) -> np.ndarray:
    """The base as the sampler leaves it: in place, restyled, and loosened with drift.

    Low denoise keeps the layout to the pixel (the latent still holds it); what changes is
    style: the prompt's palette graded in, fine detail softened by the VAE round trip. As
    drift grows, edges wobble (a smooth displacement field, a pixel or two at denoise 0.45
    with a weak ControlNet), flat areas get invented texture, and from about 0.3 the prompt's
    own picture starts to replace the base: about half of it at 0.65, all of it at 1."""
    assert scene.base is not None
    drift = _drift(scene)
    rng = np.random.default_rng(_stable("drift", scene.seed))
    h, w = synthetic.shape[:2]
    size = w / 1024  # displacement and blur are in pixels of a 1024-wide render
    out = scene.base
    reach = 40.0 * drift**3 * size
    if reach > 0.05:
        xs, ys = _grid(h, w)
        dx = _field(rng, h, w, 6) * reach
        dy = _field(rng, h, w, 6) * reach
        out = cv2.remap(out, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    sigma = 1.2 * drift * size
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma)
    # Style: the prompt's palette graded in, then the prompt's picture taking over.
    takeover = min(1.0, max(0.0, (drift - 0.3) / 0.7))
    mix = 0.06 + 0.9 * takeover * takeover * (3 - 2 * takeover)
    f = cv2.addWeighted(out.astype(np.float32), 1 - mix, synthetic.astype(np.float32), mix, 0.0)
    # Invented texture, grain a couple of pixels wide (drawn at half size, then enlarged).
    grain = rng.standard_normal((max(1, h // 2), max(1, w // 2)), dtype=np.float32)
    grain = cv2.resize(cv2.GaussianBlur(grain, (0, 0), 0.75 * size + 0.1), (w, h))
    # It belongs to the half-redrawn base: the prompt's own picture, once it takes over, is clean.
    grain *= 14.0 * drift**2 * (1 - mix) / max(1e-6, float(grain.std()))
    f += grain[..., None]
    return np.clip(f, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def ad_opacity(scene: Scene) -> float:
    """How much of the prompt's ad (panel, product, copy) img2img paints over its base: next
    to nothing at low denoise, all of it once the base no longer holds the picture."""
    return min(1.0, max(0.0, (_drift(scene) - AD_FROM) / (AD_FULL - AD_FROM)))


def _quality(img: np.ndarray, scene: Scene) -> np.ndarray:
    rng = np.random.default_rng(_stable("quality", scene.seed))
    out = img
    lora = max((abs(s) for _, s in scene.loras), default=0.0)
    if scene.loras:
        # Each LoRA grades the colours its own way, more with strength.
        tint = np.array(
            [
                ((_stable("lora", n) >> (8 * i)) & 0xFF) - 128
                for n, _ in scene.loras[:1]
                for i in range(3)
            ],
            dtype=np.float32,
        )
        out = np.clip(out.astype(np.float32) + tint * 0.08 * min(lora, 2.0), 0, 255).astype(
            np.uint8
        )
    if scene.cfg > 9.0:
        f = out.astype(np.float32)
        gray = f.mean(axis=2, keepdims=True)
        boost = 1.0 + (scene.cfg - 9.0) * 0.22
        f = gray + (f - gray) * boost
        f = (f - 128.0) * (1.0 + (scene.cfg - 9.0) * 0.05) + 128.0
        f += rng.normal(0.0, min(40.0, (scene.cfg - 9.0) * 4.0), f.shape).astype(np.float32)
        out = np.clip(f, 0, 255).astype(np.uint8)
    if lora > 1.2:
        f = out.astype(np.float32)
        h, w = f.shape[:2]
        cell = 8
        blocks = rng.normal(
            0.0, (lora - 1.2) * 60.0, ((h + cell - 1) // cell, (w + cell - 1) // cell, 3)
        )
        f += np.kron(blocks, np.ones((cell, cell, 1)))[:h, :w].astype(np.float32)
        specks = rng.random((h, w)) < (lora - 1.2) * 0.04
        f[specks] = 255.0 - f[specks]
        out = np.clip(f, 0, 255).astype(np.uint8)
    if scene.steps < 12:
        sigma = (12 - scene.steps) * 0.6 * max(1.0, min(scene.width, scene.height) / 512)
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return out


def render(scene: Scene) -> np.ndarray:
    """One (height, width, 3) uint8 image."""
    w, h = scene.width, scene.height
    colours = palette(scene)
    main, second, _ = colours
    background = _gradient(w, h, main, second, scene.seed)
    rng = np.random.default_rng(_stable("layout", scene.seed))
    if scene.base is not None:
        canvas = Image.fromarray(_img2img_base(scene, background)).convert("RGBA")
        # The ad is painted on its own layer, in a panel whose place depends on the seed, and
        # laid over the screenshot as far as the denoise lets the prompt take over.
        layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        panel_h = int(h * 0.4)
        top = int(h * 0.58) if rng.random() < 0.6 else int(h * 0.02)
        ImageDraw.Draw(layer).rounded_rectangle(
            (int(w * 0.03), top, int(w * 0.97), top + panel_h),
            radius=max(4, w // 40),
            fill=(*main, 215),
        )
        pw = int(w * 0.28)
        product_box = (
            int(w * 0.06),
            top + int(panel_h * 0.1),
            int(w * 0.06) + pw,
            top + panel_h - int(panel_h * 0.08),
        )
        region = (product_box[2] + int(w * 0.02), top, int(w * 0.97), top + panel_h)
        _draw_product(layer, product_box, scene, colours)
        _draw_copy(layer, scene, colours, region, compact=True)
        alpha = np.asarray(layer.getchannel("A"), dtype=np.float32) * ad_opacity(scene)
        layer.putalpha(Image.fromarray(alpha.astype(np.uint8)))
        canvas.alpha_composite(layer)
    else:
        canvas = Image.fromarray(background).convert("RGBA")
        pw, ph = int(w * 0.42), int(h * 0.42)
        cx = int(w * (0.5 + float(rng.uniform(-0.14, 0.1))))
        bottom = int(h * float(rng.uniform(0.78, 0.86)))
        _draw_product(canvas, (cx - pw // 2, bottom - ph, cx + pw // 2, bottom), scene, colours)
        _draw_copy(canvas, scene, colours, (0, 0, w, h))
    return _quality(np.asarray(canvas.convert("RGB")), scene)


def animate(still: np.ndarray, frames: int, seed: int) -> np.ndarray:
    """A slow push-in with a gentle pan: (frames, height, width, 3) uint8."""
    h, w = still.shape[:2]
    rng = np.random.default_rng(_stable("pan", seed))
    pan_x = float(rng.uniform(-0.05, 0.05)) * w
    pan_y = float(rng.uniform(-0.03, 0.03)) * h
    out = np.empty((frames, h, w, 3), dtype=np.uint8)
    for i in range(frames):
        t = i / max(1, frames - 1)
        scale = 1.0 + 0.15 * t
        matrix = np.array(
            [
                [scale, 0.0, (1 - scale) * w / 2 + pan_x * t],
                [0.0, scale, (1 - scale) * h / 2 + pan_y * t],
            ],
            dtype=np.float32,
        )
        out[i] = cv2.warpAffine(still, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
    return out
