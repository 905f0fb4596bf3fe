"""The ``--trace FILE.json`` option of ``run-module`` and ``benchmark-module``.

The run is recorded with :mod:`pyree.tracing` (VM invocations, HAL queue submissions,
fence waits, dispatches) from the moment the modules are registered (``__init`` included)
until the results are written, and saved as Chrome trace JSON: open it in Perfetto
(ui.perfetto.dev) or ``chrome://tracing``. The file is written also when the run fails.
"""

from __future__ import annotations

import contextlib

from pyree import tracing


def add_option(parser) -> None:
    parser.add_argument("--trace", metavar="FILE.json",
                        help="record a Chrome trace (Perfetto / chrome://tracing) of the run "
                             "into FILE.json")


def recording(path: str | None):
    """A context that traces its body into ``path``; nothing when ``path`` is None."""
    if path is None:
        return contextlib.nullcontext()
    return tracing.session(path)
