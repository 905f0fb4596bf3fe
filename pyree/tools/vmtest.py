"""``pyree vmtest FILE.vmasm... [--module FILE ...]``: run the tests written in modules.

Every export of each FILE named ``test_*`` must return normally; every export named
``fail_*`` must fail, and ``fail_<CODE>_...`` (``CODE`` a status code name such as
``OUT_OF_RANGE``) must fail with that code. Test functions take no arguments; results are
ignored. Each function runs in a fresh context: the ``--module`` files first (loaded once,
registered in order), then the FILE's module. FILE may also be a ``.pyrm`` container.

One line per function, ``PASS FILE::NAME`` or ``FAIL FILE::NAME: reason`` (a file that
does not load, or has no tests, is one ``FAIL FILE: reason`` line), then the summary line
``N passed, M failed``. Exit status 1 if anything failed. A FILE (or ``--module``) that
imports ``hal.*`` functions gets the ``hal`` module registered first, on one device of the
``--device`` driver (``local-sync``, the default, or ``local-task``) shared by the run.
"""

from __future__ import annotations

import sys

import attrs

from pyree import status
from pyree.tools import add_command, device, loader
from pyree.vm import Context

_CODE_NAMES = sorted((c.name for c in status.StatusCode), key=len, reverse=True)


def add_parser(subparsers):
    p = add_command(subparsers, "vmtest", __doc__, "run the test_* / fail_* exports of modules")
    p.add_argument("files", nargs="+", metavar="FILE.vmasm", help="modules holding tests")
    p.add_argument("--module", action="append", default=[], metavar="FILE",
                   help="module registered before each test module (repeatable)")
    device.add_option(p)
    p.set_defaults(run=run)
    return p


@attrs.frozen
class Outcome:
    label: str
    failure: str | None = None  # None: passed

    def line(self) -> str:
        return f"PASS {self.label}" if self.failure is None \
            else f"FAIL {self.label}: {self.failure}"


def expected_code(name: str) -> status.StatusCode | None:
    """The status code a ``fail_<CODE>_...`` function must fail with (None: any)."""
    rest = name[len("fail_"):]
    for code in _CODE_NAMES:
        if rest == code or rest.startswith(code + "_"):
            return status.StatusCode[code]
    return None


def status_line(err: status.PyreeError) -> str:
    """The status text of ``err`` without its backtrace (one line)."""
    return "; ".join([err.code_name, err.message, *err.annotations]).replace("\n", " ")


def run_test(preloads, module, name: str, label: str) -> Outcome:
    try:
        with Context([*preloads, module]) as context:
            fn = context.lookup_function(name, module.name)
            if fn.signature.args:
                return Outcome(label, f"test functions take no arguments (cconv {fn.cconv})")
            try:
                context.invoke(fn)
            except status.PyreeError as e:
                return _failed(name, label, e)
    except status.PyreeError as e:
        return Outcome(label, "context creation failed: " + status_line(e))
    if name.startswith("fail_"):
        return Outcome(label, "expected a failure, but it returned")
    return Outcome(label)


def _failed(name: str, label: str, err: status.PyreeError) -> Outcome:
    if name.startswith("test_"):
        return Outcome(label, status_line(err))
    code = expected_code(name)
    if code is not None and err.code != code:
        return Outcome(label, f"expected {code.name}, got {status_line(err)}")
    return Outcome(label)


def run_file(path: str, preloads, session: device.Session | None = None) -> list[Outcome]:
    """Runs every test of one file (the hal module from ``session`` added when needed)."""
    try:
        module = loader.load_modules(path)[-1]
    except status.PyreeError as e:
        return [Outcome(path, status_line(e))]
    names = [e.name for e in module.exports() if e.name.startswith(("test_", "fail_"))]
    if not names:
        return [Outcome(path, "no test_* or fail_* exports")]
    if session is not None:
        preloads = session.with_hal([*preloads, module])[:-1]
    return [run_test(preloads, module, name, f"{path}::{name}") for name in names]


def run(args, out=None, err=None) -> int:
    out = out or sys.stdout
    preloads = loader.load_all(args.module)
    passed = failed = 0
    with device.Session(args.device) as session:
        for path in args.files:
            for outcome in run_file(path, preloads, session):
                out.write(outcome.line() + "\n")
                out.flush()
                if outcome.failure is None:
                    passed += 1
                else:
                    failed += 1
        session.note_unused(err)
    out.write(f"{passed} passed, {failed} failed\n")
    return 1 if failed else 0
