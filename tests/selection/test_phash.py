"""pHash near-duplicates: a re-encoded ad is a duplicate; another ad on the same layout is not."""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from nightrun_dagster.selection.phash import (
    DUPLICATE_DISTANCE,
    duplicate_groups,
    hamming_matrix,
    phash,
)

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def ad(path: Path, headline: str, bg: tuple[int, int, int], product: tuple[int, int, int]) -> Path:
    im = Image.new("RGB", (540, 675), bg)
    d = ImageDraw.Draw(im)
    font = ImageFont.truetype(FONT, 44)
    d.text((40, 40), headline, font=font, fill="white")
    d.rectangle((150, 220, 390, 560), fill=product)
    d.ellipse((360, 420, 520, 580), fill=(255, 140, 0))
    im.save(path)
    return path


def test_duplicates_and_different_ads(tmp_path: Path) -> None:
    a = ad(tmp_path / "a.png", "Café 2x1", (20, 110, 70), (10, 60, 40))
    b = ad(tmp_path / "b.png", "Ñandú hoy", (160, 30, 60), (240, 240, 240))
    with Image.open(a) as im:
        im.save(tmp_path / "a.jpg", quality=70)
        im.resize((270, 337)).save(tmp_path / "a_small.png")
    hashes = [phash(p) for p in (a, tmp_path / "a.jpg", tmp_path / "a_small.png", b)]
    dist = hamming_matrix(hashes)
    assert dist[0][1] <= DUPLICATE_DISTANCE and dist[0][2] <= DUPLICATE_DISTANCE
    assert dist[0][3] > DUPLICATE_DISTANCE
    assert duplicate_groups(hashes) == [0, 0, 0, 1]


def test_hamming_matrix_counts_bits() -> None:
    m = hamming_matrix([0, 0b1011, 2**64 - 1])
    assert m.tolist() == [[0, 3, 64], [3, 0, 61], [64, 61, 0]]
    assert duplicate_groups([]) == []
