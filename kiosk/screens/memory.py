"""Keeping the touchscreen process small (a Pi 3 or 4 with 1-2 GB shared with the GPU).

Measured with ``benchmarks/bench_ui.py`` (peak RSS over a full flow, see its docstring):

* :func:`fix_malloc_threshold`: glibc raises its mmap threshold each time a large block is
  freed (up to 32 MiB), after which large temporaries (a label's pixels, a decoded photo,
  numpy arrays of the camera and the quality checks) come from the heap and stay in RSS
  as free fragments once freed. Keeping glibc's default 128 KiB threshold fixed hands
  every block above it back to the kernel on free: about 18 MB less peak RSS, no
  measurable change in the preview rate.
* :func:`release_label_surfaces`: Kivy's SDL2 text provider renders each label into an SDL
  surface as large as its texture, copies the pixels out, and then keeps the surface for
  the label's lifetime (its PIL and pygame providers drop theirs). Every label on the ten
  screens thus held a second copy of its texture in RAM (about 9 MB at the end of a flow),
  and each kept the pixels of the last text it showed, a citizen's name too, until drawn
  again.

Tried and left out: ``M_ARENA_MAX`` = 2 (about 1 MB less, within the noise once the
threshold is fixed); ``malloc_trim`` and ``gc.collect`` between steps (a few MB back for a
moment, not at the peak; a full collection stalls the UI thread 100-200 ms).
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's default, fixed

_patched = False


def fix_malloc_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold (``mallopt(M_MMAP_THRESHOLD)``; setting it turns the
    dynamic adjustment off, see mallopt(3)); True if done. Another C library: nothing."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    done = bool(mallopt(M_MMAP_THRESHOLD, threshold))
    if not done:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused")
    return done


def release_label_surfaces() -> None:
    """Make Kivy's SDL2 text provider drop its render surface once the pixels are copied
    out (``get_data`` copies them into the ``ImageData`` the texture is filled from); the
    next render makes a new one (``_render_begin``). Nothing else reads the surface. Later
    calls, or another text provider, do nothing."""
    global _patched
    if _patched:
        return
    _patched = True
    try:
        from kivy.core.text.text_sdl2 import LabelSDL2
    except ImportError:  # another text provider: nothing kept
        return

    def _render_end(self: Any) -> Any:
        data = self._surface.get_data()
        self._surface = None  # frees the SDL surface (W x H x 4 bytes)
        return data

    LabelSDL2._render_end = _render_end
