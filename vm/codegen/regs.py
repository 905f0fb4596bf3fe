"""Register file layout of a translated function.

The interpreter translates each verified bytecode function into a Python function whose
registers are Python locals. Values are kept as signed bit patterns: a 32-bit slot holds
an ``s32`` int (f32 values as their IEEE bits read as s32), a 64-bit pair an ``s64`` int
(f64 bits); comparison results may be Python bools, which are the ints 0 and 1. Signed
canonical values keep ordinary loop counters single-digit Python ints (fast), make
signed comparisons plain ``<``, and coincide with the cross-module ABI for integers.

The i32 bank aliases: a pair ``(n, n+1)`` overlaps two slots. Each slot of a function
gets one storage class, decided statically from every access in the function:

* ``SINGLE``: only ever accessed as a 32-bit slot -> local ``i{n}``.
* ``PAIR``: slots ``n`` (even) and ``n+1`` are only ever accessed together as a 64-bit
  value -> one local ``l{n}`` holding the u64.
* ``SPLIT``: the pair is also accessed slot-wise -> locals ``i{n}``, ``i{n+1}``; 64-bit
  reads combine them and 64-bit writes split them.

The classes are exact (no type tagging is lost): every access reads the same bits the
bytecode VM would. Refs live in locals ``r{n}``; ``None`` is null.
"""

from __future__ import annotations

from pyree.bytecode import cconv as cc
from pyree.bytecode import isa

SINGLE, PAIR, SPLIT = "single", "pair", "split"
M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF


class Layout:
    """Storage classes of one function's i32 bank, and expression builders."""

    def __init__(self, i32_count: int, ref_count: int):
        self.i32_count = i32_count
        self.ref_count = ref_count
        self.pair_starts: set[int] = set()  # even n accessed as a 64-bit value
        self.single_slots: set[int] = set()  # slots accessed as 32-bit values
        self.classes: dict[int, str] = {}

    # -- classification --------------------------------------------------------------
    def note(self, bank: str, ordinal: int) -> None:
        if bank == "ref":
            return
        n = ordinal & isa.I32_INDEX_MASK
        if bank in isa.WIDE_BANKS:
            self.pair_starts.add(n)
        else:
            self.single_slots.add(n)

    def finish(self) -> None:
        classes = {}
        for n in sorted(self.pair_starts):
            split = (n in self.single_slots or (n + 1) in self.single_slots
                     or (n - 1) in self.pair_starts or (n + 1) in self.pair_starts)
            classes[n] = SPLIT if split else PAIR
        self.classes = classes

    def is_pair(self, n: int) -> bool:
        return self.classes.get(n) == PAIR

    # -- expressions -----------------------------------------------------------------
    def r32(self, n: int) -> str:
        """Expression reading slot ``n`` as an s32."""
        if self.classes.get(n) == PAIR:
            return f"(((l{n} & {M32}) ^ 0x80000000) - 0x80000000)"
        if self.classes.get(n - 1) == PAIR:
            return f"(l{n - 1} >> 32)"
        return f"i{n}"

    def plain32(self, n: int) -> str | None:
        """The local holding slot ``n`` when it is a plain ``i{n}`` local."""
        if self.classes.get(n) == PAIR or self.classes.get(n - 1) == PAIR:
            return None
        return f"i{n}"

    def w32(self, n: int, expr: str) -> list[str]:
        """Statements writing the s32 ``expr`` to slot ``n``."""
        if self.classes.get(n) == PAIR:  # only reachable via untyped remaps
            return [f"l{n} = (l{n} & -0x100000000) | (({expr}) & {M32})"]
        if self.classes.get(n - 1) == PAIR:
            return [f"l{n - 1} = (({expr}) << 32) | (l{n - 1} & {M32})"]
        return [f"i{n} = {expr}"]

    def r64(self, n: int) -> str:
        if self.classes.get(n) == PAIR:
            return f"l{n}"
        return f"((i{n + 1} << 32) | (i{n} & {M32}))"

    def plain64(self, n: int) -> str | None:
        return f"l{n}" if self.classes.get(n) == PAIR else None

    def w64(self, n: int, expr: str) -> list[str]:
        if self.classes.get(n) == PAIR:
            return [f"l{n} = {expr}"]
        return [f"_t = {expr}", f"i{n} = ((_t & {M32}) ^ 0x80000000) - 0x80000000",
                f"i{n + 1} = _t >> 32"]

    def write_wrapped(self, bank: str, ordinal: int, expr: str) -> list[str]:
        """Write ``expr`` (an unbounded int) wrapped to the register width.

        A plain local is range-checked in place: the common no-overflow case costs one
        chained comparison and never builds a multi-digit int.
        """
        n = ordinal & isa.I32_INDEX_MASK
        wide = bank in isa.WIDE_BANKS
        name = self.plain64(n) if wide else self.plain32(n)
        lo, hi, fn = (("-9223372036854775808", "9223372036854775807", "_w64") if wide
                      else ("-2147483648", "2147483647", "_w32"))
        if name is None:
            return self.write(bank, ordinal, f"{fn}({expr})")
        return [f"{name} = {expr}", f"if not {lo} <= {name} <= {hi}: {name} = {fn}({name})"]

    def read(self, bank: str, ordinal: int) -> str:
        if bank == "ref":
            return f"r{ordinal & isa.REF_INDEX_MASK}"
        n = ordinal & isa.I32_INDEX_MASK
        return self.r64(n) if bank in isa.WIDE_BANKS else self.r32(n)

    def write(self, bank: str, ordinal: int, expr: str) -> list[str]:
        if bank == "ref":
            return [f"r{ordinal & isa.REF_INDEX_MASK} = {expr}"]
        n = ordinal & isa.I32_INDEX_MASK
        return self.w64(n, expr) if bank in isa.WIDE_BANKS else self.w32(n, expr)

    # -- register file ---------------------------------------------------------------
    def locals_init(self, skip: set[str], used: set[str] | None = None) -> list[str]:
        """Statements zeroing the register locals (None for refs), except ``skip``; with
        ``used``, only the names in it."""
        names = []
        seen_pairs = set()
        for n in range(self.i32_count):
            if self.classes.get(n) == PAIR:
                seen_pairs.add(n)
                names.append(f"l{n}")
            elif self.classes.get(n - 1) == PAIR:
                continue
            else:
                names.append(f"i{n}")
        refs = [f"r{n}" for n in range(self.ref_count)]
        if used is not None:
            names = [x for x in names if x in used]
            refs = [x for x in refs if x in used]
        names = [x for x in names if x not in skip]
        refs = [x for x in refs if x not in skip]
        out = []
        for chunk in _chunks(names, 64):
            out.append(" = ".join(chunk) + " = 0")
        for chunk in _chunks(refs, 64):
            out.append(" = ".join(chunk) + " = None")
        return out

    def ref_names(self) -> list[str]:
        return [f"r{n}" for n in range(self.ref_count)]


def _chunks(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def bank_of_char(c: str) -> str:
    return cc.CHAR_BANK[c]
