"""The reference machine: decoded instructions, a byte-array register file, a loop.

Each call gets a :class:`Frame`: ``regs`` is a ``bytearray`` of 4-byte little-endian
slots (so 64-bit values really alias two slots) sized to the verifier's rounded count,
and ``refs`` a Python list. The loop fetches the instruction at the current index, looks
its handler up by mnemonic in :data:`HANDLERS` and lets it return where to go next:
``None`` (the next instruction), a pc to continue at, or a :class:`Return`. Calls recurse
in Python. Nothing is compiled, cached or specialised.
"""

from __future__ import annotations

from collections.abc import Callable

from pyree.bytecode import cconv as cc
from pyree.bytecode import encoding, isa
from pyree.status import PyreeError, StatusCode
from pyree.testing.reference import values as V
from pyree.testing.reference.objects import (
    ORIGIN_MODULE,
    RBuffer,
    Trap,
    resolve_type,
    trap,
)

HANDLERS: dict[str, Callable] = {}

#: Implementation limits the reference documents leave open; the differential harness
#: sets the same ones on pyree.
DEFAULT_LIMITS = {"max_buffer_bytes": 1 << 20, "max_buffer_alignment": 1 << 16,
                  "max_list_elements": 1 << 16, "max_depth": 6000}


def handler(*mnemonics: str):
    def register(fn):
        for m in mnemonics:
            if m in HANDLERS:
                raise ImportError(f"two reference handlers for {m}")
            HANDLERS[m] = fn
        return fn
    return register


class Return:
    __slots__ = ("values",)

    def __init__(self, values: list):
        self.values = values


def _pow2(n: int) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


class Frame:
    __slots__ = ("fn", "refs", "regs")

    def __init__(self, fn, i32_count: int, ref_count: int):
        self.fn = fn
        self.regs = bytearray(4 * _pow2(max(i32_count, 1)))
        self.refs: list = [None] * _pow2(max(ref_count, 1))

    # Registers by bank. i32/i64 read as signed ints, f32/f64 as raw bits.
    def get(self, bank: str, ordinal: int):
        if bank == "ref":
            return self.refs[ordinal & isa.REF_INDEX_MASK]
        n = 4 * (ordinal & isa.I32_INDEX_MASK)
        if bank == "i32":
            return int.from_bytes(self.regs[n:n + 4], "little", signed=True)
        if bank == "i64":
            return int.from_bytes(self.regs[n:n + 8], "little", signed=True)
        if bank == "f32":
            return int.from_bytes(self.regs[n:n + 4], "little")
        return int.from_bytes(self.regs[n:n + 8], "little")

    def set(self, bank: str, ordinal: int, value) -> None:
        if bank == "ref":
            self.refs[ordinal & isa.REF_INDEX_MASK] = value
            return
        n = 4 * (ordinal & isa.I32_INDEX_MASK)
        if bank in ("i32", "f32"):
            self.regs[n:n + 4] = (value & V.M32).to_bytes(4, "little")
        else:
            self.regs[n:n + 8] = (value & V.M64).to_bytes(8, "little")

    def take_ref(self, ordinal: int):
        """Read a ref operand: with the move bit the register becomes null."""
        index = ordinal & isa.REF_INDEX_MASK
        obj = self.refs[index]
        if ordinal & isa.MOVE_BIT:
            self.refs[index] = None
        return obj


class _Function:
    __slots__ = ("definition", "index_of", "instrs", "ordinal", "sig")

    def __init__(self, ordinal: int, definition):
        self.ordinal = ordinal
        self.definition = definition
        self.instrs = encoding.decode(definition.code)
        self.index_of = {ins.pc: k for k, ins in enumerate(self.instrs)}
        self.sig = cc.parse(definition.cconv)


class Export:
    """An import served by an export of another :class:`Machine` (bytecode to bytecode:
    values cross as register bits, refs as objects)."""

    def __init__(self, machine: Machine, name: str):
        self.machine = machine
        self.function = machine.export(name)


class Machine:
    """One module instance (one context's state) of a verified ModuleDef.

    ``imports`` maps an import's full name to a Python callable taking and returning
    host values (ints, floats, refs; a list per span), or to an :class:`Export` of
    another machine; a missing name leaves the import unresolved (legal only for
    optional imports). ``nan_policy`` is ``hardware`` or
    ``canonical`` (see :mod:`.values`); ``budget`` is the instruction limit of one
    invocation (DEADLINE_EXCEEDED past it). ``libm_ulps`` moves every libm result
    (vm-isa.md 5.7) that many ulps: the differential harness runs programs that call
    libm under +1 and -1 to find outcomes that depend on the last bit of a libm result,
    which the ISA does not pin down.
    """

    def __init__(self, module, imports=None, *, nan_policy: str = "hardware",
                 budget: int = 1_000_000, limits=None, libm_ulps: int = 0):
        self.module = module
        self.nan = V.NanPolicy(nan_policy)
        self.libm_ulps = libm_ulps
        self.libm_calls = 0
        self.limits = dict(DEFAULT_LIMITS, **(limits or {}))
        self.budget = budget
        self.steps = 0
        self.types = [resolve_type(name) for name in module.types]
        self.functions = [_Function(k, f) for k, f in enumerate(module.functions)]
        self.rodata = [RBuffer(bytearray(seg), ORIGIN_MODULE) for seg in module.rodata]
        self.rwdata = bytearray(module.rwdata_size)
        self.ref_globals: list = [None] * module.ref_global_count
        imports = imports or {}
        self.imports = []
        for imp in module.imports:
            fn = imports.get(imp.full_name)
            if fn is None and not imp.optional:
                raise trap(StatusCode.NOT_FOUND,
                           f"import {imp.full_name} is not provided to the reference")
            self.imports.append(fn)

    # -- host entry ----------------------------------------------------------------------

    def export(self, name: str) -> _Function:
        for e in self.module.exports:
            if e.name == name:
                return self.functions[e.function]
        raise trap(StatusCode.NOT_FOUND, f"no export {name}")

    def call(self, export: str, args=()) -> list:
        """Invoke an export; returns result values (i32/i64 signed ints, f32/f64 bits,
        refs) or raises :class:`Trap`."""
        fn = self.export(export)
        chars = fn.sig.arg_chars
        if len(args) != len(chars):
            raise trap(StatusCode.INVALID_ARGUMENT, "input list and function mismatch")
        self.steps = 0
        with V.np.errstate(all="ignore"):  # IEEE results, no warnings
            return self.invoke(fn, [self.host_in(c, a) for c, a in zip(chars, args)], 0)

    def host_in(self, c: str, value):
        """A host value converted to register form (vm-runtime.md 9.1 step 2)."""
        if c == "i":
            return V.s32(int(value))
        if c == "I":
            return V.s64(int(value))
        if c == "f":
            return self.nan.r32(V.bits32(V.np.float32(V.np.float64(value))))
        if c == "F":
            return V.bits64(value)
        return value

    # -- calls ---------------------------------------------------------------------------

    def invoke(self, fn: _Function, args: list, depth: int) -> list:
        if depth >= self.limits["max_depth"]:
            raise trap(StatusCode.RESOURCE_EXHAUSTED, "call depth limit")
        d = fn.definition
        frame = Frame(fn, d.i32_register_count, d.ref_register_count)
        ordinals, _, _ = cc.register_placement(fn.sig.arg_chars)
        for c, o, v in zip(fn.sig.arg_chars, ordinals, args):
            frame.set(cc.CHAR_BANK[c], o, v)
        return self.run(frame, depth)

    def run(self, frame: Frame, depth: int) -> list:
        fn = frame.fn
        instrs, index_of = fn.instrs, fn.index_of
        k = 0
        while True:
            if k >= len(instrs):
                raise trap(StatusCode.INTERNAL, "execution ran off the end of the function")
            self.steps += 1
            if self.steps > self.budget:
                raise trap(StatusCode.DEADLINE_EXCEEDED, "instruction budget exhausted")
            ins = instrs[k]
            nxt = HANDLERS[ins.op.mnemonic](self, frame, ins, depth)
            if nxt is None:
                k += 1
            elif nxt.__class__ is Return:
                return nxt.values
            else:
                k = index_of[nxt]

    def call_import(self, ordinal: int, host_args: list, depth: int = 0) -> tuple:
        spec = self.module.imports[ordinal]
        fn = self.imports[ordinal]
        if fn is None:
            raise trap(StatusCode.NOT_FOUND,
                       f"optional import `{spec.full_name}` (ordinal {ordinal}) not resolved")
        if isinstance(fn, Export):
            return tuple(fn.machine.invoke(fn.function, host_args, depth + 1))
        try:
            out = fn(*host_args)
        except PyreeError as e:
            raise Trap({int(e.code) & 0x1F}, str(e)) from None
        except Trap:
            raise
        except Exception as e:  # noqa: BLE001 - a bug in the host function
            raise trap(StatusCode.INTERNAL, f"{type(e).__name__}: {e}") from None
        result_chars = cc.parse(spec.cconv).result_chars
        if out is None:
            out = ()
        elif not isinstance(out, tuple):
            out = (out,)
        if len(out) != len(result_chars):
            raise trap(StatusCode.INTERNAL, "import returned the wrong number of results")
        return tuple(self.host_in(c, v) for c, v in zip(result_chars, out))

    def check_limit(self, what: str, n: int) -> None:
        if n > self.limits[what]:
            raise Trap({StatusCode.RESOURCE_EXHAUSTED, StatusCode.OUT_OF_RANGE},
                       f"{what} exceeded: {n}")


def check_complete() -> None:
    names = {op.mnemonic for op in isa.OPS}
    missing = sorted(names - set(HANDLERS))
    extra = sorted(set(HANDLERS) - names)
    if missing or extra:
        raise ImportError(f"reference handlers out of sync with the ISA table: missing "
                          f"{missing}, unknown {extra}")
