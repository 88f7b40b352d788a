"""What is left of a citizen in the running touchscreen app after the wipe: the search the
touch drivers share (``app_drive.py`` after one citizen, ``app_monkey.py`` after every wipe).

Each function takes the running Kivy app (``kiosk.app.create_app``) and runs on its clock;
``secrets`` are the strings a citizen entered (or was shown) that must be gone.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Collection
from typing import Any

#: The widget attributes a screen fills with a citizen's data.
ATTRS = ("text", "value", "values", "nik", "kk", "receipt", "details", "identity", "strokes")
#: The screen ids of the images that show a citizen (portrait, signature, preview, finger).
IMAGE_IDS = ("portrait", "signature", "preview", "image")
#: The ids met whose widget had gone (weak proxies to a collected widget), for the report.
DEAD_IDS: set[str] = set()


def rendered_hidden(app: Any) -> list[str]:
    """Labels that hold rendered text on a step's screen not shown: none should (each
    drops its textures when left; kiosk/screens/memory.py), whatever the flow did since."""
    from kivy.uix.label import Label

    found = []
    for shown in app.screens.screens:
        if shown is app.screens.current_screen or shown.keep_rendered:
            continue
        found += [f"{shown.name}: {type(w).__name__} {w.text[:20]!r}"
                  for w in shown.walk(restrict=True) if isinstance(w, Label)
                  and (w.texture is not None or w._label.texture is not None)]
    return found


def widget_leaks(app: Any, secrets: Collection[str]) -> list[str]:
    """Every widget of the screens, the root and the overlays holding one of ``secrets`` in
    a text or value, an image of a citizen, strokes, or the pixels of an emptied label;
    and each step's screen not shown that holds rendered text (:func:`rendered_hidden`)."""
    from kivy.uix.image import Image
    from kivy.uix.label import Label

    found = []
    roots = [app.root, *app.screens.screens, *app.overlays.values()]
    for root in roots:
        for w in root.walk():
            for attr in ATTRS:
                value = getattr(w, attr, None)
                if value and any(s in str(value) for s in secrets):
                    found.append(f"{type(w).__name__}.{attr}")
            if isinstance(w, Image) and w.texture is not None and image_id(w) in IMAGE_IDS:
                found.append(f"{type(w).__name__} texture")
            if getattr(w, "strokes", None):
                found.append(f"{type(w).__name__}.strokes")
            if isinstance(w, Label) and not w.text and w._label.texture not in (
                    None, getattr(w._label, "texture_1px", None)):
                # Kivy's core label keeps the pixels of the last text it rendered
                # when the text is emptied: a wiped name would still be drawn there.
                found.append(f"Label pixels: {where(w)}")
    # A step's screen, once left, keeps no rendered text (the welcome and closed
    # screens, shown between citizens, do).
    found += [f"{name} screen rendered" for name in dict.fromkeys(
        entry.split(":")[0] for entry in rendered_hidden(app))]
    return found


def where(widget: Any) -> str:
    """Which label: its id and its parents' classes, up to the screen or overlay."""
    chain, w = [], widget
    while w is not None and w is not w.parent and len(chain) < 6:
        chain.append(type(w).__name__)
        w = w.parent
    return f"{image_id(widget) or '-'} in {'/'.join(chain)}"


def image_id(image: Any) -> str:
    """Which screen id names this image. ``ids`` holds weak proxies: a proxy ``is``
    never its widget (the search compared so and found no image at all); ``__self__``
    is the widget itself."""
    w = image.parent
    while w is not None and w is not w.parent:
        for key, value in getattr(w, "ids", {}).items():
            try:
                if getattr(value, "__self__", value) is image:
                    return key
            except ReferenceError:  # an id whose widget is gone (a rebuilt kv rule's)
                DEAD_IDS.add(f"{type(w).__name__}.ids.{key}")
        w = w.parent
    return ""


def live_leaks(secrets: Collection[str], *, skip: Collection[int] = (),
               own_source: Callable[[object], bool] = lambda _obj: False) -> list[str]:
    """Every live Python container (list, dict, tuple, set, an object's attributes)
    holding a string with one of ``secrets``. ``skip``: ids of the caller's own objects
    (its report, its constants); ``own_source(obj)``: true for the caller's own source
    text the interpreter keeps (a driver that types a citizen's numbers holds them in its
    code). Modules and their globals are code, not data: skipped."""
    found: list[str] = []
    mine = {id(secrets), id(found), *skip}

    def contents(obj: object) -> list[object]:
        if isinstance(obj, dict):
            return list(obj.values()) + list(obj)
        if isinstance(obj, (list, tuple, set, frozenset)):
            return list(obj)
        try:
            return list(getattr(obj, "__dict__", {}).values())
        except (ReferenceError, TypeError):  # a weak proxy to a dead widget
            return []

    def holds(obj: object, depth: int = 0) -> str:
        """The first secret-bearing string in ``obj``, looking into the dicts, tuples
        and lists it holds too (those of strings alone the collector does not track,
        so gc.get_objects() never lists them)."""
        for value in contents(obj):
            if isinstance(value, str):
                if any(s in value for s in secrets):
                    return value
            elif depth < 3 and isinstance(value, (dict, list, tuple, set, frozenset)):
                inner = holds(value, depth + 1)
                if inner:
                    return inner
        return ""

    mine |= {id(module) for module in list(sys.modules.values())}  # code, not data
    mine |= {id(vars(module)) for module in list(sys.modules.values())
             if hasattr(module, "__dict__")}
    gc.unfreeze()  # the kiosk froze its start-up objects: get_objects() skips those
    try:
        for obj in gc.get_objects():
            if id(obj) not in mine and not own_source(obj):
                value = holds(obj)
                if value:
                    found.append(f"{type(obj).__name__}: {value[:40]!r}")
    finally:
        gc.freeze()
    return found
