"""Preview frame rate of the camera backends the development machine can run.

The UI wants at least 15 preview frames per second. For each backend this calls
``preview_frame()`` in a loop for ``seconds`` and reports two rates:

* ``calls_per_s``: how fast the UI could fetch frames (the backend's own cost);
* ``fresh_fps``: how many *different* frames arrived per second (what the person sees).

Backends: ``sim`` and ``v4l2`` reading a generated 640x480 MJPG clip at 30 fps through
OpenCV (skipped without opencv). On a Pi, add the real camera with
``KIOSK_BENCH_CAMERA=picamera2`` or ``=/dev/video0``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from kiosk.hardware.registry import create_device

TARGET_FPS = 15.0


def measure(options: dict[str, Any], seconds: float = 2.0) -> dict[str, float]:
    with create_device("camera", options) as camera:
        camera.preview_frame()  # warm-up: first frame, caches
        calls = fresh = 0
        last = b""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            frame = camera.preview_frame()
            calls += 1
            if frame.rgb != last:
                fresh += 1
                last = frame.rgb
            if options["type"] != "sim":
                time.sleep(0.002)  # a UI polls; do not spin on the newest-frame lock
        elapsed = time.monotonic() - started
    return {"calls_per_s": calls / elapsed, "fresh_fps": fresh / elapsed,
            "width": frame.width, "height": frame.height}


def run(seconds: float = 2.0) -> dict[str, dict[str, float]]:
    """backend name -> {"calls_per_s", "fresh_fps", "width", "height", "meets_target"}."""
    results: dict[str, dict[str, float]] = {"sim": measure({"type": "sim", "seed": 1}, seconds)}
    try:
        from kiosk.hardware.camera.testclip import write_clip

        with tempfile.TemporaryDirectory() as tmp:
            clip = write_clip(Path(tmp) / "clip.avi", frames=60, fps=30)
            results["v4l2-clip"] = measure({"type": "v4l2", "device": str(clip)}, seconds)
    except ImportError:
        pass  # no OpenCV: the v4l2 extra is not installed
    real = os.environ.get("KIOSK_BENCH_CAMERA", "")
    if real:
        options: dict[str, Any] = ({"type": "picamera2"} if real == "picamera2"
                                   else {"type": "v4l2", "device": real})
        results[f"real ({real})"] = measure(options, seconds)
    for result in results.values():
        result["meets_target"] = float(result["fresh_fps"] >= TARGET_FPS)
    return results


if __name__ == "__main__":
    for name, result in run().items():
        print(f"{name:>12}: {result['fresh_fps']:5.1f} fresh fps, "
              f"{result['calls_per_s']:8.0f} calls/s, "
              f"{result['width']:.0f}x{result['height']:.0f}")
