"""Ground-truth ads with known copy, palette and defects, for the scorer's tests and benchmark."""

from __future__ import annotations

import colorsys
import functools
import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nightrun_dagster.creative_job.lettering import wrap_words

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
RGB = tuple[int, int, int]

# Bold faces only for the copy: ads set headlines, prices and brands heavy.
_HEADLINE_FONTS = ("DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansCondensed-Bold.ttf")
_BODY_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf")


@dataclass(frozen=True)
class AdCopy:
    """The words an ad must carry (es-AR, with accents) and the brand's colours."""

    brand: str
    product: str
    price: str | None
    headline: str
    brand_colors: tuple[str, str, str]  # background, secondary, badge accent


COPIES: tuple[AdCopy, ...] = (
    AdCopy(
        "Ñandú",
        "Café de Especialidad",
        "$ 12.999",
        "Despertá tu mañana",
        ("#3B2416", "#F2E3C6", "#C8102E"),
    ),
    AdCopy(
        "Verde",
        "Yerba Mate Orgánica 500 g",
        "$ 4.999",
        "El mate de siempre",
        ("#146E46", "#FAF0D2", "#E4572E"),
    ),
    AdCopy(
        "Pampa",
        "Alfajores de Maicena",
        "$ 8.450",
        "Dulce tentación",
        ("#1D3557", "#F1FAEE", "#E63946"),
    ),
    AdCopy(
        "Andina",
        "Malbec Reserva",
        "$ 15.990",
        "Brindá con lo mejor",
        ("#5B0E2D", "#F5E6E8", "#2A9D8F"),
    ),
    AdCopy(
        "Lúcuma",
        "Jugo de Naranja Exprimido",
        "$ 2.350",
        "Energía natural",
        ("#F08A24", "#FFF8EC", "#6A4C93"),
    ),
    AdCopy(
        "Pehuén",
        "Aceite de Oliva Extra Virgen",
        "$ 9.800",
        "Sabor auténtico",
        ("#2F4F1F", "#EEF2E0", "#B5179E"),
    ),
    AdCopy(
        "Cóndor",
        "Zapatillas Trekking",
        "$ 89.999",
        "Llegá más lejos",
        ("#22313F", "#E8EEF2", "#F26419"),
    ),
    AdCopy(
        "Ñire",
        "Miel Pura de Montaña",
        "$ 6.720",
        "Dulzura patagónica",
        ("#7A4E12", "#FFF4D6", "#0B6E4F"),
    ),
)


@dataclass(frozen=True)
class AdStyle:
    """How one ground-truth ad is drawn and what is wrong with it."""

    width: int = 1080
    height: int = 1350
    seed: int = 0
    show_text: bool = True
    show_price: bool = True
    off_palette: bool = False
    blur: float = 0.0  # Gaussian sigma in pixels
    noise: float = 0.0  # Gaussian sigma in grey levels
    blocks: float = 0.0  # sigma of 8×8 block noise, as an over-strong LoRA leaves
    specks: float = 0.0  # share of pixels inverted, isolated specks


@functools.lru_cache(maxsize=64)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), size)


def hex_rgb(colour: str) -> RGB:
    digits = colour.strip().lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def shift_hue(colour: RGB, by: float) -> RGB:
    """The same lightness and saturation at another hue; greys get a saturated hue."""
    h, lightness, s = colorsys.rgb_to_hls(*(c / 255 for c in colour))
    s = max(s, 0.6)
    r, g, b = colorsys.hls_to_rgb((h + by) % 1.0, lightness, s)
    return round(r * 255), round(g * 255), round(b * 255)


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _luma(c: RGB) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _ink(background: RGB) -> RGB:
    return (24, 22, 20) if _luma(background) > 140 else (252, 252, 250)


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, face: ImageFont.FreeTypeFont, width: int
) -> list[str]:
    return wrap_words(text, width, lambda line: draw.textlength(line, font=face))


def palette_of(copy: AdCopy, style: AdStyle) -> tuple[RGB, RGB, RGB]:
    bg, second, accent = (hex_rgb(c) for c in copy.brand_colors)
    if style.off_palette:
        shift = 0.35 + 0.3 * float(_rng("off", style.seed).random())
        return shift_hue(bg, shift), shift_hue(second, shift), shift_hue(accent, shift)
    return bg, second, accent


def build_ad(copy: AdCopy, style: AdStyle = AdStyle()) -> np.ndarray:
    """One (height, width, 3) uint8 RGB ad: headline, product line, a product, a price badge
    with white text, and the brand on a pill; then blur and noise as the style asks."""
    w, h = style.width, style.height
    rng = _rng("layout", style.seed, copy.brand)
    bg, second, accent = palette_of(copy, style)
    # Background: a vertical gradient from the brand colour into its light secondary.
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None] ** 1.4
    split = float(rng.uniform(0.45, 0.6))
    t = np.clip((t - split * 0.5) / (1 - split * 0.5), 0, 1)
    top = np.asarray(bg, np.float32)
    bottom = np.asarray(second, np.float32)
    grad = top + (bottom - top) * t
    canvas = Image.fromarray(np.broadcast_to(grad, (h, w, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    margin = int(w * 0.07)
    y = int(h * 0.05)
    if style.show_text:
        face_name = _HEADLINE_FONTS[int(rng.integers(len(_HEADLINE_FONTS)))]
        size = int(w * float(rng.uniform(0.085, 0.1)))
        face = _font(face_name, size)
        for line in _wrap(draw, copy.headline, face, w - 2 * margin)[:2]:
            draw.text((margin, y), line, font=face, fill=_ink(bg))
            y += int(size * 1.18)
        body = _font(_BODY_FONTS[int(rng.integers(len(_BODY_FONTS)))], int(w * 0.052))
        for line in _wrap(draw, copy.product, body, w - 2 * margin)[:2]:
            draw.text((margin, y + int(w * 0.01)), line, font=body, fill=_ink(bg))
            y += int(body.size * 1.2)
    # The product: a box with a lid, on a shadow, somewhere below the copy.
    pw, ph = int(w * 0.34), int(h * 0.3)
    px = int(w * float(rng.uniform(0.08, 0.22)))
    py = max(y + int(h * 0.06), int(h * 0.42))
    py = min(py, h - ph - int(h * 0.12))
    draw.ellipse((px - pw * 0.1, py + ph - ph * 0.05, px + pw * 1.1, py + ph + ph * 0.07), fill=bg)
    body_colour = tuple(int(c * 0.75) for c in bg)
    draw.rounded_rectangle((px, py, px + pw, py + ph), radius=int(pw * 0.08), fill=body_colour)
    draw.rectangle((px, py, px + pw, py + int(ph * 0.12)), fill=accent)
    draw.rectangle(
        (px + pw * 0.12, py + ph * 0.35, px + pw * 0.88, py + ph * 0.7), fill=(250, 248, 240)
    )
    if style.show_text and style.show_price and copy.price:
        # White price on a coloured badge: the case plain grey OCR misses most.
        size = int(w * 0.075)
        face = _font("DejaVuSans-Bold.ttf", size)
        tw = draw.textlength(copy.price, font=face)
        if rng.random() < 0.5:
            radius = int(max(tw / 2 + size * 0.55, size * 1.4))
            cx = w - margin - radius
            cy = py + int(ph * float(rng.uniform(0.1, 0.4)))
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=accent)
        else:
            bw, bh = tw + size * 1.2, size * 2.0
            cx, cy = w - margin - bw / 2, py + int(ph * float(rng.uniform(0.1, 0.5)))
            draw.rounded_rectangle(
                (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2),
                radius=int(size * 0.4),
                fill=accent,
            )
        draw.text((cx - tw / 2, cy - size * 0.62), copy.price, font=face, fill=(255, 255, 255))
    if style.show_text:
        face = _font("DejaVuSans-Bold.ttf", int(w * 0.06))
        tw = draw.textlength(copy.brand, font=face)
        pad = int(face.size * 0.45)
        bx, by = margin, h - int(h * 0.05) - face.size - 2 * pad
        draw.rounded_rectangle(
            (bx, by, bx + tw + 2 * pad, by + face.size + 2 * pad), radius=pad, fill=bg
        )
        draw.text((bx + pad, by + pad * 0.6), copy.brand, font=face, fill=_ink(bg))
    return degrade(np.asarray(canvas), style)


def degrade(img: np.ndarray, style: AdStyle) -> np.ndarray:
    out = img
    if style.blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=style.blur, sigmaY=style.blur)
    if style.noise > 0:
        noise = _rng("noise", style.seed).standard_normal(out.shape, dtype=np.float32)
        out = np.clip(out.astype(np.float32) + noise * style.noise, 0, 255).astype(np.uint8)
    if style.blocks > 0:
        h, w = out.shape[:2]
        cells = _rng("blocks", style.seed).standard_normal(((h + 7) // 8, (w + 7) // 8, 3))
        grid = np.repeat(np.repeat(cells * style.blocks, 8, axis=0), 8, axis=1)[:h, :w]
        out = np.clip(out.astype(np.float32) + grid, 0, 255).astype(np.uint8)
    if style.specks > 0:
        out = out.copy()
        hit = _rng("specks", style.seed).random(out.shape[:2]) < style.specks
        out[hit] = 255 - out[hit]
    return out


def build_ui_screen(width: int = 1080, height: int = 1350, seed: int = 0) -> np.ndarray:
    """An app screenshot: header bar, product cards with text lines, a buy button."""
    rng = _rng("ui", seed)
    canvas = Image.new("RGB", (width, height), (246, 247, 249))
    draw = ImageDraw.Draw(canvas)
    head = hex_rgb(("#005AA0", "#146E46", "#5B2A86")[seed % 3])
    draw.rectangle((0, 0, width, int(height * 0.08)), fill=head)
    title = _font("DejaVuSans-Bold.ttf", int(width * 0.045))
    draw.text((int(width * 0.05), int(height * 0.02)), "MiTienda", font=title, fill="white")
    small = _font("DejaVuSans.ttf", int(width * 0.032))
    card_h = int(height * 0.17)
    for i in range(4):
        top = int(height * 0.11) + i * (card_h + int(height * 0.025))
        draw.rounded_rectangle(
            (int(width * 0.04), top, int(width * 0.96), top + card_h),
            radius=int(width * 0.025),
            fill="white",
            outline=(214, 218, 224),
            width=3,
        )
        shade = tuple(int(v) for v in rng.integers(170, 230, 3))
        draw.rectangle(
            (int(width * 0.07), top + 20, int(width * 0.34), top + card_h - 20), fill=shade
        )
        draw.text((int(width * 0.39), top + 28), f"Producto {i + 1}", font=small, fill=(30, 30, 30))
        price = f"$ {int(rng.integers(1, 20))}.{int(rng.integers(100, 999))}"
        draw.text((int(width * 0.39), top + 28 + small.size * 2), price, font=small, fill=head)
        for j in range(2):
            y = top + 28 + small.size * (3.6 + 1.1 * j)
            draw.rectangle(
                (int(width * 0.39), y, int(width * (0.85 - 0.2 * j)), y + 10), fill=(200, 204, 210)
            )
    draw.rounded_rectangle(
        (int(width * 0.05), int(height * 0.9), int(width * 0.95), int(height * 0.97)),
        radius=int(width * 0.03),
        fill=(255, 140, 0),
    )
    draw.text((int(width * 0.42), int(height * 0.915)), "Comprar", font=title, fill=(255, 255, 255))
    return np.asarray(canvas)


def ui_mask(width: int = 1080, height: int = 1350) -> np.ndarray:
    """The UI area to keep (white): the header and the first three cards."""
    mask = np.zeros((height, width), np.uint8)
    mask[: int(height * 0.68), :] = 255
    return mask


def ui_render(base: np.ndarray, drift: float = 0.0, seed: int = 0) -> np.ndarray:
    """What an img2img model returns: the base, moved by `drift` (0 = stays put), with an ad
    panel painted over the bottom (outside the mask) and a little sampler grain."""
    h, w = base.shape[:2]
    rng = _rng("drift", seed)
    out = base
    if drift > 0:
        angle = drift * 8.0 * (1 if rng.random() < 0.5 else -1)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0 + drift * 0.2)
        matrix[0, 2] += drift * 0.15 * w
        matrix[1, 2] += drift * 0.08 * h
        out = cv2.warpAffine(base, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
    canvas = Image.fromarray(np.ascontiguousarray(out))
    draw = ImageDraw.Draw(canvas)
    draw.rounded_rectangle(
        (int(w * 0.03), int(h * 0.72), int(w * 0.97), int(h * 0.98)), radius=20, fill=(20, 110, 70)
    )
    face = _font("DejaVuSans-Bold.ttf", int(w * 0.06))
    draw.text((int(w * 0.08), int(h * 0.76)), "Tu yerba en 2 toques", font=face, fill="white")
    grain = rng.standard_normal((h, w, 3), dtype=np.float32) * 1.5
    return np.clip(np.asarray(canvas).astype(np.float32) + grain, 0, 255).astype(np.uint8)


def save_png(img: np.ndarray, path: Path) -> Path:
    """PNG (or whatever format `path`'s suffix names, as OpenCV writes it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    # Light compression: these files are written and read once, speed matters more than size.
    cv2.imwrite(str(path), bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return path


def teaser_frames(
    copy: AdCopy, frames: int = 24, size: tuple[int, int] = (360, 640), flicker: float = 0.0
) -> np.ndarray:
    """A slow push-in over a ground-truth ad, (frames, h, w, 3) uint8; `flicker` adds that many
    grey levels of brightness, alternating sign every frame, as unstable video models do."""
    w, h = size
    still = build_ad(copy, AdStyle(width=w, height=h, seed=7))
    out = np.empty((frames, h, w, 3), np.uint8)
    for i in range(frames):
        scale = 1.0 + 0.08 * i / max(1, frames - 1)
        matrix = np.array(
            [[scale, 0.0, (1 - scale) * w / 2], [0.0, scale, (1 - scale) * h / 2]], np.float32
        )
        frame = cv2.warpAffine(still, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
        if flicker:
            shift = flicker if i % 2 else -flicker
            frame = np.clip(frame.astype(np.int16) + int(shift), 0, 255).astype(np.uint8)
        out[i] = frame
    return out


def write_mp4(frames: np.ndarray, dest: Path, fps: float = 12.0) -> Path:
    """H.264 yuv420p through an `ffmpeg` subprocess reading raw RGB on stdin."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise FileNotFoundError("ffmpeg is not on PATH")
    n, h, w = frames.shape[0], frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    data = np.ascontiguousarray(frames[:n, :h, :w])
    dest.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo"]
    cmd += ["-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-", "-an"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p"]
    cmd.append(str(dest))
    result = subprocess.run(cmd, input=data.tobytes(), capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {result.stderr.decode(errors='replace')[-400:]}")
    return dest
