"""Differential testing: pyree's execution tiers against the reference evaluator.

:func:`check` runs a :class:`~pyree.testing.strategies.Program` on the reference (twice,
under both NaN policies) and on every pyree tier in :data:`TIERS`, each in a fresh
context, calling the entry function ``calls`` times (globals carry over between calls).
Outcomes are compared as :class:`Outcome` values: the status code of a failure, or the
results as bits (i32/i64 as unsigned ints, f32/f64 as IEEE bits, refs described by
content and by identity: which results are the same object as each other, an argument or
a rodata segment). A mismatch raises :class:`Disagreement`.

A program whose reference outcome changes with the NaN policy depends on NaN payloads the
ISA leaves unspecified; it is reported as :data:`INDETERMINATE` and not compared. Traps
the reference documents leave open (a set of codes) accept any code of the set.

Tiers: ``plain`` (the fast host call, unbudgeted translation), ``budget`` (``invoke``
with an instruction budget and a deadline: the budgeted translation) and ``container``
(the module written to a ``.pyrm`` container, read back and run). A new tier registers
a runner in :data:`TIERS`.
"""

from __future__ import annotations

import contextlib
import math
import struct

import attrs

from pyree import status
from pyree.bytecode import cconv as cc
from pyree.testing import reference as ref
from pyree.testing.strategies import Program

INDETERMINATE = "indeterminate"
OK = 0


@attrs.frozen
class BufferArg:
    """A host buffer argument (materialised separately for each side)."""

    data: bytes
    mutable: bool = True


@attrs.frozen
class ListArg:
    """A host value-list argument."""

    element: str
    values: tuple = ()


@attrs.frozen
class Outcome:
    """One call: a success with ``results`` (and the ``objects`` they and the ref
    arguments describe), or a failure (``failed``) with its status code, or for the
    reference the set of acceptable codes. ``vm.fail 32`` fails with code 0: a failure,
    not a success."""

    codes: frozenset
    results: tuple | None = None
    objects: tuple = ()
    message: str = ""
    failed: bool = True

    @property
    def ok(self) -> bool:
        return not self.failed

    def matches(self, actual: Outcome) -> bool:
        if self.failed != actual.failed:
            return False
        if self.failed:
            return actual.codes <= self.codes
        return (self.results, self.objects) == (actual.results, actual.objects)

    def summary(self) -> str:
        if self.ok:
            return f"OK {self.results} {self.objects}" if self.objects else f"OK {self.results}"
        names = "|".join(_code_name(c) for c in sorted(self.codes))
        return f"{names}: {self.message}"


def _success(results, objects) -> Outcome:
    return Outcome(frozenset({OK}), results, objects, failed=False)


def _code_name(code: int) -> str:
    try:
        return status.StatusCode(code).name
    except ValueError:
        return f"CODE_{code}"


class Disagreement(AssertionError):
    def __init__(self, tier: str, call: int, expected: Outcome, actual: Outcome):
        self.tier, self.call, self.expected, self.actual = tier, call, expected, actual
        super().__init__(f"tier {tier!r}, call {call}: reference {expected.summary()} but "
                         f"pyree {actual.summary()}")


# -- describing results ---------------------------------------------------------------------

class _Objects:
    """Numbers objects in discovery order; arguments and rodata have fixed names. The
    ``watched`` objects (the ref arguments) are described after every call, so that what
    a program did to them is compared too."""

    def __init__(self, fixed: dict, watched=()):
        self.ids = dict(fixed)  # id(obj) -> name
        self.keep = list(fixed)
        self.table: list = []
        self.pending: list = [w for w in watched if w is not None]

    def name(self, obj):
        if obj is None:
            return None
        key = id(obj)
        if key not in self.ids:
            self.ids[key] = f"#{len(self.ids)}"
            self.keep.append(obj)
            self.pending.append(obj)
        return self.ids[key]


def _f32_bits_of_float(x: float) -> int:
    d = struct.unpack("<Q", struct.pack("<d", x))[0]
    if math.isnan(x):
        return (d >> 63) << 31 | 0x7F800000 | ((d >> 29) & 0x7FFFFF)
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _f64_bits_of_float(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


# -- the reference side ---------------------------------------------------------------------

def _ref_arg(a):
    if isinstance(a, BufferArg):
        return ref.RBuffer(bytearray(a.data), (ref.MUTABLE if a.mutable else 0) | ref.ORIGIN_HOST)
    if isinstance(a, ListArg):
        lst = ref.RList("value", a.element)
        lst.items = list(a.values)
        return lst
    return a


def _describe_ref_object(obj, objects: _Objects):
    if isinstance(obj, ref.RBuffer):
        return ("buffer", bool(obj.flags & ref.MUTABLE), bytes(obj.data))
    if isinstance(obj, ref.RList):
        kind = ("variant",) if obj.kind == "variant" else (obj.kind, obj.element)
        items = []
        for e in obj.items:
            if obj.kind == "value":
                items.append(_value_bits(obj.element, e))
            elif obj.kind == "ref":
                items.append(objects.name(e))
            elif e is None:
                items.append(None)
            elif e[0] == "v":
                items.append((e[1], _value_bits(e[1], e[2])))
            else:
                items.append(("ref", objects.name(e[1])))
        return ("list", kind, tuple(items))
    return ("opaque",)


def _value_bits(t: str, v: int) -> int:
    width = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}[t]
    return v & ((1 << width) - 1)


def _finish(results, objects: _Objects, describe) -> tuple:
    table = []
    while objects.pending:
        obj = objects.pending.pop(0)
        table.append((objects.ids[id(obj)], describe(obj, objects)))
    return tuple(results), tuple(table)


def run_reference(program: Program, *, imports=None, calls: int = 2,
                  nan_policy: str = "hardware", budget: int = 2_000_000,
                  limits=None) -> list[Outcome]:
    host = {name: (v[1] if isinstance(v, tuple) else v) for name, v in (imports or {}).items()}
    fixed = {}
    try:
        for lib in program.libraries:  # registered first; the module imports their exports
            lm = ref.Machine(lib, host, nan_policy=nan_policy, budget=budget, limits=limits)
            host.update({f"{lib.name}.{e.name}": ref.Export(lm, e.name) for e in lib.exports})
            fixed.update({id(b): f"{lib.name}.rodata{k}" for k, b in enumerate(lm.rodata)})
        machine = ref.Machine(program.module, host, nan_policy=nan_policy,
                              budget=budget, limits=limits)
    except ref.Trap as t:
        return [Outcome(t.codes, message=t.message)]
    args = [_ref_arg(a) for a in program.args]
    fixed.update({id(a): f"arg{i}" for i, a in enumerate(args) if a is not None
                  and not isinstance(a, (int, float))})
    fixed.update({id(b): f"rodata{k}" for k, b in enumerate(machine.rodata)})
    sig = cc.parse(program.module.functions[_entry(program)].cconv)
    watched = [a for a in args if isinstance(a, (ref.RBuffer, ref.RList))]
    out = []
    for _ in range(calls):
        try:
            values = machine.call(program.function, args)
        except ref.Trap as t:
            out.append(Outcome(t.codes, message=t.message))
            continue
        objects = _Objects(fixed, watched)
        results = []
        for c, v in zip(sig.result_chars, values):
            results.append((c, objects.name(v)) if c == "r" else (c, _value_bits(
                cc.CHAR_BANK[c], v)))
        res, table = _finish(results, objects, _describe_ref_object)
        out.append(_success(res, table))
    return out


def _entry(program: Program) -> int:
    for e in program.module.exports:
        if e.name == program.function:
            return e.function
    raise status.NotFoundError(f"no export {program.function}")


def reference_outcomes(program: Program, **kw) -> list[Outcome] | str:
    """The reference outcome of each call, or :data:`INDETERMINATE` when it depends on
    unspecified NaN payloads."""
    with _quiet_numpy():
        first = run_reference(program, nan_policy="hardware", **kw)
        second = run_reference(program, nan_policy="canonical", **kw)
    return first if first == second else INDETERMINATE


@contextlib.contextmanager
def _quiet_numpy():
    import numpy as np
    with np.errstate(all="ignore"):
        yield


# -- the pyree side -------------------------------------------------------------------------

def _vm():
    from pyree import vm  # imported lazily: the reference side never needs it
    return vm


def _pyree_arg(a):
    vm = _vm()
    if isinstance(a, BufferArg):
        return vm.VmBuffer.from_bytes(a.data, mutable=a.mutable)
    if isinstance(a, ListArg):
        lst = vm.VmList.of(a.element)
        lst.resize(len(a.values))
        setter = {"i8": lst.set_i32, "i16": lst.set_i32, "i32": lst.set_i32,
                  "i64": lst.set_i64, "f32": lst.set_f32, "f64": lst.set_f64}[a.element]
        for i, v in enumerate(a.values):
            setter(i, v)
        return lst
    return a


def _describe_vm_object(obj, objects: _Objects):
    vm = _vm()
    if type(obj) is vm.VmBuffer:
        return ("buffer", bool(obj.flags & vm.VmBuffer.MUTABLE), obj.tobytes())
    if type(obj) is vm.VmList:
        et = obj.element_type
        if isinstance(et, vm.ValueType):
            name = et.type_name
            getter = {"i8": obj.get_i32, "i16": obj.get_i32, "i32": obj.get_i32,
                      "i64": obj.get_i64, "f32": obj.get_f32, "f64": obj.get_f64}[name]
            items = tuple(_value_bits(name, getter(i)) for i in range(obj.size))
            return ("list", ("value", name), items)
        if isinstance(et, vm.RefType):
            items = tuple(objects.name(obj.get_variant(i)) for i in range(obj.size))
            return ("list", ("ref", et.name), items)
        items = []
        for i in range(obj.size):
            v = obj.get_variant(i)
            if v is None:
                items.append(None)
            elif type(v) is vm.TypedValue:
                items.append((v.type.type_name, _typed_bits(v)))
            else:
                items.append(("ref", objects.name(v)))
        return ("list", ("variant",), tuple(items))
    return ("opaque",)


def _typed_bits(v) -> int:
    name = v.type.type_name
    if name == "f32":
        return _f32_bits_of_float(v.value)
    if name == "f64":
        return _f64_bits_of_float(v.value)
    return _value_bits(name, v.value)


def _result_bits(c: str, v) -> int:
    if c == "f":
        return _f32_bits_of_float(v)
    if c == "F":
        return _f64_bits_of_float(v)
    return _value_bits(cc.CHAR_BANK[c], v)


def _native_modules(imports: dict | None) -> list:
    """NativeModules serving ``{"module.fn": (cconv, callable)}`` host functions."""
    vm = _vm()
    grouped: dict[str, dict] = {}
    for full_name, (cconv, fn) in (imports or {}).items():
        module_name, _, fn_name = full_name.partition(".")
        grouped.setdefault(module_name, {})[fn_name] = (cconv, fn)
    out = []
    for module_name, fns in grouped.items():
        attrs_ = {"name": module_name, "version": 1}
        for fn_name, (cconv, fn) in fns.items():
            method = (lambda self, state, *args, _fn=fn: _fn(*args))
            attrs_["_export_" + fn_name] = vm.export(cconv, name=fn_name)(method)
        out.append(type(f"Host_{module_name}", (vm.NativeModule,), attrs_)())
    return out


def _plain(ctx, fn, args):
    return fn(*args)


def _budgeted(ctx, fn, args):
    return ctx.invoke(fn, args, instruction_budget=50_000_000, timeout=120)


def _same(module_def):
    return _vm().BytecodeModule(module_def)


def _from_container(module_def):
    from pyree.bytecode import container
    return _vm().BytecodeModule.from_bytes(container.write(module_def))


#: tier name -> (load a ModuleDef, call a function): every tier pyree has.
TIERS = {
    "plain": (_same, _plain),
    "budget": (_same, _budgeted),
    "container": (_from_container, _plain),
}

CRASH = -1  # a Python exception that is not a PyreeError: always a pyree bug


def _failure(exc: BaseException) -> Outcome:
    if isinstance(exc, status.PyreeError):
        return Outcome(frozenset({int(exc.code)}), message=exc.message)
    return Outcome(frozenset({CRASH}), message=f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def vm_limits(limits=None):
    """pyree's allocation limits set to the reference's for the duration."""
    from pyree.vm import buffer
    from pyree.vm import list as vm_list
    lim = dict(ref.DEFAULT_LIMITS, **(limits or {}))
    old_b = buffer.set_limits(max_bytes=lim["max_buffer_bytes"],
                              max_alignment=lim["max_buffer_alignment"])
    old_l = vm_list.set_limits(max_elements=lim["max_list_elements"])
    try:
        yield
    finally:
        buffer.set_limits(**old_b)
        vm_list.set_limits(**old_l)


def run_pyree(program: Program, tier: str = "plain", *, imports=None, calls: int = 2,
              limits=None) -> list[Outcome]:
    """The outcome of each call on one pyree tier, in a fresh context."""
    vm = _vm()
    load, call = TIERS[tier]
    sig = cc.parse(program.module.functions[_entry(program)].cconv)
    with vm_limits(limits):
        try:
            libs = [load(lib) for lib in program.libraries]
            module = load(program.module)
            context = vm.Context([*_native_modules(imports), *libs, module])
        except Exception as e:  # noqa: BLE001 - every failure is an outcome
            return [_failure(e)]
        with context:
            args = [_pyree_arg(a) for a in program.args]
            fixed = {id(b): f"{lib.name}.rodata{k}" for lib in libs
                     for k, b in enumerate(lib.rodata)}
            fixed.update({id(a): f"arg{i}" for i, a in enumerate(args) if a is not None
                          and not isinstance(a, (int, float))})
            fixed.update({id(b): f"rodata{k}" for k, b in enumerate(module.rodata)})
            fn = context.lookup_function(program.function, module.name)
            out = []
            for _ in range(calls):
                try:
                    values = call(context, fn, args)
                except Exception as e:  # noqa: BLE001
                    out.append(_failure(e))
                    continue
                objects = _Objects(fixed, [a for a in args if isinstance(
                    a, (vm.VmBuffer, vm.VmList))])
                results = [(c, objects.name(v)) if c == "r" else (c, _result_bits(c, v))
                           for c, v in zip(sig.result_chars, values)]
                res, table = _finish(results, objects, _describe_vm_object)
                out.append(_success(res, table))
            return out


def check(program: Program, *, imports=None, tiers=None, calls: int = 2, limits=None):
    """Compare every tier with the reference; returns the reference outcomes (or
    :data:`INDETERMINATE`), raises :class:`Disagreement` on the first mismatch."""
    expected = reference_outcomes(program, imports=imports, calls=calls, limits=limits)
    if expected == INDETERMINATE:
        return INDETERMINATE
    for tier in tiers or TIERS:
        actual = run_pyree(program, tier, imports=imports, calls=calls, limits=limits)
        for i, (e, a) in enumerate(zip(expected, actual)):
            if not e.matches(a):
                raise Disagreement(tier, i, e, a)
        if len(actual) != len(expected):
            raise Disagreement(tier, len(actual), expected[-1], actual[-1])
    return expected


# -- host functions for differential programs -----------------------------------------------

def _wrap32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >> 31 else x


def _canonical(x: float) -> float:
    return math.nan if math.isnan(x) else x


def _host_fail(code: int) -> None:
    if code % 5 == 4:
        raise status.OutOfRangeError(f"host.check refused {code}")


#: Host functions the differential programs import (pure: same results on both sides).
HOST_FUNCTIONS = {
    "host.add": ("0ii_i", lambda a, b: _wrap32(a + b)),
    "host.mix": ("0IfF_F", lambda a, b, c: _canonical(float(a) + b * c)),
    "host.sum": ("0CiD_i", lambda values: _wrap32(sum(values))),
    "host.check": ("0i_v", _host_fail),
    "host.isnull": ("0r_i", lambda r: int(r is None)),
}


def host_imports() -> tuple:
    """ImportSpecs of :data:`HOST_FUNCTIONS`, plus an optional import nobody provides."""
    from pyree.testing.strategies import ImportSpec
    return tuple(ImportSpec(name, cconv) for name, (cconv, _) in HOST_FUNCTIONS.items()) + (
        ImportSpec("absent.fn", "0i_i", optional=True),)
