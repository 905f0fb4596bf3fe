"""What a failed dispatch reports: the error annotated with the executable function that
failed, ``while executing dispatch 'NAME'``.

A compiled module names each dispatch site's function after its ONNX nodes
(``compiler/emit/executable_table.py``), so the annotation names the model's node however
the failure travels: raised by ``hal.command_buffer.dispatch`` when an inline command
buffer runs it (``local-sync``), or failing the submission's fence on a ``local-task``
worker thread and raised again by ``hal.fence.await``. Called by the dispatch executors
(``commands.py``) with any exception: a pyree error keeps its status code; anything else
escaping a kernel is pyree's bug (INTERNAL, naming the Python exception). With a tracer
active the dispatch event is recorded too, with the error in its args.
"""

from __future__ import annotations

from pyree import tracing
from pyree.status import InternalError, PyreeError


def function_name(executable, function_id) -> str:
    names = executable.function_names
    if function_id.__class__ is int and 0 <= function_id < len(names):
        return names[function_id]
    return f"function {function_id}"


def dispatch_failure(command, exc: BaseException, start: int = 0,
                     workgroup_count=None) -> PyreeError:
    """``exc`` as a PyreeError annotated with the dispatch's function name."""
    name = function_name(command.executable, command.function_id)
    if isinstance(exc, PyreeError):
        error = exc
    else:
        error = InternalError(f"{type(exc).__name__}: {exc}")
        error.__cause__ = exc
    tracer = tracing.TRACER
    if tracer is not None:
        args = {"function": name, "error": f"{error.code_name}; {error.message}"}
        if workgroup_count is not None:
            args["workgroup_count"] = list(workgroup_count)
        tracer.complete(name, "dispatch", start or tracer.now(), tracer.now(), args)
    return error.annotate(f"while executing dispatch '{name}'")
