"""``docs/config.md``: every config key and backend option, generated from the declarations.

The reference is written from :data:`kiosk.config.SCHEMA` and each backend's ``OPTIONS``
(found through the device registry, :mod:`kiosk.devices`), so it cannot say something the
code does not do; ``tests/unit/test_config_doc.py`` fails when the file and the
declarations disagree. Regenerate it with::

    python -m kiosk.config_doc > docs/config.md
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from kiosk.config import SCHEMA
from kiosk.core.exits import EXIT_OK
from kiosk.devices import KINDS, backend_names, get_backend_class, section_of
from kiosk.errors import DeviceNotFound
from kiosk.options import Option, markdown_rows

HEADER = """# Configuration reference

Generated from the declarations in the code (`python -m kiosk.config_doc > docs/config.md`;
`tests/unit/test_config_doc.py` checks it is current): `kiosk/config_schema.py` declares the
sections, each hardware backend declares its own options (`OPTIONS` on its class), and one
checker (`kiosk/options.py`) validates them all. README's "Configuration" shows the common
keys; `kiosk config show` prints the merged configuration of a kiosk, secrets masked.

A backend's options are allowed in its section only when `type` names that backend; their
types are checked when the config loads, their values when the device is created (`kiosk
config check` creates every device without opening it).
"""

_TABLE_HEAD = ["| key | default | allowed | what it is |", "|---|---|---|---|"]


def _backend_options(kind: str, name: str) -> dict[str, Option] | None:
    """A backend's own options (those its section does not declare), or None when its
    module cannot be imported here (a vendor library absent)."""
    try:
        cls = get_backend_class(kind, name)
    except DeviceNotFound:
        return None
    section = SCHEMA[section_of(kind)]
    return {k: v for k, v in cls.OPTIONS.items() if k not in section}


def _lines() -> Iterator[str]:
    yield HEADER
    kinds = {section_of(kind): kind for kind in KINDS}
    for section, options in SCHEMA.items():
        yield f"## [{section}]"
        yield ""
        if section in kinds:
            names = ", ".join(f"`{n}`" for n in backend_names(kinds[section]))
            yield f"`type` selects the backend: {names}."
            yield ""
        yield from _TABLE_HEAD
        yield from markdown_rows(section, options)
        yield ""
        if section not in kinds:
            continue
        for name in backend_names(kinds[section]):
            own = _backend_options(kinds[section], name)
            if own is None:
                yield f"### `type = \"{name}\"`: its library is not installed here"
                yield ""
                continue
            yield f"### `type = \"{name}\"`"
            yield ""
            if not own:
                yield "No options of its own."
                yield ""
                continue
            yield from _TABLE_HEAD
            yield from markdown_rows(section, own)
            yield ""


def render() -> str:
    """The whole of ``docs/config.md``."""
    return "\n".join(_lines()).rstrip("\n") + "\n"


def main() -> int:
    sys.stdout.write(render())
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
