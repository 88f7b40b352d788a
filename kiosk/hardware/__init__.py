"""The device drivers: one package per device kind, each with its base class, its real
backend(s) and its double (a simulator, or an emulator that speaks the real bytes).

A double's own launcher stays beside it: ``python -m kiosk.hardware.fingerprint.emulator``
(the ZFM on a pty), ``python -m kiosk.hardware.card.vcard`` (a staff card for pcscd's vpcd),
``python -m kiosk.hardware.camera.testclip`` (a clip the ``v4l2`` backend reads as a webcam)
and ``python -m kiosk.hardware.camera.variations`` (the simulated camera's scenarios) stand in
for a device and read no config. The commands that work a configured device (``kiosk hw
...``) are beside the drivers, in :mod:`kiosk.maintenance`.
"""
