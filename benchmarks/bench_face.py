"""The portrait check per preview frame at 640x480 (target <= 30 ms here, so that it keeps
up with a 15 fps preview on a Pi; the kiosk checks every 5th frame).

Times :func:`kiosk.enrollment.quality.portrait_quality_rgb` (exposure checks, face
detection, landmarks and all the face rules) on the simulated camera's frames: a well-placed
citizen (every rule runs), and nobody in front of the camera (the detector's worst case: it
searches upright, with its second cascade and turned both ways before giving up).

    python benchmarks/bench_face.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from kiosk.enrollment.quality import portrait_quality_rgb
from kiosk.hardware.camera import scene
from kiosk.hardware.camera.variations import SCENARIOS, render

SIZE = (640, 480)


def _time(frames: list[np.ndarray], rounds: int) -> tuple[float, str]:
    codes = set()
    times = []
    for _ in range(rounds):
        for rgb in frames:
            data = rgb.tobytes()
            started = time.perf_counter()
            report = portrait_quality_rgb(data, *SIZE)
            times.append(time.perf_counter() - started)
            codes.add(report.code or "ok")
    return statistics.median(times) * 1000, ",".join(sorted(codes))


def run(people: int = 10, rounds: int = 3) -> dict[str, dict[str, float | str]]:
    results: dict[str, dict[str, float | str]] = {}
    portrait_quality_rgb(bytes(SIZE[0] * SIZE[1] * 3), *SIZE)  # imports, cascades loaded
    for name in ("frontal", "no_face"):
        frames = [render(SCENARIOS[name], scene.person(0, subject), *SIZE,
                         np.random.default_rng(subject)) for subject in range(people)]
        frames = [frame for frame in frames if frame.size]
        # Warm up on the first frame, then time them all.
        portrait_quality_rgb(frames[0].tobytes(), *SIZE)
        median_ms, codes = _time(frames, rounds)
        results[name] = {"median_ms": median_ms, "verdicts": codes}
    return results


def rows(results: dict[str, dict[str, float | str]]) -> list[str]:
    labels = {"frontal": "a well-placed citizen", "no_face": "nobody in view (worst case)"}
    return [f"| face check per preview frame at 640x480, {labels[name]} | "
            f"**{r['median_ms']:.1f} ms** (median) | <= 30 ms |"
            for name, r in results.items()]


if __name__ == "__main__":
    for row in rows(run()):
        print(row)
