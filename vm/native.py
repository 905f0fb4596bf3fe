"""Authoring native modules in Python.

A native module is a subclass of :class:`NativeModule` whose exported functions are
methods marked with :func:`export` and a calling-convention string::

    from pyree.vm import NativeModule, export

    class Counter(NativeModule):
        name = "counter"
        version = 1

        def alloc_state(self, context):          # per-context state (optional)
            return {"count": 0}

        @export("0i_i")
        def bump(self, state, by):
            state["count"] += by
            return state["count"]

Every export is called as ``method(self, state, *args)``, with arguments in the
cross-module ABI (``int`` for ``i``/``I``, ``float`` for ``f``/``F``, an object or
``None`` for ``r``, a list per span ``C...D``, of tuples when the span has several
elements). It returns ``None`` (no results), one value, or a tuple of values. A method
written as a generator may suspend the invocation: ``yield`` (optionally yielding a
:class:`~pyree.vm.invocation.Wait`) and the host resumes it later; bytecode must call such
an import with ``vm.call.yieldable``.

Errors: raise any :class:`~pyree.status.PyreeError`; it is annotated
``while invoking native function module.function``. Any other exception is a bug in the
module and becomes an ``INTERNAL`` error naming the function. Results are checked against
the cconv (an ``i`` result must be an integer, ``r`` a registered ref type or ``None``).
Custom ref types are registered with :func:`pyree.vm.register_ref_type`.
"""

from __future__ import annotations

import inspect
import operator

from pyree import status
from pyree.bytecode import cconv as cc
from pyree.vm import backtrace
from pyree.vm import ref as vmref
from pyree.vm.list_ops import f32_bits_to_float, float_to_f32_bits
from pyree.vm.module import DirectExport, ExportCallables, ExportInfo, Module, ModuleState


def export(cconv: str, name: str | None = None):
    """Mark a method as an export with calling convention ``cconv``."""
    cc.parse(cconv)

    def mark(fn):
        fn._pyree_export = (name or fn.__name__, cconv)
        return fn
    return mark


class NativeModule(Module):
    name: str = ""
    version: int = 0

    def __init__(self):
        if not self.name:
            raise status.InvalidArgumentError(f"{type(self).__name__} has no module name")
        self._table: dict[str, tuple[str, object]] = {}
        for cls in reversed(type(self).__mro__):
            for attr in vars(cls).values():
                spec = getattr(attr, "_pyree_export", None)
                if spec is not None:
                    self._table[spec[0]] = (spec[1], attr)

    def exports(self) -> list[ExportInfo]:
        return [ExportInfo(n, c) for n, (c, _) in sorted(self._table.items())]

    def alloc_state(self, context):
        """Per-context state passed to every export; override to keep some."""
        return None

    def free_state(self, state) -> None:
        """Called when the context is destroyed."""

    def notify(self, state, signal: int) -> None:
        """Context notification (RESUME 0, SUSPEND 1, LOW_MEMORY 2, FORK 3)."""

    def create_state(self, context) -> NativeModuleState:
        return NativeModuleState(self, context, _hook(self, "alloc_state", context))


class NativeModuleState(ModuleState):
    def __init__(self, module: NativeModule, context, user_state):
        self.module = module
        self.context = context
        self.user_state = user_state
        self._callables: dict[str, ExportCallables] = {}

    def export_callables(self, name: str, *, budget: bool) -> ExportCallables | None:
        found = self._callables.get(name)
        if found is None:
            entry = self.module._table.get(name)
            if entry is None:
                return None
            cconv, fn = entry
            found = _adapt(self, name, cconv, fn)
            self._callables[name] = found
        return found

    def notify(self, signal: int) -> None:
        _hook(self.module, "notify", self.user_state, signal)

    def close(self) -> None:
        _hook(self.module, "free_state", self.user_state)


def _hook(module: NativeModule, name: str, *args):
    """Call a state hook; a Python exception in it is a module bug: INTERNAL."""
    try:
        return getattr(module, name)(*args)
    except status.PyreeError:
        raise
    except Exception as e:  # noqa: BLE001 - a module bug must not escape raw
        raise status.InternalError(
            f"native module {module.name}: {name} raised {type(e).__name__}: {e}") from e


def _adapt(state: NativeModuleState, name: str, cconv: str, fn) -> ExportCallables:
    label = f"{state.module.name}.{name}"
    results = _result_checker(label, cc.parse(cconv).result_chars)
    module, user_state = state.module, state.user_state

    if inspect.isgeneratorfunction(fn):
        def native_gen(inv, d, *args):
            try:
                value = yield from fn(module, user_state, *args)
                return results(value)
            except status.PyreeError as e:
                raise _nested(e).annotate(f"while invoking native function {label}")
            except Exception as e:  # noqa: BLE001 - a module bug must not escape raw
                raise _internal(label, e) from e

        def native_plain(inv, d, *args):
            from pyree.vm.codegen.runtime import drive
            return drive(native_gen(inv, d, *args))

        backtrace.register_native_code(native_gen.__code__)
        return ExportCallables(native_plain, native_gen, True, cconv)

    chars = cc.parse(cconv).result_chars
    make = _plain_adapter_factory(len(cc.parse(cconv).args), chars)
    native = make(fn, module, user_state, label, results, vmref._BY_CLS)
    backtrace.register_native_code(native.__code__)
    direct = DirectExport(fn, module, user_state, _direct_results(label, results),
                          _direct_error(label))
    backtrace.register_native_code(fn.__code__, label)
    return ExportCallables(native, native, False, cconv, direct)


def _direct_results(label: str, results):
    """The adapter's result check for a direct call: the same error, annotated as the
    adapter and the import call site would annotate it."""
    def direct_results(value):
        try:
            return results(value)
        except status.PyreeError as e:
            raise e.annotate(f"while invoking native function {label}").annotate(
                "while calling import")
    backtrace.register_native_code(direct_results.__code__)
    return direct_results


def _direct_error(label: str):
    """``exc -> error`` for an exception out of a direct call: what the adapter raises,
    then the import call site's annotation (translated code raises the result)."""
    def direct_error(exc):
        if isinstance(exc, status.PyreeError):
            err = _nested(exc).annotate(f"while invoking native function {label}")
        else:
            # The adapter raised it from its own (native) frame: keep the frames below.
            err = _internal(label, exc).with_traceback(exc.__traceback__)
            err.__cause__ = exc
        return err.annotate("while calling import")
    return direct_error


# The adapter of a plain export, one source per (argument count, result shape): explicit
# parameters instead of ``*args`` packing, and the common results checked inline (what
# ``_result_checker`` does first). The VM verifier and the host's argument conversion
# guarantee the argument count of every call.
_ADAPTER_SOURCE = """
def make(fn, module, user_state, label, results, registered):
    def native(inv, d{params}):
        try:
            value = fn(module, user_state{params})
{fast}            return results(value)
        except _PyreeError as e:
            raise _nested(e).annotate(f"while invoking native function {{label}}")
        except Exception as e:  # noqa: BLE001 - a module bug must not escape raw
            raise _internal(label, e) from e
    return native
"""
_FAST_RESULTS = {
    "": "            if value is None:\n                return ()\n",
    "r": "            if value is None or value.__class__ in registered:\n"
         "                return (value,)\n",
    "i": "            if value.__class__ is int and -2147483648 <= value <= 2147483647:\n"
         "                return (value,)\n",
}
_ADAPTER_FACTORIES: dict = {}


def _plain_adapter_factory(count: int, chars: str):
    key = (count, chars if chars in _FAST_RESULTS else None)
    make = _ADAPTER_FACTORIES.get(key)
    if make is None:
        source = _ADAPTER_SOURCE.format(params="".join(f", a{i}" for i in range(count)),
                                        fast=_FAST_RESULTS.get(key[1], ""))
        namespace = {"_PyreeError": status.PyreeError, "_nested": _nested,
                     "_internal": _internal}
        exec(compile(source, f"<pyree native adapter {count}>", "exec"), namespace)
        make = _ADAPTER_FACTORIES[key] = namespace["make"]
    return make


def _nested(err: status.PyreeError) -> status.PyreeError:
    """An error that ended an invocation the native function started (re-entering the VM
    through the context) carries that invocation's backtrace: keep it as an annotation,
    as IREE does (each line preceded by a newline), so the outer one does not replace it."""
    if err.backtrace:
        err.annotate("".join("\n" + line for line in err.backtrace))
        err.backtrace = []
    return err


def _internal(label: str, exc: Exception) -> status.PyreeError:
    if isinstance(exc, RecursionError):
        err = status.ResourceExhaustedError(f"native function {label}: {exc}")
    else:
        err = status.InternalError(
            f"native function {label} raised {type(exc).__name__}: {exc}")
    return err.annotate(f"while invoking native function {label}")


def _f32(x: float) -> float:
    """``x`` as an f32 value (NaN bits kept exactly, as the ABI copies bits)."""
    return f32_bits_to_float(float_to_f32_bits(x))


def _result_checker(label: str, chars: str):
    """``value -> results tuple`` for a cconv's result chars: :func:`_results`, with the
    common shapes (no result, one ref, one in-range integer) checked inline first."""
    if not chars:
        def no_results(value):
            if value is None:
                return ()
            return _results(label, chars, value)
        return no_results
    if chars == "r":
        registered = vmref._BY_CLS

        def one_ref(value):
            if value is None or value.__class__ in registered:
                return (value,)
            return _results(label, chars, value)
        return one_ref
    if chars in ("i", "I"):
        low, high = (-(1 << 31), 1 << 31) if chars == "i" else (-(1 << 63), 1 << 63)

        def one_int(value):
            if value.__class__ is int and low <= value < high:
                return (value,)
            return _results(label, chars, value)
        return one_int
    return lambda value: _results(label, chars, value)


def _results(label: str, chars: str, value) -> tuple:
    if not chars:
        if value is not None and value != ():
            raise status.InternalError(f"native function {label} returned a value but its "
                                       "cconv declares no results")
        return ()
    values = value if isinstance(value, tuple) else (value,)
    if len(values) != len(chars):
        raise status.InternalError(
            f"native function {label} returned {len(values)} results; cconv expects "
            f"{len(chars)}")
    return tuple([_check_value(label, i, c, v) for i, (c, v) in enumerate(zip(chars, values))])


def _check_value(label: str, i: int, c: str, v):
    try:
        if c in "iI":  # what an i32/i64 slot of the result buffer holds, read signed
            bits = 32 if c == "i" else 64
            v = operator.index(v) & ((1 << bits) - 1)
            return v - (1 << bits) if v >> (bits - 1) else v
        if c in "fF":
            if isinstance(v, (str, bytes, bytearray)):
                raise TypeError
            return _f32(float(v)) if c == "f" else float(v)
    except (TypeError, ValueError):
        kind = cc.CHAR_BANK[c]
        raise status.InternalError(f"native function {label} result {i}: expected {kind}, "
                                   f"got {type(v).__name__}") from None
    if v is not None and vmref.ref_type_of(v) is None:
        raise status.InternalError(f"native function {label} result {i}: expected a ref, got "
                                   f"{type(v).__name__} (not a registered ref type)")
    return v
