"""``pyree run-module``: call one exported function, like ``iree-run-module``.

``--module FILE`` (repeatable) names ``.pyrm``, ``.vmasm`` or Python native-module files;
they are registered in order in one context, so later modules import from earlier ones.
``--function NAME`` is an export of the last module, or ``MODULE.NAME`` for another one.
Each ``--input VALUE`` is one argument, parsed against the function's calling convention
(``42``, ``0x2A``, ``-2.5``, ``(null)``; write ``--input=-inf`` for values that look like
options). ``pyree`` prints ``EXEC @NAME``, then ``result[i]: i32=42`` etc. ``--output``
(one per result: empty, ``-``, ``@path[.npy]``, ``+path[.npy]``) writes results to files
instead. Failures print the status text with its backtrace and exit with status 1.

When a module imports ``hal.*`` functions the ``hal`` module is registered first, on a
``--device`` (``local-sync``, the default, or ``local-task``); ``r`` inputs then take
tensors (``2x2xf32=1 2 3 4``, ``@file.npy``, ``&TENSOR``: ``hal-abi.md`` 6.1) and buffer view
results print as ``2x2xf32=[1 2][3 4]``. A compiled model (``pyree compile``) is such a module:
its ``main`` takes and returns buffer views (``--input=2x4xf32=1 2 ...`` or ``--input=@x.npy``,
``--output=@y.npy``).

``--trace FILE.json`` records a Chrome trace of the run (``pyree.tracing``: VM invocations,
queue submissions, fence waits, dispatches), for Perfetto or ``chrome://tracing``.
"""

from __future__ import annotations

import contextlib
import sys

from pyree import status
from pyree.tools import add_command, device, loader, outputs, trace_option, values
from pyree.vm import Context, Function


def add_call_arguments(p) -> None:
    """--module / --function / --input, shared with benchmark-module."""
    p.add_argument("--module", action="append", required=True, metavar="FILE",
                   help=".pyrm, .vmasm or .py (native) module; repeat to register several")
    p.add_argument("--function", required=True, metavar="NAME",
                   help="export of the last module, or MODULE.NAME")
    p.add_argument("--input", action="append", default=[], metavar="VALUE",
                   help="one function argument; repeat per argument")


def add_parser(subparsers):
    p = add_command(subparsers, "run-module", __doc__,
                    "run a function of a module (like iree-run-module)")
    add_call_arguments(p)
    p.add_argument("--output", action="append", metavar="SPEC",
                   help="one per result: '' (discard), '-' (print), @path / +path "
                        "(write / append; .npy files get NumPy format)")
    p.add_argument("--output-max-element-count", "--output_max_element_count", type=int,
                   default=values.DEFAULT_MAX_ELEMENTS, dest="max_elements", metavar="N",
                   help="at most N tensor elements printed per result (default %(default)s)")
    device.add_option(p)
    trace_option.add_option(p)
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    modules = loader.load_all(args.module)
    with trace_option.recording(args.trace):
        return execute(modules, args.function, args.input, args.output,
                       max_elements=args.max_elements, device_name=args.device)


def lookup(context: Context, main, name: str) -> Function:
    """``name`` as an export of ``main``, else as ``MODULE.FUNCTION`` in the context."""
    if main.lookup_export(name) is not None or "." not in name:
        return context.lookup_function(name, main.name)
    module_name, _, fn_name = name.partition(".")
    if context.find_state(module_name) is None:
        raise status.NotFoundError(f"no function `{name}` exported by module `{main.name}`")
    return context.lookup_function(fn_name, module_name)


@contextlib.contextmanager
def prepared_call(modules, function: str, inputs, device_name: str | None = None, err=None):
    """Registers ``modules`` (after the hal module on ``device_name`` when one imports
    it) and yields ``(session, context, fn, args)``: ``function`` looked up and
    ``inputs`` (texts) parsed for its cconv. The device session closes on exit."""
    with device.Session(device_name) as session:
        main = modules[-1]
        modules = session.with_hal(modules)
        session.note_unused(err)
        with Context(modules) as context:
            fn = lookup(context, main, function)
            yield session, context, fn, values.parse_inputs(inputs, fn.cconv,
                                                            session.input_state())


def execute(modules, function: str, inputs, output_specs=None, *, out=None,
            max_elements: int = values.DEFAULT_MAX_ELEMENTS, device_name: str | None = None,
            err=None) -> int:
    """Register ``modules`` (after the hal module on ``device_name`` when one imports it),
    call ``function`` with ``inputs`` (texts), print or write the results."""
    out = out or sys.stdout
    specs = None if output_specs is None else [outputs.OutputSpec.parse(t)
                                               for t in output_specs]
    with prepared_call(modules, function, inputs, device_name, err) as (_, context, fn, args):
        out.write(f"EXEC @{function}\n")
        out.flush()
        results = context.invoke(fn, args)
        if specs is None:
            out.write(values.format_results(results, fn.cconv, max_elements))
        else:
            outputs.write_results(specs, results, fn.cconv, out, max_elements)
    return 0
