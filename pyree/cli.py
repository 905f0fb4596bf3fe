"""The ``pyree`` command line (console script ``pyree = "pyree.cli:main"``).

Subcommands (one module each under :mod:`pyree.tools`):

* ``pyree demo [N]``: run the bundled counter example, ``sum_to(N)``;
* ``pyree as-module IN.vmasm -o OUT.pyrm``: assemble (and verify) a module;
* ``pyree dump-module FILE``: print a module's disassembly;
* ``pyree run-module --module FILE... --function NAME --input VALUE...``: call a function
  and print its results, as ``iree-run-module`` does;
* ``pyree benchmark-module --module FILE... --function NAME --input VALUE...``: time a
  function and print latency statistics, as ``iree-benchmark-module`` does;
* ``pyree compile MODEL.onnx -o OUT.pyrm``: compile an ONNX model to a module;
* ``pyree vmtest FILE.vmasm...``: run the ``test_*`` / ``fail_*`` exports of modules.

Exit status: 0 on success, 1 when the command failed (the error is printed to stderr as
``pyree: error: <status text>``, with the VM backtrace when there is one), 2 for bad usage.
A Python traceback is shown only for a bug in pyree itself, and only when the environment
variable ``PYREE_TRACEBACK`` is set; otherwise such a bug is reported in one line.
Parsing uses :mod:`argparse` from the standard library (no extra dependency).
"""

from __future__ import annotations

import argparse
import os
import sys

from pyree import status

PROG = "pyree"


def build_parser() -> argparse.ArgumentParser:
    from pyree.tools import (as_module, benchmark_module, compile, demo, dump_module, fuzz,
                             run_module, vmtest)

    parser = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        description="pyree: an IREE-compatible VM and ML compiler in Python. "
                    "Start with `pyree demo`.")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for tool in (demo, compile, as_module, dump_module, run_module, benchmark_module, vmtest,
                 fuzz):
        tool.add_parser(sub)
    return parser


def error(message: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or bad usage (2)
        return e.code if isinstance(e.code, int) else 2
    run = getattr(args, "run", None)
    if run is None:
        parser.print_usage(sys.stderr)
        error("a command is required (try `pyree demo` or `pyree --help`)")
        return 2
    try:
        return run(args)
    except status.PyreeError as e:
        error(str(e))
        return 1
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:  # e.g. `pyree dump-module m.pyrm | head`
        _silence_stdout()
        return 1
    except Exception as e:
        if os.environ.get("PYREE_TRACEBACK"):
            raise
        error(f"internal error (a bug in pyree): {type(e).__name__}: {e}; set "
              "PYREE_TRACEBACK=1 to see the traceback")
        return 1


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the exit-time flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
