"""The ``pyree`` command-line tools, one module per subcommand.

Each subcommand module has ``add_parser(subparsers)``, which adds its argparse parser (with
:func:`add_command`) and sets ``run`` (``run(args) -> exit status``) as a default. ``run``
reports failures by raising :class:`~pyree.status.PyreeError`; :mod:`pyree.cli` prints them and chooses the
exit status (1 for a failure, 2 for bad usage). Shared pieces: :mod:`.loader` (module
files), :mod:`.values` (``--input`` parsing and result printing) and :mod:`.outputs`
(``--output`` files).
"""

import argparse as _argparse


def add_command(subparsers, name: str, doc: str, help: str) -> _argparse.ArgumentParser:
    """Adds subcommand ``name``; its ``--help`` shows ``doc`` (a module docstring) without
    the first paragraph and with reStructuredText literals turned into plain backquotes."""
    description = doc.split("\n\n", 1)[1].replace("``", "`")
    return subparsers.add_parser(name, help=help, description=description,
                                 formatter_class=_argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
