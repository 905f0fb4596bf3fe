"""The ``--device`` option of ``run-module`` and ``vmtest``, reserved for the HAL.

No module imports the ``hal`` module yet, so there is nothing to create a device for: the
option accepts the two CPU drivers IREE names (``local-sync``, ``local-task``) and
ignores them with a note on stderr. Any other value is a usage error (exit status 2).
When the HAL lands, this is where the device is created and its module registered.
"""

from __future__ import annotations

import sys

DEVICES = ("local-sync", "local-task")


def add_option(parser) -> None:
    parser.add_argument(
        "--device", choices=DEVICES, metavar="DEVICE",
        help="HAL device (local-sync or local-task); reserved: accepted and ignored until "
             "the HAL module exists")


def check(args, err=None) -> None:
    """Print the note for an ignored ``--device``."""
    if getattr(args, "device", None):
        err = err or sys.stderr
        err.write(f"pyree: note: --device {args.device} is accepted but ignored: no module "
                  "imports the HAL yet\n")
