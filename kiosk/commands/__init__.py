"""The functions behind the ``kiosk`` verbs, one module per kind of work; the argument
parser and the table from verb to function are :mod:`kiosk.cli`'s.

* :mod:`kiosk.commands.enroll`: ``run``, ``demo``, ``upload`` (the kiosk at its work);
* :mod:`kiosk.commands.records`: ``status``, ``queue``, ``journal``, ``metrics`` (what the
  kiosk holds, for a maintainer);
* :mod:`kiosk.commands.setup`: ``config``, ``keys``, ``update``;
* :mod:`kiosk.commands.devices`: ``hw``, ``power`` (the devices and the UPS);
* :mod:`kiosk.commands.output`: JSON-or-text output (the exit statuses:
  :mod:`kiosk.core.exits`).

Each function takes the loaded :class:`~kiosk.config.Config` and the parsed arguments and
returns the exit status. What it needs beyond the config is imported inside it, so that a
verb loads only its own dependencies (Kivy only for ``run``).
"""
