"""The camera the enrollment session sees."""

from __future__ import annotations

from typing import ClassVar

from kiosk.hardware.base import Device, Frame, Photo

__all__ = ["Camera", "Frame", "Photo"]


class Camera(Device):
    """A portrait camera: a live preview for framing and one still for the record.

    The e-KTP portrait is a head-and-shoulders photo in portrait orientation (3:4) on a
    plain red or blue background. Sensors are landscape, so backends crop the centre 3:4
    of the sensor for the still and may hand the whole field of view to the preview.

    Backend notes: picamera2 (Pi camera on the CSI connector, ribbon contacts towards the
    HDMI ports on a Pi 4) configures a still configuration with a ``lores`` stream for the
    preview and encodes the still with ``capture_file(..., format="jpeg")``; a USB webcam
    (v4l2, field kits) is read as MJPEG. Both import their library inside ``_open`` only.

    ``preview_frame`` may be called from a preview thread while ``capture_still`` runs;
    only two concurrent stills raise :class:`~kiosk.errors.DeviceBusy`. Example::

        with create_device("camera", {"type": "sim", "seed": 1}) as camera:
            frame = camera.preview_frame()       # Frame(320, 240, rgb)
            photo = camera.capture_still()       # Photo(480, 640, jpeg)
    """

    SECTION: ClassVar[str] = "hardware.camera"

    def capture_still(self) -> Photo:
        """Take the portrait: a JPEG in portrait orientation."""
        raise NotImplementedError

    def preview_frame(self) -> Frame:
        """The latest preview frame, packed RGB, small enough for 15+ frames per second."""
        raise NotImplementedError
