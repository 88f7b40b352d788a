"""Face detection and the geometry of one face: the measures the portrait check reads.

Detection is OpenCV's Haar cascade (``haarcascade_frontalface_alt2``, shipped inside the
``opencv-python-headless`` 4.x wheels, so it works offline and on the Pi's aarch64): about
13 ms of one core of the development machine for a 640x480 frame scaled to 160 rows, the
most of the check's 20 ms (``benchmarks/bench_face.py``). The landmarks are then found
inside the face's box by image measures that need no model: the pupils (round, dark,
filled blobs in each eye's window; a closed eye leaves only a flat line of lashes), the
nose tip and the mouth (the darkest rows below the eyes), and the outline of the face at
the nose (where the skin's colour ends). From them:

* roll is the angle of the line through the pupils;
* yaw is how far the eyes sit from the middle of the outline: turning the head moves the
  features, which stand in front of its axis, by ``depth * sin(angle)`` while the outline
  stays put (eyes about 0.8 of the head's half width in front of the axis);
* pitch is how far the nose tip, which stands out further than the eyes and the mouth,
  moves between them (0.35 of the half width further out).

These are the geometry of a generic head, not a fitted 3-D model: good to a few degrees on
the simulated camera's faces, and conservative on real ones (a wrongly refused photo costs a
retry; the central system assesses quality again). Every threshold is in
:class:`FaceThresholds`.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FaceGeometry", "FaceThresholds", "find_faces", "measure_face"]

# Depths of the features in front of the head's axis of turn, as shares of the half width
# of the face at the nose: the same generic head the simulated camera draws.
DEPTH_EYES = 0.8
DEPTH_NOSE_OVER_EYES = 0.35
# Frontal (nose tip - eye line) / (mouth - eye line): about 0.56 on adult faces and on the
# simulated ones.
NOSE_RATIO = 0.56
# Where the nose tip and the mouth are looked for: below the eye line, in eye distances.
NOSE_WINDOW = (0.35, 0.88)
MOUTH_WINDOW = (0.88, 1.4)

_ROI = 128  # px: the face's box is resampled to this square to find the landmarks


@dataclass(frozen=True)
class FaceThresholds:
    """Limits of the portrait check's face measures (see :mod:`kiosk.enrollment.portrait`).

    Sizes and offsets are shares of the frame's *height*, so a landscape preview frame and
    the portrait still (a centred 3:4 crop of the full height) are judged alike.
    """

    # Frames are scaled to this height to detect faces (see find_faces): a face too far
    # away (0.6 of the right distance) is then still about 35 px high.
    work_rows: int = 160
    min_search: float = 0.2       # smallest face looked for / frame height (too far: 0.24)
    # Each size the detector tries is this much larger than the one before (OpenCV's
    # scaleFactor): 1.1 finds the faces 0.6 of the right distance away that 1.2 misses.
    scale_step: float = 1.1
    min_face: float = 0.27        # detector box height / frame height: closer below this
    max_face: float = 0.48        # further back above this (no room for hair and shoulders)
    max_offset_x: float = 0.11    # box centre from the frame's centre line
    min_centre_y: float = 0.22    # box centre from the top, as a share of the height
    max_centre_y: float = 0.60
    max_roll: float = 8.0         # degrees, ISO/IEC 19794-5 full frontal
    max_yaw: float = 5.0
    max_pitch: float = 5.0
    # The steepest edges / contrast of the face resampled to 128 px: the simulated camera's
    # faces measure 0.19 or more, the same faces blurred by 4 px 0.17 or less.
    min_sharpness: float = 0.17
    backlit_ratio: float = 0.6    # face luma below this share of the backdrop's: backlit
    min_face_luma: float = 60.0   # face too dark on its own
    min_side_ratio: float = 0.88  # darker cheek / lighter cheek: lit from one side
    min_plain: float = 0.9        # share of the backdrop strips that match their own colour


@dataclass(frozen=True)
class FaceGeometry:
    """One face found in a frame, in the frame's pixels (``None``: not measured)."""

    box: tuple[int, int, int, int]        # x, y, width, height of the detector's box
    eyes: tuple[tuple[float, float], tuple[float, float]] | None  # left, right pupil
    roll: float | None                     # degrees, clockwise in the picture
    yaw: float | None
    pitch: float | None
    sharpness: float
    face_luma: float
    side_ratio: float

    @property
    def eye_distance(self) -> float | None:
        """Pixels between the pupils."""
        if self.eyes is None:
            return None
        (lx, ly), (rx, ry) = self.eyes
        return math.hypot(rx - lx, ry - ly)


_lock = threading.Lock()
_cascades: list[Any] = []
_clahe: list[Any] = []

#: OpenCV's worker threads (``cv2.setNumThreads``), set when the cascades are loaded. A
#: Pi 4/5 has 4 cores and OpenCV would take them all; the touchscreen draws the preview
#: (and the GPU driver's thread feeds it) while the check runs, so the detector gets two:
#: on 4 cores a frame's detection is then only about a third slower than with four, and
#: every worker thread costs the process a stack and a malloc arena of its own.
CV_THREADS = 2


def _detectors() -> list[Any]:
    """The cascades, loaded once (about 1 MB each; the preview and the still share them):
    ``alt2`` first (fewer false faces), ``default`` when alt2 finds nobody (it finds more of
    the faces alt2 misses under uneven light)."""
    if not _cascades:
        import os

        import cv2

        cv2.setNumThreads(max(1, min(CV_THREADS, os.cpu_count() or 1)))
        for name in ("haarcascade_frontalface_alt2.xml", "haarcascade_frontalface_default.xml"):
            cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
            if cascade.empty():
                raise RuntimeError(f"OpenCV's face cascade {name} is missing: install "
                                   "opencv-python-headless 4.x (the 5.0 wheels ship none)")
            _cascades.append(cascade)
        # Local contrast for the second cascade, made once (the lock guards its use).
        _clahe.append(cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)))
    return _cascades


def find_faces(gray: np.ndarray, limits: FaceThresholds) -> tuple[list[tuple[int, int, int, int]],
                                                                   float]:
    """Faces in an 8-bit gray frame, as boxes in its pixels, and the roll they were found at.

    The search runs on the frame scaled down to ``limits.work_rows`` (160: a third of a
    640x480 preview) and maps the boxes back. A citizen at the right distance has a face of
    a third of the frame's height, about 55 px there, near three times the cascade's 20 px
    window; only faces of a fifth of the height or more are looked for (a face that small
    is "move closer" anyway), so the cascade skips the small scales, where nearly all its
    windows are (at 240 rows from 15 % of the height it took four times as long).

    The cascade finds upright faces (to about 15 degrees of roll). When none is found
    upright, the frame is turned by 20 degrees each way and searched again: a head tilted
    further is still found, and reported with that roll so the citizen hears "keep your
    head straight", not "nobody there". Only that answer is wanted from the turned frames,
    not the face's size or place, so they are searched for heads of about the right size
    (from a little nearer than "too far" to a little further than "too near"), in coarser
    steps of size and in the middle of the frame: an empty room, which takes every pass,
    costs about a third less.
    """
    import cv2
    import numpy as np

    height, width = gray.shape
    rows = min(limits.work_rows, height)
    scale = rows / height
    small = cv2.resize(gray, (max(1, round(width * scale)), rows),
                       interpolation=cv2.INTER_AREA)
    small = cv2.equalizeHist(small)
    # The cascade's window is 20 px: no smaller face can be found.
    min_side = max(20, int(rows * limits.min_search))
    max_side = int(rows * 0.8)

    def search(detector: Any, image: np.ndarray, neighbours: int, sizes: tuple[int, int] = (
            min_side, max_side), step: float = limits.scale_step) -> Any:
        return detector.detectMultiScale(image, scaleFactor=step, minNeighbors=neighbours,
                                         minSize=(sizes[0], sizes[0]),
                                         maxSize=(sizes[1], sizes[1]))

    with _lock:
        alt2, default = _detectors()
        clahe = _clahe[0]
        angle = 0.0
        found = search(alt2, small, 3)
        local = None
        if not len(found):
            # Local contrast (CLAHE) for the second cascade: a face lit from one side is
            # half in shadow, which a global equalisation leaves dark.
            local = clahe.apply(small)
            found = search(default, local, 6)
        if not len(found):
            turned_sizes = (max(20, int(rows * limits.min_face * 0.8)),
                            min(max_side, int(rows * limits.max_face * 1.3)))
            # The middle of the frame only: a head in the guide, with room to lean.
            half = round(rows * (limits.max_offset_x + limits.max_face * 1.3 / 2) * 1.25)
            left = max(0, small.shape[1] // 2 - half)
            middle = np.ascontiguousarray(small[:, left:small.shape[1] - left])
            centre = (middle.shape[1] / 2, rows / 2)
            for angle in (20.0, -20.0):
                turn = cv2.getRotationMatrix2D(centre, angle, 1.0)
                found = search(alt2, cv2.warpAffine(middle, turn, (middle.shape[1], rows),
                                                    borderMode=cv2.BORDER_REPLICATE), 3,
                               turned_sizes, max(limits.scale_step, 1.15))
                if len(found):
                    break
            else:
                return [], 0.0
        if len(found) == 1 and not angle and found[0][3] < limits.min_face * rows:
            # One small face: often one of two people further back, the other one missed.
            # The second cascade has a look before the citizen is told to come closer.
            if local is None:
                local = clahe.apply(small)
            other = search(default, local, 6)
            if len(other) > 1:
                found = other
    boxes = [tuple(int(v) for v in box) for box in found]
    largest = max(b[3] for b in boxes)
    # A second face counts when it is a real head near the first, not a texture far smaller.
    boxes = [b for b in boxes if b[3] >= 0.45 * largest]
    boxes.sort(key=lambda b: -b[3])
    # A box whose centre lies inside a larger one is the same face found twice (the cascade
    # groups only boxes of similar size), not a second person.
    # Nor is a "face" wholly below the largest face's chin (a collar, a hand on the
    # chest): a second person's head is beside or behind the first, not under it.
    chin = boxes[0][1] + boxes[0][3]
    kept: list[tuple[int, ...]] = []
    for bx, by, bw, bh in boxes:
        if by >= chin * 0.98 and kept:
            continue
        if not any(kx < bx + bw / 2 < kx + kw and ky < by + bh / 2 < ky + kh
                   for kx, ky, kw, kh in kept):
            kept.append((bx, by, bw, bh))
    boxes = kept
    if angle:
        back = cv2.getRotationMatrix2D(centre, -angle, 1.0)
        turned = []
        for x, y, w, h in boxes:
            cx, cy = back @ (x + w / 2, y + h / 2, 1.0)
            turned.append((round(cx - w / 2) + left, round(cy - h / 2), w, h))
        boxes = turned
    # OpenCV's angle turns the picture counter-clockwise: the head was turned clockwise.
    return ([(round(x / scale), round(y / scale), round(w / scale), round(h / scale))
             for x, y, w, h in boxes], angle)


def _pupil(window: np.ndarray) -> tuple[float, float] | None:
    """The centre of the round dark blob in an eye's window, or None (closed or unseen).

    A pupil with its iris is a filled, roundish blob clearly darker than the window; brows,
    lashes of a closed eye and spectacle frames are dark too, but flat or hollow.
    """
    import cv2
    import numpy as np

    low, mid = float(window.min()), float(np.median(window))
    if mid - low < 15:  # no dark feature at all
        return None
    mask = (window < low + 0.5 * (mid - low)).astype(np.uint8)
    count, _, stats, centres = cv2.connectedComponentsWithStats(mask, connectivity=8)
    best, best_score = None, 0.0
    for index in range(1, count):
        left, top, w, h, area = (int(v) for v in stats[index])
        if area < 6 or w < 3:
            continue
        if left == 0 or left + w == window.shape[1] or top == 0:
            # Cut by the window's side or top: hair or a hijab beside the face, a brow
            # above the eye, not a whole pupil.
            continue
        fill = area / (w * h)
        aspect = h / w
        if fill < 0.45 or aspect < 0.5 or aspect > 2.0:
            continue
        score = area * fill
        if score > best_score:
            best, best_score = (float(centres[index][0]), float(centres[index][1])), score
    return best


def _darkest_row(band: np.ndarray) -> float:
    """The row (within ``band``) whose pixels are darkest on average."""
    import numpy as np

    profile = band.mean(axis=1)
    profile = np.convolve(profile, np.ones(3) / 3, mode="same")
    return float(np.argmin(profile[1:-1]) + 1)


def _outline(rgb_row: np.ndarray, skin: np.ndarray, left_start: float,
             right_start: float) -> tuple[float, float] | None:
    """Left and right end of the skin of a row of RGB pixels, walked outwards from columns
    ``left_start`` and ``right_start`` (both on the cheeks)."""
    import numpy as np

    distance = np.abs(rgb_row.astype(np.int16) - skin.astype(np.int16)).sum(axis=1)
    is_skin = distance < max(60.0, float(skin.sum()) * 0.22)
    last = is_skin.size - 1
    left, right = round(left_start), round(right_start)
    if not (0 <= left <= last and 0 <= right <= last and is_skin[left] and is_skin[right]):
        return None
    # A gap of one pixel (noise) does not end the skin.
    while left > 0 and (is_skin[left - 1] or is_skin[max(0, left - 2)]):
        left -= 1
    while right < last and (is_skin[right + 1] or is_skin[min(last, right + 2)]):
        right += 1
    return float(left), float(right)


def measure_face(rgb: np.ndarray, gray: np.ndarray, box: tuple[int, int, int, int],
                 ) -> FaceGeometry:
    """The landmarks and measures of the face in ``box`` of an RGB frame (and its gray)."""
    import cv2
    import numpy as np

    x, y, w, h = box
    frame_h, frame_w = gray.shape
    zoom = _ROI / w
    # The box and a margin of half its width each side (the outline lies near its edges),
    # and a quarter below it: the detector's box may end at the lips of a larger head.
    x0, x1 = max(0, x - w // 2), min(frame_w, x + w + w // 2)
    y1 = min(frame_h, y + h + h // 4)
    wide = cv2.resize(rgb[y:y1, x0:x1], (max(1, round((x1 - x0) * zoom)),
                                         max(_ROI, round((y1 - y) * zoom))),
                      interpolation=cv2.INTER_AREA)
    off = round((x - x0) * zoom)
    below = wide[:, off:off + _ROI]  # the box and the quarter below it
    roi_rgb = below[:_ROI]
    roi = cv2.cvtColor(np.ascontiguousarray(roi_rgb), cv2.COLOR_RGB2GRAY)
    smooth = cv2.GaussianBlur(roi, (3, 3), 0)

    # Sharpness: the steepest edges over the face's own contrast, on a lightly smoothed
    # face (sensor noise has steep but tiny steps; a blurred edge is wide, so not steep).
    soft = cv2.GaussianBlur(roi, (0, 0), 1.0).astype(np.float32)
    gx, gy = cv2.Sobel(soft, cv2.CV_32F, 1, 0), cv2.Sobel(soft, cv2.CV_32F, 0, 1)
    steep = float(np.percentile(cv2.magnitude(gx, gy), 99))
    low_high = np.percentile(soft, (2, 98))
    sharpness = steep / 8 / max(float(low_high[1] - low_high[0]), 1.0)  # Sobel gains 8
    # Light: the two cheeks (below the eyes, either side of the nose).
    left_cheek = roi[int(_ROI * 0.55):int(_ROI * 0.75), int(_ROI * 0.2):int(_ROI * 0.38)]
    right_cheek = roi[int(_ROI * 0.55):int(_ROI * 0.75), int(_ROI * 0.62):int(_ROI * 0.8)]
    lc, rc = float(np.median(left_cheek)), float(np.median(right_cheek))
    face_luma = (lc + rc) / 2
    side_ratio = min(lc, rc) / max(lc, rc, 1.0)

    rows = slice(int(_ROI * 0.22), int(_ROI * 0.56))
    left_win = smooth[rows, int(_ROI * 0.1):int(_ROI * 0.48)]
    right_win = smooth[rows, int(_ROI * 0.52):int(_ROI * 0.9)]
    left, right = _pupil(left_win), _pupil(right_win)
    roll = yaw = pitch = None
    eyes = None
    if left is not None and right is not None:
        lx, ly = left[0] + _ROI * 0.1, left[1] + rows.start
        rx, ry = right[0] + int(_ROI * 0.52), right[1] + rows.start
        roll = math.degrees(math.atan2(ry - ly, rx - lx))
        eyes = ((x + lx / zoom, y + ly / zoom), (x + rx / zoom, y + ry / zoom))
        eye_y, eye_x = (ly + ry) / 2, (lx + rx) / 2
        eyes_apart = math.hypot(rx - lx, ry - ly)
        # Nose tip and mouth: the darkest rows of the middle column below the eyes, looked
        # for where a face has them, measured in eye distances (the detector's box varies
        # by a fifth with hair, a hijab or a beard; the eyes do not): the nose tip about
        # 0.6-0.7 below the eye line, the mouth about 1.0-1.2 (adults, and the sim's heads).
        low = below.shape[0] - 2
        middle = cv2.GaussianBlur(cv2.cvtColor(np.ascontiguousarray(
            below[:, max(0, int(eye_x - _ROI * 0.12)):int(eye_x + _ROI * 0.12)]),
            cv2.COLOR_RGB2GRAY), (3, 3), 0)
        n0 = min(low, int(eye_y + NOSE_WINDOW[0] * eyes_apart))
        n1 = min(low, int(eye_y + NOSE_WINDOW[1] * eyes_apart))
        m0 = min(low, int(eye_y + MOUTH_WINDOW[0] * eyes_apart))
        m1 = min(low, int(eye_y + MOUTH_WINDOW[1] * eyes_apart))  # above the chin
        skin = np.median(np.concatenate([
            roi_rgb[int(_ROI * 0.55):int(_ROI * 0.75), int(_ROI * 0.2):int(_ROI * 0.38)]
            .reshape(-1, 3),
            roi_rgb[int(_ROI * 0.55):int(_ROI * 0.75), int(_ROI * 0.62):int(_ROI * 0.8)]
            .reshape(-1, 3)]), axis=0)
        nose_y = n0 + _darkest_row(middle[n0:n1]) if n1 - n0 > 4 else None
        # The lips differ from the skin in colour more than in brightness (on darker skin
        # they are as bright): the rows most unlike the cheeks' colour.
        lips = np.abs(below[:, max(0, int(eye_x - _ROI * 0.12)):int(eye_x + _ROI * 0.12)]
                      .astype(np.int16) - skin.astype(np.int16)).sum(axis=2)
        mouth_y = m0 + _darkest_row(-lips[m0:m1].astype(np.float32)) if m1 - m0 > 4 else None
        # The outline at the nose: where the cheeks' colour ends, either side, walked out
        # from the cheeks (half an eye distance out from the eyes' middle), not from the
        # nose, whose tip and nostrils are shaded unlike the skin.
        spans = [] if nose_y is None else [
            _outline(wide[int(r)], skin, eye_x + off - eyes_apart / 2,
                     eye_x + off + eyes_apart / 2)
            for r in np.linspace(nose_y - 3, nose_y + 3, 4) if 0 <= int(r) < wide.shape[0]]
        spans = [s for s in spans if s is not None]
        if spans and mouth_y is not None and nose_y is not None:
            left_edge = float(np.median([s[0] for s in spans]))
            right_edge = float(np.median([s[1] for s in spans]))
            half = max((right_edge - left_edge) / 2, 1.0)
            middle_x = (left_edge + right_edge) / 2 - off
            yaw = math.degrees(math.asin(max(-1.0, min(1.0, (eye_x - middle_x)
                                                       / (DEPTH_EYES * half)))))
            expected = NOSE_RATIO * (mouth_y - eye_y)
            pitch = math.degrees(math.asin(max(-1.0, min(1.0, (expected - (nose_y - eye_y))
                                                         / (DEPTH_NOSE_OVER_EYES * half)))))
    return FaceGeometry(box, eyes, roll, yaw, pitch, round(sharpness, 4), round(face_luma, 1),
                        round(side_ratio, 3))
