"""``pyree demo [N]``: assemble and run the bundled ``examples/counter.vmasm``.

Prints ``sum_to(N)`` (default 100), the counted loop of ``vmasm.md`` 8.1, exactly as
``pyree run-module --module examples/counter.vmasm --function sum_to --input N`` would.
The example ships as package data (``pyree/examples/counter.vmasm``), so this works from an
installed wheel.
"""

from __future__ import annotations

import importlib.resources
import sys

from pyree.tools import add_command, run_module
from pyree.vm import BytecodeModule

EXAMPLE = "counter.vmasm"


def add_parser(subparsers):
    p = add_command(subparsers, "demo", __doc__, "run the bundled counter example")
    p.add_argument("n", nargs="?", default="100", metavar="N",
                   help="argument of sum_to (default 100)")
    p.set_defaults(run=run)
    return p


def example_text(name: str = EXAMPLE) -> str:
    return importlib.resources.files("pyree").joinpath("examples").joinpath(name).read_text("utf-8")


def run(args) -> int:
    module = BytecodeModule.from_vmasm(example_text(), f"examples/{EXAMPLE}")
    sys.stdout.write(f"# examples/{EXAMPLE}: sum_to({args.n}), the sum of the integers "
                     f"1..{args.n}\n")
    return run_module.execute([module], "sum_to", [args.n])
