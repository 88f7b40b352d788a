"""Fingerprints at the sensor's true depth: 4-bit PNG and lossless WebP, bit-exact both ways."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from kiosk.hardware.base import FingerprintImage
from kiosk.hardware.fingerprint import synth
from kiosk.hardware.fingerprint import zfm_protocol as zp


def four_bit(seed: int, finger: int) -> FingerprintImage:
    pixels = zp.unpack_image(zp.pack_image(synth.render(seed, finger)))
    return FingerprintImage(256, 288, 500, pixels, bits=4)


@pytest.mark.parametrize("finger", range(3))
def test_four_bit_png_round_trips_bit_exact(finger: int) -> None:
    image = four_bit(8, finger)
    png = image.to_png()
    assert png[24] == 4 and png[25] == 0  # IHDR: bit depth 4, colour type 0 (gray)
    back = FingerprintImage.from_png(png)
    assert back == image  # pixels, size, 500 ppi and bits=4
    # Any PNG reader sees the same 16 levels: the decoder scales n to n * 17.
    with Image.open(io.BytesIO(png)) as plain:
        assert plain.convert("L").tobytes() == image.pixels


def test_every_level_survives_the_round_trip() -> None:
    levels = np.tile(np.arange(16, dtype=np.uint8).repeat(16), 288).reshape(288, 256) * 17
    image = FingerprintImage(256, 288, 500, levels.tobytes(), bits=4)
    assert FingerprintImage.from_png(image.to_png()).pixels == levels.tobytes()


def test_four_bit_png_is_under_half_the_eight_bit_one() -> None:
    image = four_bit(9, 1)
    eight = FingerprintImage(256, 288, 500, image.pixels).to_png()  # 16 levels in 8 bits
    assert len(image.to_png()) < len(eight)
    original = FingerprintImage(256, 288, 500, synth.render(9, 1)).to_png()  # before: 8 bits
    assert len(image.to_png()) < 0.5 * len(original)


def test_four_bit_refuses_a_pixel_between_levels() -> None:
    pixels = bytearray(four_bit(8, 0).pixels)
    pixels[100] = 18  # not n * 17: a 4-bit PNG would silently round it
    with pytest.raises(ValueError, match="level"):
        FingerprintImage(256, 288, 500, bytes(pixels), bits=4).to_png()


def test_an_eight_bit_png_reads_back_as_eight_bits() -> None:
    image = FingerprintImage(256, 288, 500, synth.render(8, 0))
    assert FingerprintImage.from_png(image.to_png()) == image


# -- lossless WebP: what a record keeps --------------------------------------------------------

@pytest.mark.parametrize("finger", range(3))
def test_four_bit_webp_round_trips_bit_exact(finger: int) -> None:
    image = four_bit(8, finger)
    webp = image.to_webp()
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP" and b"VP8L" in webp[:64]
    back = FingerprintImage.decode(webp)
    assert back == image  # pixels, size, 500 ppi (from EXIF) and bits=4
    # Any WebP reader sees the same 16 levels as 8-bit gray.
    with Image.open(io.BytesIO(webp)) as plain:
        assert plain.convert("L").tobytes() == image.pixels


def test_every_level_survives_the_webp_round_trip() -> None:
    levels = np.tile(np.arange(16, dtype=np.uint8).repeat(16), 288).reshape(288, 256) * 17
    image = FingerprintImage(256, 288, 500, levels.tobytes(), bits=4)
    assert FingerprintImage.decode(image.to_webp()) == image


def test_webp_keeps_the_resolution_and_eight_bit_images() -> None:
    image = FingerprintImage(256, 288, 1000, synth.render(8, 0))
    assert FingerprintImage.decode(image.to_webp()) == image  # 8 bits, 1000 ppi


def test_webp_is_smaller_than_the_four_bit_png() -> None:
    image = four_bit(9, 1)
    assert len(image.to_webp()) < len(image.to_png())


def test_webp_refuses_a_pixel_between_levels() -> None:
    pixels = bytearray(four_bit(8, 0).pixels)
    pixels[100] = 18
    with pytest.raises(ValueError, match="level"):
        FingerprintImage(256, 288, 500, bytes(pixels), bits=4).to_webp()


def test_a_lossy_webp_is_not_taken_for_a_fingerprint() -> None:
    out = io.BytesIO()
    Image.frombytes("L", (256, 288), four_bit(8, 0).pixels).save(out, format="WEBP",
                                                                  quality=80)
    with pytest.raises(ValueError, match="lossless"):
        FingerprintImage.decode(out.getvalue())


def test_decode_still_reads_the_png_of_older_records() -> None:
    image = four_bit(8, 2)
    assert FingerprintImage.decode(image.to_png()) == image
