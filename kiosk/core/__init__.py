"""The bottom layer: facts every other part of the kiosk and the intake share.

Each fact has its one definition here, and every other module imports it:

* :mod:`kiosk.core.ids`: what a kiosk id, a record id, a key id and a public key's text are;
* :mod:`kiosk.core.vocabulary`: the journaled steps, the finger codes, the reasons a finger
  may be missing, the languages;
* :mod:`kiosk.core.canonical`: canonical JSON and the signature size of what is signed;
* :mod:`kiosk.core.ektp`: what the e-KTP prescribes (its portrait's background colours).

Writing a file atomically and durably is :func:`kiosk.fsutil.write_atomic`.
The exit statuses of ``kiosk`` and ``kiosk-intake`` are :mod:`kiosk.core.exits`'; the
names of the upload protocol both ends write (``docs/upload.md``),
:mod:`kiosk.core.intake_api`'s.

Nothing in this package imports anything else from ``kiosk`` (or ``intake``): it is the
layer below all of them, so any of them may import it without a circle.
"""
