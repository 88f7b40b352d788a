"""The outbox's far side: ``kiosk upload`` sends sealed records to the central intake.

Kept apart from the enrollment code on purpose: uploading runs as its own process
(``systemd/kiosk-upload.service``), so a slow or dead rural link never stalls a citizen at
the touchscreen, and a crash here never touches an enrollment in progress. The journal is
the only thing the two share. Protocol: ``docs/upload.md``; code:
:mod:`kiosk.upload.command` (``kiosk upload``: lock, signals, exit codes) over
:mod:`kiosk.upload.uploader` (the engine: passes, journaling; its ``[upload]`` settings
in :mod:`kiosk.upload.settings`) over :mod:`kiosk.upload.acknowledge` (receipts asked for,
verified, journaled) and :mod:`kiosk.upload.transfer` (one record's bytes over tus, the
next one created ahead) over :mod:`kiosk.upload.tus`
(tuspy with timeouts) and :mod:`kiosk.upload.failures` (why an
attempt failed, in one line, and what that means for the pass).
"""
