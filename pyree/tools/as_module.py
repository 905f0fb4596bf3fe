"""``pyree as-module IN.vmasm [-o OUT.pyrm]``: assemble a module into a ``.pyrm`` container.

Like ``iree-as-module``. The module is loaded once before it is written (verification,
type resolution), so a file that would fail at load time is reported here; ``--no-verify``
skips that. ``IN`` may be ``-`` (stdin); ``-o -`` writes the container to stdout. Without
``-o`` the output is ``IN`` with the extension ``.pyrm``.
"""

from __future__ import annotations

import os
import sys

from pyree.bytecode import container
from pyree.tools import add_command, loader
from pyree.vm import BytecodeModule


def add_parser(subparsers):
    p = add_command(subparsers, "as-module", __doc__, "assemble a .vmasm file into a .pyrm module")
    p.add_argument("input", metavar="IN.vmasm", help="assembly text ('-' for stdin)")
    p.add_argument("-o", "--output", metavar="OUT.pyrm",
                   help="output file ('-' for stdout; default: IN with extension .pyrm)")
    p.add_argument("--no-verify", action="store_true",
                   help="write the module without loading (verifying) it first")
    p.set_defaults(run=run)
    return p


def default_output(path: str) -> str:
    if path == "-":
        return "-"
    return os.path.splitext(path)[0] + container.FILE_EXTENSION


def run(args) -> int:
    module_def = loader.assemble_bytes(loader.read_bytes(args.input), args.input)
    if not args.no_verify:
        BytecodeModule(module_def)
    output = args.output or default_output(args.input)
    if output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(container.write(module_def))
        sys.stdout.buffer.flush()
    else:
        container.save_file(output, module_def)
    return 0
