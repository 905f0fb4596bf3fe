"""The ``pyree`` command-line tools, one module per subcommand.

Each subcommand module has ``add_parser(subparsers)``, which adds its argparse parser and
sets ``run`` (``run(args) -> exit status``) as a default. ``run`` reports failures by
raising :class:`~pyree.status.PyreeError`; :mod:`pyree.cli` prints them and chooses the
exit status (1 for a failure, 2 for bad usage). Shared pieces: :mod:`.loader` (module
files), :mod:`.values` (``--input`` parsing and result printing) and :mod:`.outputs`
(``--output`` files).
"""
