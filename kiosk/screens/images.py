"""Encoded images (JPEG, PNG) and raw RGB preview frames into Kivy textures."""

from __future__ import annotations

import io
from typing import Any

from kivy.core.image import Image as CoreImage
from kivy.core.image import ImageLoader
from kivy.graphics.texture import Texture


def _memory_loader(ext: str) -> Any:
    """The loader ``CoreImage`` uses for ``ext`` from memory: the first that can. Found
    without asking the others: ``CoreImage`` lists every loader's extensions first, and
    Pillow's list imports all of its ~50 format plugins (4 MB in a process that shows
    only JPEG and PNG, which SDL2's loader, ahead of Pillow's, decodes)."""
    for loader in ImageLoader.loaders:
        if loader.can_load_memory() and ext in loader.extensions():
            return loader
    return None


def texture_from_bytes(data: bytes, ext: str) -> Any:
    """A texture of an encoded image, or None for no data."""
    if not data:
        return None
    loader = _memory_loader(ext)
    if loader is None:  # CoreImage says which, as before
        return CoreImage(io.BytesIO(data), ext=ext, nocache=True).texture
    # As CoreImage(BytesIO, ext=ext, nocache=True) loads it: same loader and options.
    return loader("__inline__", ext=ext, rawdata=io.BytesIO(data), inline=True,
                  nocache=True, mipmap=False, keep_data=False).texture


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
