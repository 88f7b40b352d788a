"""A short video of the simulated person, for running the ``v4l2`` backend without a webcam.

OpenCV opens a video file exactly as it opens ``/dev/video0``, so ``[hardware.camera] type =
"v4l2"`` with ``device = "clip.avi"`` drives the real backend code from a file: the unit
tests, the camera contract suite (its ``v4l2-clip`` backend) and
``benchmarks/bench_camera.py`` use it, and a maintainer can too::

    python -m kiosk.hardware.camera.testclip /tmp/clip.avi

Frames are Motion-JPEG in an AVI (what UVC webcams send), landscape, the person centred on
the e-KTP red or blue background, with a white bar moving along the bottom edge so each
frame differs from the last (tests use it to tell fresh frames from stale ones).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from kiosk.hardware.camera import scene


def write_clip(path: Path, *, frames: int = 30, fps: int = 30, size: tuple[int, int] = (640, 480),
               seed: int = 1) -> Path:
    """Write ``frames`` frames of ``size`` (width, height) at ``fps`` to ``path`` (.avi)."""
    import cv2

    width, height = size
    base = scene.finish(scene.draw(scene.person(seed), width, height),
                        np.random.default_rng(seed), blur=0.8, noise=0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write MJPG video to {path}")
    try:
        bar = max(4, width // 16)
        for number in range(frames):
            rgb = base.copy()
            x = (number * bar) % (width - bar)
            rgb[height - 12:, x:x + bar] = 255  # the moving marker
            writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))  # OpenCV writes BGR
    finally:
        writer.release()
    return Path(path)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "clip.avi")
    print(write_clip(target, frames=90))
