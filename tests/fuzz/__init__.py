"""Property-based fuzzing (Hypothesis) of every parser that reads bytes or text from outside
the process: sealed packets and their manifests, receipts, key files, tus ``Upload-Metadata``
and record ids at the intake, ZFM fingerprint frames, card APDUs / BER-TLV / the staff card,
TOML configuration, NIK / No. KK, upsd's lines, and the USB bundles and receipts files
a stick brings in.

The property is always the same: malformed input raises the parser's own typed error (a
:class:`~kiosk.errors.KioskError` subclass, or the error type the function documents), never
an untyped crash (``IndexError``, ``KeyError``, ``struct.error``, ``UnicodeDecodeError``,
``RecursionError``...) and never a hang; and valid input still parses.

Budget: by default every test runs a modest number of examples so that ``pytest tests/fuzz``
takes well under a minute on a two-core Pi-class machine. For a heavier run set
``KIOSK_FUZZ_EXAMPLES`` to the number of examples every test should try, e.g.::

    KIOSK_FUZZ_EXAMPLES=20000 .venv/bin/pytest -q tests/fuzz --timeout=7200

(``tests/fuzz/budget.py`` applies it; raise pytest-timeout's 300 s per test as shown, since
one test then runs for minutes. Examples Hypothesis found failing are kept in
``.hypothesis/`` and replayed first on the next run.)

Every bug this suite found is fixed, with its input kept as an ``@example`` or a plain
test, so it cannot come back unnoticed.
"""
