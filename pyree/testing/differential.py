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

The tiers are in :mod:`.tiers` (``plain``, ``budget``, ``container``), the compared
values in :mod:`.outcomes`; both are re-exported here.
"""

from __future__ import annotations

import contextlib
import math

import attrs

from pyree import status
from pyree.bytecode import cconv as cc
from pyree.testing import reference as ref
from pyree.testing.outcomes import (  # noqa: F401  (re-exported)
    OK,
    BufferArg,
    Disagreement,
    ListArg,
    Outcome,
    _entry,
    _f32_bits_of_float,
    _finish,
    _Objects,
    _success,
    _value_bits,
)
from pyree.testing.strategies import Program
from pyree.testing.tiers import (  # noqa: F401  (re-exported)
    CRASH,
    TIERS,
    _native_modules,
    _pyree_arg,
    run_pyree,
    vm_limits,
)

INDETERMINATE = "indeterminate"


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


def run_reference(program: Program, *, imports=None, calls: int = 2,
                  nan_policy: str = "hardware", budget: int = 2_000_000,
                  limits=None, libm_ulps: int = 0, machines=None) -> list[Outcome]:
    """The reference outcome of each call. ``libm_ulps`` perturbs libm results (see
    :class:`~pyree.testing.reference.Machine`); the machines created are appended to
    ``machines`` when given (their ``libm_calls`` tell whether libm ran)."""
    machines = [] if machines is None else machines
    kw = {"nan_policy": nan_policy, "budget": budget, "limits": limits,
          "libm_ulps": libm_ulps}
    host = {name: (v[1] if isinstance(v, tuple) else v) for name, v in (imports or {}).items()}
    fixed = {}
    try:
        for lib in program.libraries:  # registered first; the module imports their exports
            lm = ref.Machine(lib, host, **kw)
            machines.append(lm)
            host.update({f"{lib.name}.{e.name}": ref.Export(lm, e.name) for e in lib.exports})
            fixed.update({id(b): f"{lib.name}.rodata{k}" for k, b in enumerate(lm.rodata)})
        machine = ref.Machine(program.module, host, **kw)
        machines.append(machine)
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


#: How far (in ulps, per float result) an outcome may move when libm results move by
#: one ulp, and how far pyree's may be from the reference's in programs that call libm:
#: the ISA lets a libm function differ from the C library's by an ulp (vm-isa.md 5.7).
LIBM_ULPS = 4


def reference_outcomes(program: Program, **kw) -> list[Outcome] | str:
    """The reference outcome of each call, or :data:`INDETERMINATE` when it depends on
    unspecified NaN payloads, or on the last bit of a libm result: programs that call
    libm run again with every libm result one ulp up and one ulp down, and must land
    within :data:`LIBM_ULPS` of the first run (same traps, same integers and objects)."""
    machines: list = []
    with _quiet_numpy():
        first = run_reference(program, nan_policy="hardware", machines=machines, **kw)
        second = run_reference(program, nan_policy="canonical", **kw)
        if first != second:
            return INDETERMINATE
        if any(m.libm_calls for m in machines):
            for ulps in (1, -1):
                moved = run_reference(program, nan_policy="hardware", libm_ulps=ulps, **kw)
                if len(moved) != len(first) or not all(
                        e.close_to(a, LIBM_ULPS) for e, a in zip(first, moved)):
                    return INDETERMINATE
            return [attrs.evolve(o, ulps=LIBM_ULPS) for o in first]
    return first


@contextlib.contextmanager
def _quiet_numpy():
    import numpy as np
    with np.errstate(all="ignore"):
        yield


def check(program: Program, *, imports=None, tiers=None, calls: int = 2, limits=None):
    """Compare every tier with the reference; returns the reference outcomes (or
    :data:`INDETERMINATE`), raises :class:`Disagreement` on the first mismatch."""
    expected = reference_outcomes(program, imports=imports, calls=calls, limits=limits)
    if expected == INDETERMINATE:
        return INDETERMINATE
    for tier in tiers or TIERS:
        actual = run_pyree(program, tier, imports=imports, calls=calls, limits=limits)
        for i, (e, a) in enumerate(zip(expected, actual)):
            if not (e.close_to(a, e.ulps) if e.ulps else e.matches(a)):
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
