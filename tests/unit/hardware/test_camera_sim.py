"""The simulated camera: portrait stills on an e-KTP background, fast preview frames.

What every camera backend shares (busy, close, self-test, JPEG stills) is asserted once, in
``tests/contract/test_camera.py``.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from kiosk.enrollment.quality import portrait_quality
from kiosk.errors import DeviceTimeout
from kiosk.hardware.camera import Photo
from kiosk.hardware.camera.sim import SimCamera


def decode(photo: Photo) -> np.ndarray:
    with Image.open(io.BytesIO(photo.jpeg)) as image:
        assert image.format == "JPEG"
        assert image.size == (photo.width, photo.height)
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def background(rgb: np.ndarray) -> str:
    """"red", "blue" or "other" from the top corners, where only background shows."""
    corners = np.concatenate([rgb[:40, :40].reshape(-1, 3), rgb[:40, -40:].reshape(-1, 3)])
    r, g, b = corners.mean(axis=0)
    if r > 150 and g < 80 and b < 80:
        return "red"
    if b > 150 and r < 80 and g < 130:
        return "blue"
    return "other"


@pytest.mark.parametrize(("seed", "expected"), [(0, "blue"), (1, "red"), (2, "blue"),
                                                (7, "red")])
def test_sim_still_is_480x640_on_red_or_blue(seed, expected):
    with SimCamera(seed=seed) as camera:
        photo = camera.capture_still()
    rgb = decode(photo)
    assert (photo.width, photo.height) == (480, 640)
    assert 30_000 <= len(photo.jpeg) <= 90_000
    assert background(rgb) == expected


def test_sim_still_is_colourful_not_grayscale():
    with SimCamera(seed=4) as camera:
        rgb = decode(camera.capture_still())
    chroma = np.abs(rgb[..., 0] - rgb[..., 1]) + np.abs(rgb[..., 1] - rgb[..., 2])
    assert chroma.mean() > 40


def test_sim_still_shows_a_person_in_the_middle():
    with SimCamera(seed=1) as camera:
        rgb = decode(camera.capture_still())
    # The centre (face) differs strongly from the background colour at the corners.
    corner = rgb[:40, :40].reshape(-1, 3).mean(axis=0)
    face = rgb[260:300, 220:260].reshape(-1, 3).mean(axis=0)
    assert np.abs(face - corner).sum() > 100


def test_sim_same_seed_gives_the_same_stills():
    with SimCamera(seed=3) as a, SimCamera(seed=3) as b:
        assert a.capture_still().jpeg == b.capture_still().jpeg


def test_sim_subject_changes_the_person():
    with SimCamera(seed=3) as camera:
        first = decode(camera.capture_still())
        camera.subject = 1
        second = decode(camera.capture_still())
    assert background(first) == "red" and background(second) == "blue"


def test_sim_preview_frame_is_small_rgb_and_varies():
    with SimCamera(seed=2) as camera:
        frames = [camera.preview_frame() for _ in range(5)]
    assert {(f.width, f.height) for f in frames} == {(320, 240)}
    assert all(len(f.rgb) == 320 * 240 * 3 for f in frames)
    assert len({f.rgb for f in frames}) == 5  # live, not a frozen picture


def test_sim_fail_every_times_out_stills():
    with SimCamera(fail_every=2) as camera:
        camera.capture_still()
        with pytest.raises(DeviceTimeout):
            camera.capture_still()
        camera.capture_still()


def _rejected_faces(seed: int, count: int) -> list[tuple[int, float, str]]:
    """The camera's own stills, one per subject as the demo takes them, that the portrait
    check refuses: (subject, score, reason)."""
    failures = []
    with SimCamera(seed=seed) as camera:
        for subject in range(count):
            camera.subject = subject
            report = portrait_quality(camera.capture_still().jpeg)
            if not report.ok:
                failures.append((subject, report.score, report.reason_en))
    return failures


@pytest.mark.parametrize("seed", [0, 1])
def test_sim_first_200_faces_all_pass_the_portrait_check(seed: int) -> None:
    # The demo gives citizen n the camera's subject n, and a face the portrait check rejects
    # on every try stops the demo (face 41 of seed 0 did: darker skin on the red background
    # was called "blank"; 1 in 7 was once not found, or found "not looking straight").
    # Seed 0 is the configured default; 200 faces take about 15 s each.
    failures = _rejected_faces(seed, 200)
    assert not failures, f"{len(failures)} of 200 faces rejected, first: {failures[:5]}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_sim_first_1000_faces_all_pass_the_portrait_check(seed: int) -> None:
    failures = _rejected_faces(seed, 1000)
    assert not failures, f"{len(failures)} of 1000 faces rejected, first: {failures[:5]}"
