"""Perceptual hashes of renders, and which ones are near-duplicates of each other."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

# pHash with a Hamming distance of 6 or less: the same ad twice (a re-encode, a seed that
# barely changed anything). dHash cannot tell apart two different ads made from one layout.
DUPLICATE_DISTANCE = 6


def phash(path: Path) -> int:
    """The 64-bit DCT perceptual hash of an image (or a video's poster)."""
    with Image.open(path) as im:
        return int(str(imagehash.phash(im.convert("RGB"))), 16)


def hamming_matrix(hashes: Sequence[int]) -> np.ndarray:
    """Pairwise Hamming distances between 64-bit hashes."""
    bits = np.array([[(h >> i) & 1 for i in range(64)] for h in hashes], dtype=np.uint8)
    if not len(bits):
        return np.zeros((0, 0), dtype=np.int64)
    ones = bits.astype(np.int64)
    # |a xor b| = |a| + |b| - 2 |a and b|
    counts = ones.sum(axis=1)
    return counts[:, None] + counts[None, :] - 2 * (ones @ ones.T)


def duplicate_groups(hashes: Sequence[int], distance: int = DUPLICATE_DISTANCE) -> list[int]:
    """A group number per hash: hashes within `distance` of each other (transitively) share one."""
    n = len(hashes)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    close = np.argwhere(np.triu(hamming_matrix(hashes) <= distance, k=1))
    for a, b in close:
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = [find(i) for i in range(n)]
    numbering = {root: k for k, root in enumerate(dict.fromkeys(roots))}
    return [numbering[r] for r in roots]
