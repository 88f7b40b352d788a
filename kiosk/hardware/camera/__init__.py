"""Cameras: the base API, picamera2/v4l2 backends (later) and the simulator."""

from kiosk.hardware.base import Frame, Photo
from kiosk.hardware.camera.base import Camera

__all__ = ["Camera", "Frame", "Photo"]
