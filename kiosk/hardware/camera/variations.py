"""Portraits that should pass and portraits that should fail, drawn by the simulated camera.

Each :class:`Scenario` is one way a citizen sits in front of the kiosk (well placed, too far,
head tilted, eyes closed, a window behind them, a second person, nobody) with the verdict a
correct portrait check must give: ``"ok"`` or the code of the one instruction to show (the
codes of :mod:`kiosk.enrollment.face`). :func:`labelled_set` draws many people in every
scenario, each picture a little different (position, light, sensor noise), for the test that
the check judges at least 95 % of them correctly; :class:`~kiosk.hardware.camera.sim.
SimCamera` takes a scenario name (``[hardware.camera] scenario``) so the live guidance can be
seen and tested on the touchscreen too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageFilter

from kiosk.hardware.camera import scene
from kiosk.hardware.camera.scene import Pose


@dataclass(frozen=True)
class Scenario:
    """One way of sitting for the photo, and the verdict it should get."""

    name: str
    expected: str                  # "ok" or the instruction code the check must give
    pose: Pose = scene.FRONTAL
    light: float = 1.0             # on the person (and the backdrop, times pose.backlight)
    blur: float = 0.0              # extra blur (px, Gaussian): a moving head or bad focus
    dx: float = 0.0                # portrait units across (the head is about 190 wide)
    dy: float = 0.0
    people: int = 1                # 0: nobody; 2: a second person beside the first


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("frontal", "ok"),
    Scenario("glasses", "ok", Pose(glasses=True)),
    Scenario("slight_turn", "ok", Pose(roll=3.0, yaw=2.0)),
    Scenario("rotated", "roll", Pose(roll=16.0)),
    Scenario("rotated_left", "roll", Pose(roll=-16.0)),
    Scenario("turned", "pose", Pose(yaw=14.0)),
    Scenario("looking_up", "pose", Pose(pitch=16.0)),
    Scenario("off_centre", "off_centre", dx=120.0),
    Scenario("too_far", "too_far", Pose(scale=0.6)),
    Scenario("too_near", "too_near", Pose(scale=1.5)),
    Scenario("blurred", "blurred", blur=4.0),
    Scenario("dark", "dark", light=0.3),
    Scenario("backlit", "backlit", Pose(backlight=1.9), light=0.55),
    Scenario("side_lit", "uneven_light", Pose(side_light=0.7)),
    Scenario("eyes_closed", "eyes_closed", Pose(eyes_closed=True)),
    Scenario("two_faces", "many_faces", people=2),
    Scenario("no_face", "no_face", people=0),
)}


def render(scenario: Scenario, person: scene.Person, width: int, height: int,
           rng: np.random.Generator, *, jitter: bool = True) -> np.ndarray:
    """Draw ``person`` in ``scenario`` as an HxWx3 uint8 array, as the camera would see it.

    ``jitter`` adds the small differences between two photos of one sitting (a few units of
    position, a few per cent of light, sensor noise), drawn from ``rng``.
    """
    dx, dy, light = scenario.dx, scenario.dy, scenario.light
    if jitter:
        dx += rng.uniform(-8, 8)
        dy += rng.uniform(-6, 6)
        light *= rng.uniform(0.95, 1.05)
    if scenario.people == 0:
        image = scene.backdrop(person, width, height, scenario.pose.backlight
                               if scenario.pose.backlight > 1 else light)
    elif scenario.people == 1:
        image = scene.draw(person, width, height, dx=dx, dy=dy, light=light,
                           pose=scenario.pose)
    else:  # two people side by side, both a little further back
        pose = replace(scenario.pose, scale=0.75 * scenario.pose.scale)
        image = scene.draw(person, width, height, dx=dx - 150, dy=dy, light=light, pose=pose)
        other = replace(person, skin=scene._SKIN[(scene._SKIN.index(person.skin) + 2)
                                                 % len(scene._SKIN)])
        scene.draw_beside(image, other, dx=dx + 150, light=light, pose=pose)
    if scenario.blur:
        image = image.filter(ImageFilter.GaussianBlur(scenario.blur * min(width / 480,
                                                                          height / 640)))
    return scene.finish(image, rng)


def labelled_set(count: int = 20, *, width: int = 480, height: int = 640,
                 seed: int = 0) -> Iterator[tuple[Scenario, np.ndarray]]:
    """``count`` pictures of every scenario, each of another simulated person."""
    for name in SCENARIOS:
        scenario = SCENARIOS[name]
        for subject in range(count):
            person = scene.person(seed, subject)
            rng = np.random.default_rng([seed, subject, len(name), 0x1AB])
            yield scenario, render(scenario, person, width, height, rng)


def save_gallery(path: str, width: int = 240, height: int = 320) -> None:
    """One picture of each scenario side by side in a PNG (for looking at them)."""
    tiles = [Image.fromarray(render(s, scene.person(0, 3), width, height,
                                    np.random.default_rng(1)))
             for s in SCENARIOS.values()]
    sheet = Image.new("RGB", (width * 6, height * ((len(tiles) + 5) // 6)), "white")
    for index, tile in enumerate(tiles):
        sheet.paste(tile, ((index % 6) * width, (index // 6) * height))
    sheet.save(path)


if __name__ == "__main__":
    import sys

    save_gallery(sys.argv[1] if len(sys.argv) > 1 else "scenarios.png")
