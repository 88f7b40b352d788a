"""A synthetic head-and-shoulders scene for the simulated camera.

Drawn with Pillow in a 480 x 640 "portrait unit" space and scaled to the requested size,
so the still (portrait) and the preview (landscape, person centred) show the same person.
The background is the e-KTP convention: plain red or plain blue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from kiosk.core.ektp import BLUE, RED

_SKIN = ((241, 194, 150), (224, 172, 128), (198, 141, 98), (166, 112, 74), (120, 80, 54))
_HAIR = ((20, 16, 14), (40, 28, 20), (62, 44, 30), (90, 90, 90))
_CLOTHES = ((24, 28, 40), (235, 235, 230), (40, 70, 120), (90, 30, 40), (30, 60, 40))
# Brows and lashes: dark as most hair, but lighter than the pupils (the darkest thing in
# a face: the check finds them as the darkest round blobs).
_BROW = (44, 34, 28)
_HIJAB = ((30, 30, 36), (210, 200, 190), (120, 40, 60), (40, 80, 110), (150, 120, 80))


@dataclass(frozen=True)
class Person:
    """What stays the same between photos of one simulated person."""

    background: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    clothes: tuple[int, int, int]
    hijab: tuple[int, int, int] | None
    face_width: float  # portrait units (of 480 across)
    face_height: float


def person(seed: int, subject: int = 0) -> Person:
    """The simulated person ``subject`` of camera ``seed``; red background when odd."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, subject & 0xFFFFFFFF, 0xCA])

    def pick(table: tuple[tuple[int, int, int], ...]) -> tuple[int, int, int]:
        return table[int(rng.integers(len(table)))]

    # e-KTP rule: red background for odd birth years, blue for even; the seed stands in.
    background = RED if (seed + subject) % 2 else BLUE
    hijab = pick(_HIJAB) if rng.uniform() < 0.35 else None
    # Head sizes put the face detector's box at 0.34-0.45 of the picture's height, inside
    # the portrait check's 0.27-0.48 with room for its box's steps of a tenth in size.
    return Person(background, pick(_SKIN), pick(_HAIR), pick(_CLOTHES), hijab,
                  float(rng.uniform(168, 190)), float(rng.uniform(224, 250)))


def _shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    r, g, b = (min(255, max(0, round(c * factor))) for c in color)
    return (r, g, b)


@lru_cache(maxsize=8)
def _falloff(width: int, height: int) -> np.ndarray:
    """The studio light over the background, HxW float32; one per size, as it never changes.

    The background is brightest behind the head and falls off to the edges.
    """
    xs = np.arange(width, dtype=np.float32)[None, :]
    ys = np.arange(height, dtype=np.float32)[:, None]
    falloff = 1.0 - 0.18 * (((xs - width / 2) / width) ** 2 + ((ys - height / 3) / height) ** 2)
    falloff.setflags(write=False)  # shared by every caller: nobody may change it
    return falloff


@dataclass(frozen=True)
class Pose:
    """How the person sits in front of the camera, for photos that should fail (or pass).

    Angles in degrees (``roll`` clockwise as seen in the picture, ``yaw`` to the picture's
    right, ``pitch`` chin up); ``scale`` is the distance (2.0: twice as near);
    ``backlight`` above 1 washes the backdrop out towards white (a window behind them);
    ``side_light`` darkens one side of the face (``-1`` to ``1``).
    """

    roll: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0
    scale: float = 1.0
    eyes_closed: bool = False
    glasses: bool = False
    side_light: float = 0.0
    backlight: float = 1.0


FRONTAL = Pose()

# Depth of each feature in front of the head's axis of rotation, as a share of the face's
# half width (a head is about as deep as it is wide; the nose tip stands furthest out).
# Turning the head by an angle moves a feature across by depth * sin(angle), while the
# outline of the head stays in place: the cue the portrait check reads yaw and pitch from.
_DEPTH_EYES, _DEPTH_NOSE, _DEPTH_MOUTH = 0.8, 1.15, 0.85


def backdrop(p: Person, width: int, height: int, light: float = 1.0) -> Image.Image:
    """The plain backdrop alone (nobody in front of the camera)."""
    lit = np.asarray(p.background, dtype=np.float32) * min(light, 1.0)
    if light > 1.0:  # a window or a lamp behind: the backdrop washes out towards white
        lit += (255.0 - lit) * min(1.0, light - 1.0)
    lit = np.clip(lit, 0, 255)
    falloff = _falloff(width, height)
    return Image.merge("RGB", [Image.fromarray((falloff * c).astype(np.uint8), "L")
                               for c in lit])


def draw_beside(image: Image.Image, p: Person, *, dx: float, light: float = 1.0,
                pose: Pose = FRONTAL) -> Image.Image:
    """Draw a second person ``p`` into ``image`` (in place), ``dx`` units across."""
    _draw_person(ImageDraw.Draw(image), p, image.width, image.height, dx, 0.0, light, pose)
    return image


def draw(p: Person, width: int, height: int, *, dx: float = 0.0, dy: float = 0.0,
         light: float = 1.0, pose: Pose = FRONTAL) -> Image.Image:
    """Render ``p`` into an RGB image of ``width`` x ``height`` (no noise, no blur)."""
    # One plane per channel, merged by Pillow: broadcasting HxWx1 by 3 colours in numpy was
    # a fifth of the cost of a still. Clipping the lit colour suffices: the falloff is within
    # (0.8, 1], so every product stays in 0-255.
    # A light behind the person lights the backdrop, not them.
    image = backdrop(p, width, height, pose.backlight if pose.backlight > 1 else light)
    if pose.roll or pose.side_light:
        # Drawn on a layer of its own, then turned about the face and lit from one side.
        layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        face_xy = _draw_person(ImageDraw.Draw(layer), p, width, height, dx, dy, light, pose)
        if pose.side_light:
            ramp = np.linspace(1 - max(0.0, pose.side_light), 1 + min(0.0, pose.side_light),
                               width, dtype=np.float32)
            rgba = np.asarray(layer).astype(np.float32)
            rgba[..., :3] *= ramp[None, :, None]
            layer = Image.fromarray(rgba.astype(np.uint8), "RGBA")
        if pose.roll:
            layer = layer.rotate(-pose.roll, resample=Image.Resampling.BILINEAR,
                                 center=face_xy)
        image.paste(layer, (0, 0), layer)
    else:
        _draw_person(ImageDraw.Draw(image), p, width, height, dx, dy, light, pose)
    return image


def _draw_person(d: ImageDraw.ImageDraw, p: Person, width: int, height: int, dx: float,
                 dy: float, light: float, pose: Pose) -> tuple[float, float]:
    """Draw the person; returns the face's centre in pixels (the centre of a roll)."""
    s = min(width / 480, height / 640) * pose.scale
    cx, fw, fh = 240.0, p.face_width, p.face_height
    top = 115.0
    # Nearer or further about the face's centre, which stays where the frontal one is.
    ox = width / 2 - cx * s + dx * s / pose.scale
    oy = height / 2 - (top + fh / 2) * s + (top + fh / 2 - 320) * s / pose.scale \
        + dy * s / pose.scale

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (ox + x0 * s, oy + y0 * s, ox + x1 * s, oy + y1 * s)

    # Where the features move to when the head turns (see the depths above).
    half = fw / 2
    yaw, pitch = math.sin(math.radians(pose.yaw)), math.sin(math.radians(pose.pitch))

    def feature(x: float, y: float, depth: float) -> tuple[float, float]:
        return x + depth * half * yaw, y - depth * half * pitch

    skin, shadow = _shade(p.skin, light), _shade(p.skin, light * 0.8)
    # Shoulders and clothes, with a collar.
    d.ellipse(box(20, 420, 460, 880), fill=_shade(p.clothes, light))
    d.polygon([(ox + (cx - 48) * s, oy + 422 * s), (ox + cx * s, oy + 500 * s),
               (ox + (cx + 48) * s, oy + 422 * s)], fill=shadow)
    # Neck.
    d.rectangle(box(cx - 48, top + fh - 40, cx + 48, 440), fill=shadow)
    if p.hijab:
        # A hijab frames the face and covers hair, ears and neck.
        h = _shade(p.hijab, light)
        d.ellipse(box(cx - fw / 2 - 30, top - 35, cx + fw / 2 + 30, top + fh + 40), fill=h)
        d.polygon([(ox + (cx - fw / 2 - 28) * s, oy + (top + fh * 0.6) * s),
                   (ox + (cx + fw / 2 + 28) * s, oy + (top + fh * 0.6) * s),
                   (ox + (cx + 150) * s, oy + 560 * s), (ox + (cx - 150) * s, oy + 560 * s)],
                  fill=h)
        # The fold round the face is in shade: a hijab near the skin's colour (a tan one
        # on tan skin) still leaves the face's outline, as it does on a camera.
        d.ellipse(box(cx - fw / 2 - 7, top - 7, cx + fw / 2 + 7, top + fh + 7),
                  fill=_shade(p.hijab, light * 0.55))
    else:
        d.ellipse(box(cx - fw / 2 - 10, top - 25, cx + fw / 2 + 10, top + fh * 0.55),
                  fill=_shade(p.hair, light))
        for side in (-1, 1):  # ears
            ex = cx + side * fw / 2
            d.ellipse(box(ex - 12, top + fh * 0.42, ex + 12, top + fh * 0.62), fill=shadow)
    d.ellipse(box(cx - fw / 2, top, cx + fw / 2, top + fh), fill=skin)
    if not p.hijab:  # fringe over the forehead
        d.chord(box(cx - fw / 2, top - 8, cx + fw / 2, top + fh * 0.45), 180, 360,
                fill=_shade(p.hair, light))
    eye_y = top + fh * 0.47
    # What a face detector keys on is light and shade, not outlines: the band of the eyes
    # (sockets, brows, dark irises) darker than the forehead and the cheeks, the bridge of
    # the nose lighter between them, the mouth a dark bar. The features are drawn with
    # that contrast (a real face's, seen by a camera), so the Haar cascade finds every
    # well-placed sim face; outlines alone left 1 in 10 unfound.
    brow = _shade(_BROW, light)
    for side in (-1, 1):
        ex, ey = feature(cx + side * fw * 0.2, eye_y, _DEPTH_EYES)
        # The socket: the shade under the brow ridge, round the eye.
        d.ellipse(box(ex - 24, ey - 15, ex + 24, ey + 11), fill=_shade(p.skin, light * 0.78))
        # The brow, well above the eye: a gap of skin keeps the pupil a blob of its own.
        d.line([(ox + (ex - 22) * s, oy + (ey - 23) * s),
                (ox + (ex + 22) * s, oy + (ey - 26) * s)],
               fill=brow, width=max(1, round(7 * s)))
        if pose.eyes_closed:  # the lid down, lashes a dark arc
            d.arc(box(ex - 14, ey - 8, ex + 14, ey + 4), 20, 160,
                  fill=brow, width=max(1, round(3 * s)))
        else:
            d.ellipse(box(ex - 14, ey - 6, ex + 14, ey + 6), fill=_shade((214, 210, 204), light))
            d.ellipse(box(ex - 7, ey - 7, ex + 7, ey + 7), fill=_shade((16, 12, 10), light))
        if pose.glasses:  # thin frames round each eye
            d.rounded_rectangle(box(ex - 26, ey - 17, ex + 26, ey + 15), radius=8 * s,
                                outline=(35, 35, 40), width=max(1, round(2.5 * s)))
    if pose.glasses:  # the bridge
        lx, ly = feature(cx - fw * 0.2 + 26, eye_y - 6, _DEPTH_EYES)
        rx, ry = feature(cx + fw * 0.2 - 26, eye_y - 6, _DEPTH_EYES)
        d.line([(ox + lx * s, oy + ly * s), (ox + rx * s, oy + ry * s)],
               fill=(35, 35, 40), width=max(1, round(2.5 * s)))
    nx, ny = feature(cx, top + fh * 0.66, _DEPTH_NOSE)
    bx, by = feature(cx, eye_y + 8, _DEPTH_EYES)
    d.line([(ox + bx * s, oy + by * s), (ox + (nx - 6) * s, oy + ny * s)],
           fill=shadow, width=max(1, round(3 * s)))
    d.ellipse(box(nx - 14, ny - 4, nx + 14, ny + 6), fill=shadow)
    for side in (-1, 1):  # the nostrils, centred on the tip's row (as the check reads it)
        d.ellipse(box(nx + side * 8 - 4, ny - 2, nx + side * 8 + 4, ny + 4),
                  fill=_shade(p.skin, light * 0.55))
    mx, my = feature(cx, top + fh * 0.8, _DEPTH_MOUTH)
    # Lips darker than any skin here: the mouth is a bar a detector sees on darker skin too.
    # The lips' middle row is my + 4 or so, as it was drawn before (the pitch's reference).
    d.chord(box(mx - 27, my - 10, mx + 27, my + 10), 0, 180,
            fill=_shade((140, 52, 56), light))
    d.line([(ox + (mx - 24) * s, oy + (my + 3) * s), (ox + (mx + 24) * s, oy + (my + 3) * s)],
           fill=_shade((80, 30, 32), light), width=max(1, round(3 * s)))
    return (ox + cx * s, oy + (top + fh / 2) * s)


def _soften(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """Blur HxWxC uint8 pixels by about ``sigma`` px, like a lens; returns a new uint8 array.

    A separable binomial kernel built from repeated two-pixel sums on integers: the discrete
    Gaussian (order ``n`` has variance ``n / 4``; within 3 levels of Pillow's GaussianBlur
    for 1.2 px) at a fifth of the cost (Pillow's blur was a third of the cost of a still).
    Edges are extended (replicated), as Pillow does. Both passes run on the flat array, so
    every sum is one contiguous add: a step of one row down, then of one pixel across.
    """
    # An even order keeps the kernel centred; 1.2 px -> order 6 (sigma 1.22), 0.8 -> 2 (0.71).
    # At most order 6, so that everything fits in 16 bits (see below).
    order = min(6, 2 * max(1, round(2 * sigma * sigma)))
    half = order // 2
    height, width, depth = rgb.shape
    rows = np.concatenate([rgb[:1]] * half + [rgb] + [rgb[-1:]] * half)
    down = _pair_sums(rows.reshape(-1), width * depth, order)  # up to 255 * 2**order
    del rows  # each pass's arrays go as soon as the next has its own
    # Keep two bits below the 8: up to 1020, so the second pass's 2**order (64) times that
    # still fits 16 bits, and the result is rounded only once, at the end.
    down >>= order - 2
    cols = np.pad(down.reshape(height, width, depth), [(0, 0), (half, half), (0, 0)],
                  mode="edge")
    del down
    across = _pair_sums(cols.reshape(-1), depth, order)
    del cols
    # Sums that ran across a row end are never read: pixel x of row y starts at index
    # (y * (width + order) + x) * depth, and its last term is still in its own row.
    item = across.itemsize
    view = np.lib.stride_tricks.as_strided(
        across, (height, width, depth), ((width + order) * depth * item, depth * item, item),
        writeable=False)
    rounded = np.add(view, 1 << (order + 1), dtype=np.uint16)
    rounded >>= order + 2
    return rounded.astype(np.uint8)


# Summed this many values at a time, in place: a whole new array for each of the passes'
# sums made two 2 MB arrays at a time (three with the pass before), most of a still's peak.
_SUM_RUN = 1 << 15


def _pair_sums(flat: np.ndarray, step: int, times: int) -> np.ndarray:
    """Apply ``a[i] + a[i + step]`` ``times`` times, in uint16 (``step`` shorter each time)."""
    flat = np.add(flat[:-step], flat[step:], dtype=np.uint16)
    for _ in range(times - 1):
        size = len(flat) - step
        # Front to back: a run reads values at most ``step`` ahead of what it writes,
        # which no run before it has changed (numpy copies a run that overlaps itself).
        for start in range(0, size, _SUM_RUN):
            end = min(start + _SUM_RUN, size)
            flat[start:end] += flat[start + step:end + step]
        flat = flat[:size]
    return flat


# More values than a 480 x 640 still has (921,600), so one still never repeats its noise.
_NOISE_RUN = 1 << 20
# Drawn this many at a time: the run in one go took three 8 MB float64 temporaries (25 MB
# at once, a peak of the touchscreen process); chunks give the same values (the generator's
# stream does not depend on how it is split) for 1.5 MB at most.
_NOISE_CHUNK = 1 << 16


@lru_cache(maxsize=4)
def _noise_run(sigma: float) -> np.ndarray:
    """A fixed run of Gaussian N(0, sigma) noise values (int8), the same in every process."""
    rng = np.random.default_rng(0x5E45)
    run = np.empty(_NOISE_RUN, dtype=np.int8)
    for start in range(0, _NOISE_RUN, _NOISE_CHUNK):
        values = rng.normal(0.0, sigma, min(_NOISE_CHUNK, _NOISE_RUN - start))
        np.clip(np.rint(values, out=values), -127, 127, out=values)
        run[start:start + values.size] = values
    run.setflags(write=False)
    return run


def _noise(rng: np.random.Generator, sigma: float, count: int) -> np.ndarray:
    """``count`` Gaussian noise values: a window, at a random start, of the fixed run.

    Drawing 921,600 fresh normal values for every still cost more than everything else a
    still needs; a window of a fixed run is the same noise to anything that looks at it.
    """
    run = _noise_run(sigma)
    if count <= run.size:
        start = int(rng.integers(run.size - count + 1))
        return run[start:start + count]
    return np.resize(run, count)  # a picture larger than any camera here: the run repeats


def finish(image: Image.Image, rng: np.random.Generator, *, blur: float = 1.2,
           noise: float = 6.0) -> np.ndarray:
    """Soften edges like a lens and add sensor noise; returns an HxWx3 uint8 array.

    The noise is Gaussian with std-dev ``noise``. Both steps are deterministic for a given
    ``rng``.
    """
    array = np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)
    if blur:
        array = _soften(array, blur)
    if noise:
        noisy = array.astype(np.int16) + _noise(rng, float(noise), array.size).reshape(
            array.shape)
        array = np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)
    return array if blur or noise else array.copy()  # never Pillow's read-only buffer
