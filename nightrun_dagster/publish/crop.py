"""Content-aware crop to an exact pixel size that never cuts text: crop when it fits, else pad."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
import pytesseract
from PIL import Image, ImageFilter, ImageOps

OCR_LANG = "spa+eng"
_MIN_CONF = 55.0
# Breathing room around kept boxes so glyph edges and badge borders are not shaved off.
_TEXT_MARGIN = 0.015
_SALIENT_MARGIN = 0.01
_WORD = re.compile(r"[0-9A-Za-zÀ-ÿ]")


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in source pixels; `kind` is `text` or `salient`."""

    x0: int
    y0: int
    x1: int
    y1: int
    kind: str = "text"
    label: str = ""

    def scaled(self, sx: float, sy: float) -> Box:
        return Box(
            round(self.x0 * sx),
            round(self.y0 * sy),
            round(self.x1 * sx),
            round(self.y1 * sy),
            self.kind,
            self.label,
        )


@dataclass(frozen=True)
class CropDecision:
    """How a source became a WxH output: the source window, its scale, and any padding."""

    source_size: tuple[int, int]
    target_size: tuple[int, int]
    window: tuple[int, int, int, int]
    scale: float
    padded: bool
    placed_at: tuple[int, int]
    placed_size: tuple[int, int]
    keep: tuple[int, int, int, int] | None
    kept_boxes: list[Box] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kept_boxes"] = [asdict(b) for b in self.kept_boxes]
        return data


def _ocr_boxes(gray: Image.Image, lang: str) -> list[Box]:
    data = pytesseract.image_to_data(gray, lang=lang, output_type=pytesseract.Output.DICT)
    boxes: list[Box] = []
    for i, text in enumerate(data["text"]):
        text = text.strip()
        conf = float(data["conf"][i])
        # Single letters and low-confidence hits are mostly texture, not copy.
        short = len(_WORD.findall(text)) < 2 and not any(c.isdigit() for c in text)
        if conf < _MIN_CONF or short:
            continue
        x, y, w, h = data["left"][i], data["top"][i], data["width"][i], data["height"][i]
        if w <= 0 or h <= 0:
            continue
        boxes.append(Box(x, y, x + w, y + h, "text", text))
    return boxes


def text_boxes(image: Image.Image, lang: str = OCR_LANG) -> list[Box]:
    """Words OCR can read, on the image and on 255−min(R,G,B) (white text on coloured badges)."""
    rgb = np.asarray(image.convert("RGB"))
    plain = Image.fromarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    # White text on a saturated badge has low contrast in luma but min(R,G,B) separates them.
    inverted = Image.fromarray((255 - rgb.min(axis=2)).astype(np.uint8))
    boxes = _ocr_boxes(plain, lang) + _ocr_boxes(inverted, lang)
    return _dedupe(boxes)


def _dedupe(boxes: list[Box]) -> list[Box]:
    kept: list[Box] = []
    for b in boxes:
        if not any(_iou(b, k) > 0.5 for k in kept):
            kept.append(b)
    return kept


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter
    return inter / union if union else 0.0


def salient_box(image: Image.Image, ignore: list[Box] | None = None) -> Box | None:
    """The product: spectral-residual saliency (Hou & Zhang 2007) blended with edge density.

    Works on a 128-px thumbnail so it costs milliseconds; the bounding box of the strongest
    blobs (those holding most of the saliency mass) is returned in source pixels.
    """
    w, h = image.size
    small_w = 128
    small_h = max(1, round(h * small_w / w))
    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    thumb = cv2.resize(gray, (small_w, small_h), interpolation=cv2.INTER_AREA).astype(np.float32)
    if float(thumb.std()) < 2.0:
        return None  # a flat image has no product to protect
    spectrum = np.fft.fft2(thumb)
    log_amp = np.log1p(np.abs(spectrum))
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (9, 9), 2.5)
    grad = cv2.magnitude(cv2.Sobel(thumb, cv2.CV_32F, 1, 0), cv2.Sobel(thumb, cv2.CV_32F, 0, 1))
    grad = cv2.GaussianBlur(grad, (9, 9), 2.5)
    combined = sal / (sal.max() or 1.0) + grad / (grad.max() or 1.0)
    # Text is kept on its own; its sharp edges would otherwise stretch the product box.
    for b in ignore or []:
        bx0, by0 = int(b.x0 * small_w / w), int(b.y0 * small_h / h)
        bx1, by1 = int(np.ceil(b.x1 * small_w / w)), int(np.ceil(b.y1 * small_h / h))
        combined[by0:by1, bx0:bx1] = 0
    if combined.max() <= 0:
        return None
    mask = (combined >= 0.5 * combined.max()).astype(np.uint8)
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    # Keep blobs that matter: at least a tenth of the biggest one, so specks do not widen it.
    keep = [i + 1 for i, a in enumerate(areas) if a >= 0.1 * areas.max()]
    xs0 = min(stats[i, cv2.CC_STAT_LEFT] for i in keep)
    ys0 = min(stats[i, cv2.CC_STAT_TOP] for i in keep)
    xs1 = max(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] for i in keep)
    ys1 = max(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] for i in keep)
    sx, sy = w / small_w, h / small_h
    return Box(
        int(xs0 * sx), int(ys0 * sy), int(np.ceil(xs1 * sx)), int(np.ceil(ys1 * sy)), "salient"
    )


def keep_boxes(image: Image.Image, lang: str = OCR_LANG) -> list[Box]:
    """Everything a crop must keep: readable text plus the salient product region."""
    boxes = text_boxes(image, lang)
    product = salient_box(image, ignore=boxes)
    if product is not None:
        boxes.append(product)
    return boxes


def _padded(box: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    w, h = size
    m = _TEXT_MARGIN if box.kind == "text" else _SALIENT_MARGIN
    mx, my = round(m * w), round(m * h)
    return (max(0, box.x0 - mx), max(0, box.y0 - my), min(w, box.x1 + mx), min(h, box.y1 + my))


def _place(lo: int, hi: int, length: int, extent: int) -> int:
    """Start of a `length` window in [0, extent] containing [lo, hi], nearest the centre."""
    centred = (extent - length) // 2
    start = min(max(centred, hi - length), lo)
    return max(0, min(start, extent - length))


def plan_crop(
    source_size: tuple[int, int], target_size: tuple[int, int], boxes: list[Box]
) -> CropDecision:
    """Pick the window of the target aspect that keeps every box, or fit-and-pad if none does.

    The window is the largest of the target aspect (so the upscale is the least possible);
    it slides along the long axis to contain the boxes, staying as central as it can.
    """
    sw, sh = source_size
    tw, th = target_size
    aspect = tw / th
    if sw / sh > aspect:
        ww, wh = round(sh * aspect), sh
    else:
        ww, wh = sw, round(sw / aspect)
    ww, wh = min(ww, sw), min(wh, sh)
    rects = [_padded(b, source_size) for b in boxes]
    keep: tuple[int, int, int, int] | None = None
    if rects:
        keep = (
            min(r[0] for r in rects),
            min(r[1] for r in rects),
            max(r[2] for r in rects),
            max(r[3] for r in rects),
        )
    kx0, ky0, kx1, ky1 = keep if keep else (sw // 2, sh // 2, sw // 2, sh // 2)
    if kx1 - kx0 <= ww and ky1 - ky0 <= wh:
        x0 = _place(kx0, kx1, ww, sw)
        y0 = _place(ky0, ky1, wh, sh)
        return CropDecision(
            source_size=(sw, sh),
            target_size=(tw, th),
            window=(x0, y0, x0 + ww, y0 + wh),
            scale=tw / ww,
            padded=False,
            placed_at=(0, 0),
            placed_size=(tw, th),
            keep=keep,
            kept_boxes=list(boxes),
        )
    # No window of this aspect holds everything: keep the whole source along the too-long
    # axis (trimming just outside the kept boxes cut badges and shapes around the text for a
    # few pixels of scale), then scale to fit and pad. The other axis grows towards the target
    # aspect, so the fitted image is as large as it can be.
    if kx1 - kx0 > ww:
        x0, x1 = 0, sw
        y0, y1 = _grow(ky0, ky1, sh, (x1 - x0) / aspect)
    else:
        y0, y1 = 0, sh
        x0, x1 = _grow(kx0, kx1, sw, (y1 - y0) * aspect)
    win_w, win_h = x1 - x0, y1 - y0
    scale = min(tw / win_w, th / win_h)
    pw, ph = min(tw, round(win_w * scale)), min(th, round(win_h * scale))
    return CropDecision(
        source_size=(sw, sh),
        target_size=(tw, th),
        window=(x0, y0, x1, y1),
        scale=scale,
        padded=(pw, ph) != (tw, th),
        placed_at=((tw - pw) // 2, (th - ph) // 2),
        placed_size=(pw, ph),
        keep=keep,
        kept_boxes=list(boxes),
    )


def _grow(lo: int, hi: int, extent: int, wanted: float) -> tuple[int, int]:
    """Widen [lo, hi] towards `wanted` length around its centre, within [0, extent]."""
    length = min(extent, max(hi - lo, int(wanted)))
    start = _place(lo, hi, length, extent)
    return start, start + length


def render_crop(image: Image.Image, decision: CropDecision) -> Image.Image:
    """Apply a decision to a still: exactly target_size, RGB."""
    tw, th = decision.target_size
    src = image.convert("RGB")
    fg = src.crop(decision.window).resize(decision.placed_size, Image.Resampling.LANCZOS)
    if not decision.padded:
        return fg
    # Background: the image itself, cover-scaled and heavily blurred, so the pad carries the
    # ad's colours instead of flat bars; text in it is blurred past legibility.
    bg = ImageOps.fit(src, (tw, th), Image.Resampling.BILINEAR)
    bg = bg.filter(ImageFilter.GaussianBlur(radius=max(tw, th) / 30))
    bg = Image.blend(bg, Image.new("RGB", (tw, th), (0, 0, 0)), 0.15)
    bg.paste(fg, decision.placed_at)
    return bg


def crop_image(
    image: Image.Image, target_size: tuple[int, int], boxes: list[Box] | None = None
) -> tuple[Image.Image, CropDecision]:
    """Content-aware crop of a still to target_size; boxes are detected when not given."""
    if boxes is None:
        boxes = keep_boxes(image)
    decision = plan_crop(image.size, target_size, boxes)
    return render_crop(image, decision), decision
