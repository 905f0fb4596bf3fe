"""Invoking functions from the host: argument checks, begin/resume, budgets, backtraces.

:func:`begin_call` starts an invocation and runs it until it returns, fails or suspends;
a suspended :class:`Call` is continued with :meth:`Call.resume`. :func:`invoke` is the
synchronous loop of ``vm-runtime.md`` 9.2: it resumes until the call completes, performing
any :class:`Wait` a suspended import asked for.

Limits that untrusted modules cannot pass: the call depth (RESOURCE_EXHAUSTED), and an
optional instruction budget and/or wall-clock deadline per invocation (DEADLINE_EXCEEDED).
"""

from __future__ import annotations

import operator
import sys
import threading
import time

from pyree import status
from pyree.bytecode import cconv as cc
from pyree.vm import backtrace
from pyree.vm import ref as vmref
from pyree.vm.list_ops import f32_bits_to_float, float_to_f32_bits

#: Budget units consumed between two looks at the clock when a deadline is set.
_CHUNK = 1 << 16

DEFERRED = status.StatusCode.DEFERRED
OK = status.StatusCode.OK


class Wait:
    """Yielded by a suspending native function: what the host should wait on before
    resuming. ``wait(timeout)`` blocks; the default resumes immediately."""

    def wait(self, timeout: float | None = None) -> None:
        """Block until the awaited condition holds (or ``timeout`` seconds pass)."""


class Invocation:
    """Per-invocation state visible to translated code (``inv``)."""

    __slots__ = ("budget", "remaining", "deadline", "on_trace", "context")

    def __init__(self, context, instruction_budget=None, deadline=None, on_trace=None):
        self.context = context
        self.remaining = instruction_budget
        self.deadline = deadline
        self.on_trace = on_trace
        self.budget = 0
        self.refill()

    @classmethod
    def plain(cls, context) -> Invocation:
        """An invocation without budget or deadline (runs the unbudgeted translation)."""
        inv = cls.__new__(cls)
        inv.context = context
        inv.remaining = inv.deadline = inv.on_trace = None
        inv.budget = _CHUNK
        return inv

    def refill(self) -> None:
        """Called by translated code when ``budget`` runs out."""
        spent_chunk = -self.budget if self.budget < 0 else 0
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise status.DeadlineExceededError("invocation deadline exceeded")
        if self.remaining is not None:
            self.remaining -= spent_chunk
            if self.remaining < 0:
                raise status.DeadlineExceededError("instruction budget exhausted")
            chunk = min(self.remaining, _CHUNK)
            self.remaining -= chunk
            self.budget = chunk
        else:
            self.budget = _CHUNK


def _f32(x: float) -> float:
    """``x`` as an f32 value (NaN bits kept exactly, as the ABI copies bits)."""
    return f32_bits_to_float(float_to_f32_bits(x))


def convert_args(label: str, chars_or_elements, args) -> list:
    """Check host arguments against a cconv; return them in ABI form."""
    elements = chars_or_elements
    if len(args) != len(elements):
        if not args and elements:
            raise status.InvalidArgumentError(
                f"{label}: no input provided to a function that has inputs")
        raise status.InvalidArgumentError(
            f"{label}: input list and function mismatch; expected {len(elements)} arguments "
            f"but passed {len(args)}")
    return [_convert(label, i, e, a) for i, (e, a) in enumerate(zip(elements, args))]


def arg_converter(label: str, elements):
    """``args -> ABI args`` for a fixed cconv: :func:`convert_args`, with plain arguments
    (refs, ints already in the signed range of their width) passed through unchanged."""
    if any(e not in ("r", "i", "I") for e in elements):
        return lambda args: convert_args(label, elements, args)
    # One generated test per argument, unrolled (no loop, no zip): a ref is None or of a
    # registered class, an int is a plain int in its width's signed range.
    limits = {"i": (-(1 << 31), 1 << 31), "I": (-(1 << 63), 1 << 63)}
    tests = [f"len(args) == {len(elements)}"]
    for i, e in enumerate(elements):
        if e == "r":
            tests.append(f"((v := args[{i}]) is None or v.__class__ in registered)")
        else:
            low, high = limits[e]
            tests.append(f"(v := args[{i}]).__class__ is int and {low} <= v < {high}")
    source = (f"def convert(args):\n    if {' and '.join(tests)}:\n        return args\n"
              "    return convert_args(label, elements, args)\n")
    namespace = {"registered": vmref._BY_CLS, "convert_args": convert_args, "label": label,
                 "elements": elements}
    exec(compile(source, f"<pyree arg converter {label}>", "exec"), namespace)  # noqa: S102
    return namespace["convert"]


def _convert(label, i, element, value):
    if isinstance(element, cc.Span):
        if not isinstance(value, (list, tuple)):
            raise status.InvalidArgumentError(f"{label}: argument {i} is a span; pass a list")
        return [_span_item(label, f"{i} element {j}", element.elements, item)
                for j, item in enumerate(value)]
    try:
        if element in "iI":
            if isinstance(value, float):
                raise TypeError
            v = operator.index(value)
            bits = 32 if element == "i" else 64
            v &= (1 << bits) - 1
            return v - (1 << bits) if v >> (bits - 1) else v
        if element in "fF":
            if isinstance(value, (str, bytes, bytearray)):
                raise TypeError  # float() would parse text; a string is not a number
            return _f32(float(value)) if element == "f" else float(value)
    except (TypeError, ValueError):
        kind = cc.CHAR_BANK[element]
        raise status.InvalidArgumentError(
            f"{label}: argument {i}: expected {kind}, got {type(value).__name__}") from None
    if value is not None and vmref.ref_type_of(value) is None:
        raise status.InvalidArgumentError(
            f"{label}: argument {i}: expected a ref, got {type(value).__name__} "
            "(not a registered ref type)")
    return value


def _span_item(label, where, chars, item):
    """One element of a span: a value, or a tuple of values when the span has several."""
    if len(chars) == 1:
        return _convert(label, where, chars, item)
    if not isinstance(item, (list, tuple)) or len(item) != len(chars):
        raise status.InvalidArgumentError(
            f"{label}: argument {where}: expected a tuple of {len(chars)} values "
            f"({chars}), got {type(item).__name__}")
    return tuple(_convert(label, where, c, v) for c, v in zip(chars, item))


class Call:
    """An invocation in progress: ``status`` is OK (``results`` set) or DEFERRED."""

    def __init__(self, label: str, inv: Invocation, gen):
        self.label = label
        self.invocation = inv
        self._gen = gen
        self.status = DEFERRED
        self.results: tuple | None = None
        self.pending: object = None  # what the suspended callee yielded (e.g. a Wait)
        self._busy = threading.Lock() if gen is not None else None

    def resume(self) -> Call:
        busy = self._busy
        if busy is None or self.status is not DEFERRED:
            raise status.FailedPreconditionError(f"{self.label}: call is not suspended")
        if not busy.acquire(blocking=False):
            raise status.BusyResourceError(
                f"{self.label}: call is being resumed by another thread")
        try:
            return self._resume()
        finally:
            busy.release()

    def _resume(self) -> Call:
        if self.status is not DEFERRED:
            raise status.FailedPreconditionError(f"{self.label}: call is not suspended")
        try:
            deadline = self.invocation.deadline
            if deadline is not None and time.monotonic() > deadline:
                raise status.DeadlineExceededError("invocation deadline exceeded")
            self.pending = self._gen.send(None)
        except StopIteration as stop:
            self.status, self.results, self._gen = OK, stop.value, None
        except BaseException as exc:
            gen, self._gen = self._gen, None
            self.status = None
            gen.close()  # a no-op if the failure came from inside; else unwinds the frames
            raise vm_error(self.label, exc) from None
        return self


def begin_call(label: str, callables, args, inv: Invocation) -> Call:
    try:
        result = callables.yieldable(inv, 0, *args)
    except BaseException as exc:
        raise vm_error(label, exc) from None
    if result.__class__ is not GENERATOR:
        call = Call(label, inv, None)
        call.status, call.results = OK, result
        return call
    return Call(label, inv, result).resume()


def run_to_completion(call: Call, timeout: float | None = None) -> tuple:
    deadline = call.invocation.deadline
    while call.status is DEFERRED:
        if isinstance(call.pending, Wait):
            wait_for = timeout
            if deadline is not None:  # a wait must not outlast the invocation's deadline
                left = max(0.0, deadline - time.monotonic())
                wait_for = left if wait_for is None else min(wait_for, left)
            call.pending.wait(wait_for)
        call.resume()
    return call.results


def vm_error(label: str, exc: BaseException) -> status.PyreeError:
    tb = exc.__traceback__
    if isinstance(exc, status.PyreeError):
        err = exc
    elif isinstance(exc, RecursionError):
        err = status.ResourceExhaustedError(f"call stack exhausted: {exc}")
    elif isinstance(exc, MemoryError):
        err = status.ResourceExhaustedError(f"out of memory: {exc}")
    elif isinstance(exc, (KeyboardInterrupt, SystemExit)):
        raise exc
    else:
        err = status.InternalError(f"{type(exc).__name__}: {exc}")
    frames = backtrace.frames_from_traceback(tb)
    err.backtrace = backtrace.format_frames(frames)
    err.annotate(f"invoking function '{label}'")
    _clear_frames(tb)
    return err.with_traceback(None)


def _clear_frames(tb) -> None:
    """Drop the registers of torn-down frames now (their refs are released)."""
    while tb is not None:
        try:
            tb.tb_frame.clear()
        except RuntimeError:  # a frame still executing (the caller's own)
            pass
        tb = tb.tb_next


GENERATOR = type((lambda: (yield))())


def ensure_recursion_limit(depth: int) -> None:
    need = 3 * depth + 2000
    if sys.getrecursionlimit() < need:
        sys.setrecursionlimit(need)
