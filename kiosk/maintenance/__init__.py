"""Maintainer tools behind ``kiosk hw ...``: beside the drivers, not inside them.

Like gpiozero's ``cli/pinout.py`` apart from its devices: each tool takes the kiosk's
:class:`~kiosk.config.Config`, builds the configured device through
:func:`kiosk.hardware.registry.create_device` and prints what it did. The drivers in
:mod:`kiosk.hardware` never import the config (an import-linter contract in
``pyproject.toml`` keeps it so).

``fingerprint`` (``kiosk hw fingerprint capture``), ``camera`` (``kiosk hw camera
snapshot``), ``card`` (``kiosk hw card watch``), ``gpio`` (``kiosk hw gpio test``).
"""
