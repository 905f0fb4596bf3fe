"""Outcomes of one call, compared between pyree and the reference: results as bits, refs
described by content and identity, failures by status code (shared by
:mod:`.differential` and :mod:`.tiers`)."""

from __future__ import annotations

import math
import struct

import attrs

from pyree import status
from pyree.testing.strategies import Program

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
    #: Float results may differ from an actual outcome by this many ulps (programs that
    #: call libm; see :func:`~pyree.testing.differential.reference_outcomes`).
    ulps: int = attrs.field(default=0, eq=False)

    @property
    def ok(self) -> bool:
        return not self.failed

    def close_to(self, actual: Outcome, ulps: int) -> bool:
        """:meth:`matches`, except that f32/f64 results (not NaN or infinite) may be
        ``ulps`` apart."""
        if self.failed or actual.failed or self.objects != actual.objects:
            return self.matches(actual)
        if self.results is None or actual.results is None or len(self.results) != len(
                actual.results):
            return self.results == actual.results
        return all(e == a or _floats_close(e, a, ulps)
                   for e, a in zip(self.results, actual.results))

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


def _floats_close(e, a, ulps: int) -> bool:
    from pyree.testing.reference.values import ulp_key
    if not (e[0] == a[0] and e[0] in "fF"):
        return False
    wide = e[0] == "F"
    exp = 0x7FF0000000000000 if wide else 0x7F800000
    if e[1] & exp == exp or a[1] & exp == exp:
        return False
    return abs(ulp_key(e[1], wide) - ulp_key(a[1], wide)) <= ulps


def _value_bits(t: str, v: int) -> int:
    width = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}[t]
    return v & ((1 << width) - 1)


def _finish(results, objects: _Objects, describe) -> tuple:
    table = []
    while objects.pending:
        obj = objects.pending.pop(0)
        table.append((objects.ids[id(obj)], describe(obj, objects)))
    return tuple(results), tuple(table)


def _entry(program: Program) -> int:
    for e in program.module.exports:
        if e.name == program.function:
            return e.function
    raise status.NotFoundError(f"no export {program.function}")
