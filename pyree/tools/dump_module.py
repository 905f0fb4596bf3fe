"""``pyree dump-module FILE``: print a module as ``.vmasm`` text.

Like ``iree-dump-module --output=disassembly``. ``FILE`` is a ``.pyrm`` container or a
``.vmasm`` file (assembled first), or ``-`` for stdin. The output assembles back to the
same module: ``pyree as-module`` on it writes a byte-identical ``.pyrm``. The module is not
verified, so broken modules can be inspected. ``--bytecode-offsets`` prefixes every
instruction with its pc (``[0000001B]``); the assembler ignores such prefixes.
"""

from __future__ import annotations

import sys

from pyree.tools import add_command, loader


def add_parser(subparsers):
    p = add_command(subparsers, "dump-module", __doc__,
                    "print the disassembly of a .pyrm or .vmasm module")
    p.add_argument("file", metavar="FILE", help=".pyrm or .vmasm module ('-' for stdin)")
    p.add_argument("--bytecode-offsets", "--bytecode_offsets", action="store_true",
                   dest="bytecode_offsets", help="prefix each instruction with its pc")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from pyree.bytecode.disasm import disassemble

    module_def = loader.load_module_def(args.file)
    text = disassemble(module_def, bytecode_offsets=args.bytecode_offsets)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
