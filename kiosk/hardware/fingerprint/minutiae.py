"""Minutiae templates: feature extraction and matching for the simulated and emulated sensors.

A real ZhianTec module extracts a template from its image (``GenChar``/``Img2Tz``) and
compares two (``Match``) with its own, undisclosed algorithm. The emulator and the
simulated scanner need the same abilities, and they must be *honest*: two impressions of
one finger (placed differently, pressed harder, with other noise) must match, and two
different fingers must not, judged from the pixels alone. So this module does what a
textbook minutiae matcher does, in numpy only (no OpenCV: the simulated kiosk must run
anywhere):

1. **Segmentation**: 8 x 8 blocks with local contrast are finger; the mask is eroded so the
   edge of the contact area (where every ridge "ends") yields no minutiae.
2. **Orientation field** from the smoothed gradient structure tensor (ridge angle mod pi).
3. **Binarization** against the local mean (dark ridges), after a light blur.
4. **Thinning** (Zhang-Suen) to one-pixel ridge skeletons.
5. **Minutiae** by the crossing number: 1 = ridge ending, 3 = bifurcation. Points closer
   than a ridge period to another are dropped in pairs (spurs, bridges, broken ridges).
6. **Matching**: every pair of minutiae proposes a rotation (from their angles) and a
   translation; votes in a coarse (rotation, x, y) grid find the alignment most pairs agree
   on; under the best few alignments minutiae are paired one to one within a distance and
   angle tolerance. The score grows with the square of the paired count over the product of
   both counts (0-1000), so it does not reward templates merely for holding many points.

The template (what ``UpChar`` sends and ``DownChar`` receives) is 512 bytes, the size of a
ZFM character file: ``b"KM"``, version, count, then 5 bytes per minutia (x and y as
big-endian 16-bit, the top bit of x marking a bifurcation, and the angle in 1/256 of pi),
zero padded. It says nothing a matcher does not need, and like every template it is
biometric data: never logged, never stored on the kiosk.

About 35 ms to extract (60 ms at most) and 2-3 ms to match on the development machine; see
:data:`MATCH_THRESHOLD` for the scores measured on synthetic prints.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from kiosk.hardware.fingerprint.zfm_protocol import TEMPLATE_BYTES

__all__ = [
    "LEVEL_THRESHOLDS",
    "MATCH_THRESHOLD",
    "MIN_MINUTIAE",
    "TEMPLATE_BYTES",
    "Minutia",
    "decode_template",
    "encode_template",
    "extract",
    "extract_template",
    "match_score",
]

_MAGIC = b"KM"
_VERSION = 1
_HEADER = 4
_ENTRY = 5
MAX_MINUTIAE = (TEMPLATE_BYTES - _HEADER) // _ENTRY  # 101
#: Fewer minutiae than this and Img2Tz answers "too few feature points" (FEATURE_FAIL, 0x07):
#: the emulated module's rule, and the simulated scanner's.
MIN_MINUTIAE = 8
#: Scores at or above this are "the same finger" (the emulator's security level 3). Measured
#: on synthetic prints (4 people x 10 fingers x 3 impressions, 4-bit like the ZFM): two
#: impressions of one finger scored 313 or more (median 756), different fingers 213 at most
#: (median 32) in 7,020 pairs.
MATCH_THRESHOLD = 260
#: ZFM security levels 1-5 (ReadSysPara): 1 accepts most, 5 refuses most.
LEVEL_THRESHOLDS = {1: 160, 2: 210, 3: MATCH_THRESHOLD, 4: 300, 5: 340}

_BLOCK = 8             # px: segmentation blocks (a little under one ridge period at 500 ppi)
_BLOCK_STD = 9.0       # gray levels of local contrast that mark finger area
_BORDER = 2            # blocks eroded from the finger mask: no minutiae at the contact edge
_MIN_GAP = 8.0         # px: minutiae closer than this (about a ridge period) are artefacts
_PAIR_DISTANCE = 12.0  # px: a paired minutia may lie this far from its aligned partner
_PAIR_ANGLE = np.radians(20)
_MAX_ROTATION = np.radians(35)  # a finger placed more askew than this is not expected


@dataclass(frozen=True)
class Minutia:
    """One ridge ending or bifurcation: position (px), ridge angle (rad, 0 <= a < pi)."""

    x: int
    y: int
    angle: float
    bifurcation: bool


# -- image operations -------------------------------------------------------------------------
def _box(a: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, edges replicated: OpenCV's box filter (a running sum,
    O(1) per pixel; 40x faster than the same sums in numpy, which made the demo's ten
    fingers a citizen the slowest step)."""
    import cv2  # a core dependency (the portrait check); imported where first needed

    k = 2 * radius + 1
    return cv2.blur(np.asarray(a, dtype=np.float32), (k, k), borderType=cv2.BORDER_REPLICATE)


def _finger_mask(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(finger area, the same eroded): ridges are traced over the first, minutiae kept only
    inside the second, since every ridge "ends" where the traced area does."""
    h, w = img.shape
    rows, cols = h // _BLOCK, w // _BLOCK
    tiles = img[: rows * _BLOCK, : cols * _BLOCK].reshape(rows, _BLOCK, cols, _BLOCK)
    blocks = tiles.std(axis=(1, 3)) >= _BLOCK_STD
    # Fill pinholes (a valley-only block inside the finger), then erode the edge.
    padded = np.pad(blocks, 1)
    neighbours = sum(np.roll(np.roll(padded, dy, 0), dx, 1)
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1))[1:-1, 1:-1]
    blocks = blocks | (neighbours >= 6)
    area = blocks
    for _ in range(_BORDER):
        padded = np.pad(blocks, 1)
        blocks = (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1]
                  & padded[1:-1, :-2] & padded[1:-1, 2:])
    masks = []
    for chosen in (area, blocks):
        mask = np.zeros((h, w), dtype=bool)
        mask[: rows * _BLOCK, : cols * _BLOCK] = np.repeat(np.repeat(chosen, _BLOCK, 0),
                                                           _BLOCK, 1)
        masks.append(mask)
    return masks[0], masks[1]


def _orientation(img: np.ndarray) -> np.ndarray:
    """Ridge angle (mod pi) per pixel from the smoothed structure tensor."""
    gy, gx = np.gradient(img)
    gxx, gyy, gxy = (_box(v, 8) for v in (gx * gx, gy * gy, gx * gy))
    # The gradient's dominant direction is across the ridges; the ridge runs at +90 degrees.
    return np.mod(0.5 * np.arctan2(2 * gxy, gxx - gyy) + np.pi / 2, np.pi)


def _thin(binary: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning, vectorised: each pass removes deletable border pixels."""
    img = np.pad(binary.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = img
            p2, p3, p4 = p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:]
            p5, p6, p7 = p[2:, 2:], p[2:, 1:-1], p[2:, :-2]
            p8, p9 = p[1:-1, :-2], p[:-2, :-2]
            ring = (p2, p3, p4, p5, p6, p7, p8, p9, p2)
            neighbours = p2 + p3 + p4 + p5 + p6 + p7 + p8 + p9
            transitions = sum(((a == 0) & (b == 1)).astype(np.uint8)
                              for a, b in pairwise(ring))
            if step == 0:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            delete = ((p[1:-1, 1:-1] == 1) & (neighbours >= 2) & (neighbours <= 6)
                      & (transitions == 1) & side)
            if delete.any():
                img[1:-1, 1:-1][delete] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def extract(pixels: bytes, width: int, height: int) -> list[Minutia]:
    """The minutiae of an 8-bit gray image (dark ridges), strongest area first."""
    img = np.frombuffer(pixels, dtype=np.uint8).reshape(height, width).astype(np.float32)
    area, mask = _finger_mask(img)
    if not mask.any():
        return []
    smooth = _box(_box(img, 1), 1)
    ridges = (smooth < _box(smooth, 7)) & area
    skeleton = _thin(ridges)
    sk = np.pad(skeleton.astype(np.uint8), 1)
    ring = (sk[:-2, 1:-1], sk[:-2, 2:], sk[1:-1, 2:], sk[2:, 2:], sk[2:, 1:-1], sk[2:, :-2],
            sk[1:-1, :-2], sk[:-2, :-2])
    crossings = sum(np.abs(ring[i].astype(np.int8) - ring[(i + 1) % 8].astype(np.int8))
                    for i in range(8)) // 2
    ys, xs = np.nonzero(skeleton & ((crossings == 1) | (crossings == 3)) & mask)
    if xs.size == 0:
        return []
    # Drop every point that has another too close: both ends of a gap, both forks of a spur.
    d2 = (xs[:, None] - xs[None, :]) ** 2 + (ys[:, None] - ys[None, :]) ** 2
    np.fill_diagonal(d2, 1 << 30)
    keep = d2.min(axis=1) >= _MIN_GAP**2
    xs, ys = xs[keep], ys[keep]
    angles = _orientation(img)[ys, xs]
    kinds = crossings[ys, xs] == 3
    if xs.size > MAX_MINUTIAE:  # keep those nearest the centre of the finger area
        cy, cx = (float(v.mean()) for v in np.nonzero(mask))
        order = np.argsort((xs - cx) ** 2 + (ys - cy) ** 2)[:MAX_MINUTIAE]
        xs, ys, angles, kinds = xs[order], ys[order], angles[order], kinds[order]
    return [Minutia(int(x), int(y), float(a), bool(k))
            for x, y, a, k in zip(xs, ys, angles, kinds, strict=True)]


# -- templates --------------------------------------------------------------------------------
def encode_template(minutiae: list[Minutia]) -> bytes:
    """512 bytes: magic, version, count, then (x | bifurcation << 15, y, angle) each."""
    chosen = minutiae[:MAX_MINUTIAE]
    out = bytearray(_MAGIC + bytes([_VERSION, len(chosen)]))
    for m in chosen:
        angle = round(m.angle / np.pi * 256) % 256
        out += struct.pack(">HHB", (m.x & 0x7FFF) | (0x8000 if m.bifurcation else 0),
                           m.y & 0xFFFF, angle)
    return bytes(out.ljust(TEMPLATE_BYTES, b"\0"))


def decode_template(data: bytes) -> list[Minutia]:
    """The minutiae of a template from :func:`encode_template`; ValueError if it is not one."""
    if len(data) != TEMPLATE_BYTES or data[:2] != _MAGIC or data[2] != _VERSION:
        raise ValueError("not a minutiae template")
    count = data[3]
    if count > MAX_MINUTIAE:
        raise ValueError(f"template claims {count} minutiae (at most {MAX_MINUTIAE})")
    out = []
    for i in range(count):
        xb, y, a = struct.unpack_from(">HHB", data, _HEADER + i * _ENTRY)
        out.append(Minutia(xb & 0x7FFF, y, a * np.pi / 256, bool(xb & 0x8000)))
    return out


def extract_template(pixels: bytes, width: int, height: int) -> bytes:
    """:func:`extract` then :func:`encode_template`."""
    return encode_template(extract(pixels, width, height))


# -- matching ---------------------------------------------------------------------------------
def _arrays(minutiae: list[Minutia]) -> tuple[np.ndarray, np.ndarray]:
    xy = np.array([(m.x, m.y) for m in minutiae], dtype=np.float64).reshape(-1, 2)
    return xy, np.array([m.angle for m in minutiae], dtype=np.float64)


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles mod pi into [-pi/2, pi/2): ridge angles have no direction."""
    return np.mod(angle + np.pi / 2, np.pi) - np.pi / 2


def _paired(a_xy: np.ndarray, a_t: np.ndarray, b_xy: np.ndarray, b_t: np.ndarray,
            rot: float, shift: np.ndarray) -> int:
    """How many minutiae pair one to one under the alignment (greedy, nearest first)."""
    c, s = np.cos(rot), np.sin(rot)
    moved = a_xy @ np.array([[c, s], [-s, c]]) + shift
    dist = np.hypot(moved[:, None, 0] - b_xy[None, :, 0], moved[:, None, 1] - b_xy[None, :, 1])
    turn = np.abs(_wrap(b_t[None, :] - (a_t[:, None] + rot)))
    dist[(dist > _PAIR_DISTANCE) | (turn > _PAIR_ANGLE)] = np.inf
    count = 0
    used_a: set[int] = set()
    used_b: set[int] = set()
    for flat in np.argsort(dist, axis=None):
        i, j = divmod(int(flat), dist.shape[1])
        if not np.isfinite(dist[i, j]):
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        count += 1
    return count


def _top_cells(votes: np.ndarray, n: int) -> list[int]:
    """The flat indices of the ``n`` largest ``votes``, largest first, ties by the higher
    index (as a reversed stable argsort orders them) without sorting the whole grid."""
    if votes.size <= n:
        return [int(i) for i in np.argsort(votes, kind="stable")[::-1]]
    floor = np.partition(votes, votes.size - n)[votes.size - n]
    candidates = np.nonzero(votes >= floor)[0]
    ordered = sorted(candidates.tolist(), key=lambda i: (int(votes[i]), i), reverse=True)
    return ordered[:n]


def match_score(a: bytes, b: bytes) -> int:
    """0-1000: how surely templates ``a`` and ``b`` come from the same finger."""
    a_xy, a_t = _arrays(decode_template(a))
    b_xy, b_t = _arrays(decode_template(b))
    if len(a_t) < 3 or len(b_t) < 3:
        return 0
    rot = _wrap(b_t[None, :] - a_t[:, None])  # every pair's rotation hypothesis
    ok = np.abs(rot) <= _MAX_ROTATION
    ia, ib = np.nonzero(ok)
    r = rot[ia, ib]
    c, s = np.cos(r), np.sin(r)
    ax, ay = a_xy[ia, 0], a_xy[ia, 1]
    tx = b_xy[ib, 0] - (c * ax - s * ay)
    ty = b_xy[ib, 1] - (s * ax + c * ay)
    # Votes in a coarse grid (7 degrees by 10 px by 10 px); a cell's tally includes its
    # neighbours above in each axis (a 2x2x2 window), so an alignment that falls on a cell
    # border is not split in two.
    q = np.stack([np.floor(r / np.radians(7)), np.floor(tx / 10.0), np.floor(ty / 10.0)],
                 axis=1).astype(np.int64)
    q -= q.min(axis=0)
    shape = tuple(int(v) + 2 for v in q.max(axis=0))
    grid = np.zeros(shape, dtype=np.int32)
    np.add.at(grid, (q[:, 0], q[:, 1], q[:, 2]), 1)
    window = sum(np.roll(grid, (-i, -j, -k), axis=(0, 1, 2))
                 for i in (0, 1) for j in (0, 1) for k in (0, 1))
    best = 0
    for flat in _top_cells(window.ravel(), 4):
        corner = np.array(np.unravel_index(int(flat), shape))
        inside = np.all((q >= corner) & (q <= corner + 1), axis=1)
        if not inside.any():
            continue
        idx = np.nonzero(inside)[0]
        rotation = float(np.median(r[idx]))
        shift = np.array([np.median(tx[idx]), np.median(ty[idx])])
        best = max(best, _paired(a_xy, a_t, b_xy, b_t, rotation, shift))
    return min(1000, round(1000 * best * best / (len(a_t) * len(b_t))))
