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

* :func:`limit_malloc_arenas` and :func:`release_free_heap`: since the portrait check
  (OpenCV, #11) the process runs more threads that allocate (the preview thread's face
  check, OpenCV's worker, the two workers' captures, the fingerprint extraction), and
  glibc gives each its own arena (up to 8 per core) whose free fragments stay resident.
  At most 2 arenas, and ``malloc_trim(0)`` on a worker at every step change (0.5-6 ms in
  a flow, off the UI thread): 264.6 -> 261.3 MB peak here (arenas alone 263.4, the trim
  alone 262.4); more on a Pi, whose 4 cores allow 32 arenas.

* Taking and judging the portrait's still was the peak (3-5 MB above the receipt's):
  :func:`kiosk.enrollment.portrait.finish_portrait` keyed the backdrop and blended the
  e-KTP colour in whole-image float32 expressions (five 2 MB arrays at once) and measured
  the plainness of the still's strips only to throw it away; the simulated camera's blur
  (``kiosk.hardware.camera.scene``) made a new 2 MB array for each of its twelve sums.
  Both now work in place, a run of pixels or rows at a time, for the same bytes:
  10.6 -> 4.3 MB above the still for the portrait (also 32-39 -> 18-21 ms), 11.9 -> 6.4 MB
  for the sim still; 260.9-262.2 -> 257.7-258.2 MB peak, which is now the receipt's.

* :func:`release_label_textures`: a screen, once left, drops the rendered text of its labels
  (a step's screen holds 0.3-4 MB of label textures; Mesa's software renderer keeps them in
  the process's memory, a Pi's GPU in the memory it shares with the CPU), and renders them
  again as it is shown (:func:`restore_label_textures`, in the same frame: about 5 ms more
  on that tap here). The welcome and closed screens, shown between citizens, keep theirs.
  257 -> 251 MB peak, 254 -> 242 MB back at welcome. A label wiped to "" also lost the
  pixels of the text it showed (Kivy's core label kept them until it rendered another
  text of another size): a citizen's name stayed in a texture until then.

* No multisample anti-aliasing (``_prepare_kivy`` in ``kiosk/app.py``): 251 -> 236-238 MB
  peak, the multisample buffers and what the software renderer keeps for them.

* :func:`freeze_startup_objects`: once every screen is built, the 200,000-odd objects of
  the start-up (Kivy's widgets, rules and bindings) move to ``gc``'s permanent generation,
  so the collector's full passes no longer walk them: over four citizens in a row the
  longest collection held the UI thread 117-130 ms here (a full one, in the fourth
  citizen's flow; a tap then waits for it), 42-44 ms after the freeze, the peak unchanged.
  Start-up leaves no cyclic garbage to freeze with it (each full collection during
  start-up found none).

* :func:`collect_between_citizens`: a second after a wipe, if no new session has begun,
  one full collection (40-60 ms here with the start-up frozen) while the welcome waits.
  Without it the wiped citizen's cyclic garbage (their widgets' bindings, rows, strings
  and images among it) waited for the collector's next full pass, which came in some
  later citizen's flow: RSS back at the welcome grew by 0.6-0.8 MB a citizen until then
  (12 citizens: 226 -> 234 MB), while with a collection at each welcome it grows by about
  0.1 MB a citizen (8 citizens; about 75 objects a citizen stay, 4 of them Kivy bindings:
  the next two items).

* :func:`bind_scroll_bar_colour_once`: Kivy's ``ScrollView.update_from_scroll`` (every
  frame a scroll view's content moves or resizes) ``fbind``s its bar's colour to
  ``_change_bar_color`` again each time, and its fade 0.5 s after the last unbinds one:
  each frame of a scroll but one left a binding (and its bound method) on the screen's
  scroll view for good. A citizen's finger scrolling the consent text and the form left
  about 190 (``tests/integration/test_citizen_memory.py``: 1,172 on one scroll view after
  6 citizens); the full flow driven without touch (``benchmarks/bench_ui.py``'s verbs),
  3.6 a citizen, 40 citizens in a row. Now one at most.
* :func:`bind_modal_centre_once`: Kivy's ``ModalView.open`` ``fbind``s the view's centre
  and size to ``_align_center`` each time it opens and never unbinds them; the kiosk
  builds its overlays once and opens them again and again (cancel, idle, help): two
  bindings each time. Now two in all.

  With both, the objects the collector tracks at the welcome stay the same: from the 2nd
  citizen to the 40th of the benchmark's flow (36,470), from the 2nd to the 6th of the
  test's (within 2), with the mock GPIO's own records of its LED and sqlite3's dead
  cursor references set aside (gpiozero's ``MockPin`` keeps every state change, 26 a
  citizen, in tests and the sim only; sqlite3 prunes its list every 200 cursors).

What the rest of the peak is (see the README's benchmark notes): OpenCV's import (its
binding's and bundled libraries' pages, about 16 MB, needed by the fingerprint extraction
too) and the code the face check runs (about 5.5 MB of ``cv2.abi3.so`` pages touched in
the preview), both file pages the kernel can drop, not heap.

Tried and left out: ``gc.collect`` between steps (a full collection stalls the UI thread
100-200 ms; measured again at the end of a flow: 200-280 ms, 237,000 objects, for about
5 MB of cycles, mostly the review's rows the wipe dropped and the form's first chips, with their
label textures); one arena (about 1.4 MB below two, every thread then waits on one lock);
``malloc_trim`` every 0.25 s on a thread of its own (no lower peak: 255.5-256.3 MB
without, 256.5 with); ``PRAGMA shrink_memory`` on the journal's connection (0.4 MB);
emptying Kivy's caches (``kv.texture``, ``kv.image``: 2.9 MB of textures, all still held
by widgets, so nothing was freed); ``gc.freeze()`` after start-up with a collection at
each trace of a flow (0.3 MB less, 2-30 ms a collection). Dropping the step screens
themselves and building them again was not needed once their label textures go (above),
which is most of what they held.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # glibc's default, fixed
ARENA_MAX = 2  # glibc allows 8 per core: 32 on a Pi 4/5 (see the module docstring)

_patched = False
_scroll_patched = False
_modal_patched = False


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


def _glibc() -> Any:
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
        return libc
    except (OSError, AttributeError):  # not glibc (musl has neither)
        return None


def limit_malloc_arenas(arenas: int = ARENA_MAX) -> bool:
    """At most ``arenas`` glibc malloc arenas (``mallopt(M_ARENA_MAX)``); True if done.
    Call before threads start: an arena, once a thread made it, is kept."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, arenas))


def release_free_heap() -> bool:
    """Hand the heap's free pages back to the kernel (``malloc_trim(0)``, every arena);
    True if any were. A few milliseconds: call it off the UI thread."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))


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


def bind_scroll_bar_colour_once() -> None:
    """Make Kivy's ``ScrollView.update_from_scroll`` keep at most one binding of its bar's
    colour (see the module docstring). Later calls do nothing."""
    global _scroll_patched
    if _scroll_patched:
        return
    _scroll_patched = True
    from kivy.uix.scrollview import ScrollView

    original = ScrollView.update_from_scroll

    # Its name is Kivy's: the Clock's trigger calls it through a WeakMethod, which looks
    # the method up on the widget by that name.
    def update_from_scroll(self: Any, *largs: Any) -> Any:
        # Kivy's method fbind()s ``bar_color`` -> ``_change_bar_color`` on every call and
        # its fade, 0.5 s after the last, funbind()s it once: fbind adds the same callback
        # again each time, so every call but one in a burst left a binding for good.
        self.funbind("bar_color", self._change_bar_color)  # none bound: nothing happens
        return original(self, *largs)

    ScrollView.update_from_scroll = update_from_scroll


def bind_modal_centre_once() -> None:
    """Make Kivy's ``ModalView.open`` keep one binding of the view's centre and size to
    its ``_align_center``, however often the view opens (see the module docstring). Later
    calls do nothing."""
    global _modal_patched
    if _modal_patched:
        return
    _modal_patched = True
    from kivy.uix.modalview import ModalView

    original = ModalView.open

    def open(self: Any, *args: Any, **kwargs: Any) -> Any:  # Kivy's name (as above)
        # Kivy's open() fbind()s ``center`` and ``size`` -> ``_align_center`` each time it
        # opens the view and nothing ever unbinds them: an overlay the kiosk opens again
        # and again (cancel, idle, help) gained two bindings each time.
        if not self._is_open:  # open() does nothing to a view already open
            self.funbind("center", self._align_center)
            self.funbind("size", self._align_center)
        return original(self, *args, **kwargs)

    ModalView.open = open


def freeze_startup_objects() -> int:
    """Move every object ``gc`` tracks now to its permanent generation (``gc.freeze``);
    the number frozen. Call once, when the long-lived objects exist."""
    gc.freeze()
    return gc.get_freeze_count()


def collect_between_citizens() -> tuple[int, float]:
    """One full garbage collection; (objects collected, milliseconds it took)."""
    started = time.perf_counter()
    collected = gc.collect()
    return collected, (time.perf_counter() - started) * 1000


def release_label_textures(root: Any, each_label: Callable[[Any], None] | None = None
                           ) -> int:
    """Drop the texture of every label under ``root`` (the widget's and Kivy's core label's,
    which keeps its own reference); the layout keeps ``texture_size``. The number of labels
    released. Call on a screen not shown: its labels draw nothing until restored.
    ``each_label`` is called with every label on the way (one walk, not two)."""
    from kivy.uix.label import Label

    count = 0
    for widget in root.walk(restrict=True):
        if not isinstance(widget, Label):
            continue
        if each_label is not None:
            each_label(widget)
        widget._trigger_texture.cancel()  # a text just set renders when shown, not now
        if widget.texture is not None or widget._label.texture is not None:
            widget.texture = None
            widget._label.texture = None
            count += 1
    return count


def forget_if_emptied(label: Any) -> None:
    """A label whose text was just emptied: drop its textures now (``on_text``). Kivy's core
    label renders "" into the texture it has when the size is the same, refilled only when
    next drawn: a closed overlay's message kept the pixels of the last one shown."""
    if label.text:
        return
    label._trigger_texture.cancel()
    label.texture = None
    label._label.texture = None
    label.texture_size = [0, 0]


def restore_label_textures(root: Any) -> int:
    """Render again, before the next frame, every label under ``root`` with no texture
    that has text, or a size left from a text emptied while released (one trigger per
    label). The number of labels asked to render."""
    from kivy.uix.label import Label

    count = 0
    for widget in root.walk(restrict=True):
        if isinstance(widget, Label) and widget.texture is None and (
                widget.text or any(widget.texture_size)):
            widget._trigger_texture()
            count += 1
    return count
