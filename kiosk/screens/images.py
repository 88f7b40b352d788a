"""Encoded images (JPEG, PNG) and raw RGB preview frames into Kivy textures."""

from __future__ import annotations

import io
from typing import Any

from kivy.core.image import Image as CoreImage
from kivy.graphics.texture import Texture


def texture_from_bytes(data: bytes, ext: str) -> Any:
    """A texture of an encoded image, or None for no data."""
    if not data:
        return None
    return CoreImage(io.BytesIO(data), ext=ext, nocache=True).texture


class FrameTexture:
    """One texture reused for every preview frame of the same size (no allocation per
    frame: the preview runs at 15+ fps on a Pi)."""

    def __init__(self) -> None:
        self.texture: Any = None

    def update(self, width: int, height: int, rgb: bytes) -> Any:
        if self.texture is None or self.texture.size != (width, height):
            self.texture = Texture.create(size=(width, height), colorfmt="rgb")
            self.texture.flip_vertical()  # frames are top row first; GL is bottom first
        self.texture.blit_buffer(rgb, colorfmt="rgb", bufferfmt="ubyte")
        return self.texture
