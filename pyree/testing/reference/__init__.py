"""A reference evaluator for ISA v17, written from ``vm-isa.md`` and ``vm-runtime.md``.

It exists to be compared with pyree's interpreter (``pyree.vm``), so it is built the
other way round on purpose: the interpreter translates each function into Python source
once; this evaluator walks the decoded instructions one by one with a ``bytearray``
register file (4-byte slots, so 64-bit values really alias two slots), a list of refs,
and one handler per mnemonic looked up in a dict. It shares nothing with ``pyree.vm``:
only the ISA table and decoder (``pyree.bytecode``) and the status codes. It trusts its
input to be verified, and is slow.

Where the reference documents leave a choice open the evaluator says so instead of
guessing: a :class:`Trap` carries the *set* of acceptable status codes (for instance
when two errors apply and their order is not specified), implementation limits are
parameters (``limits``), and NaN payloads that the ISA leaves unspecified follow a
selectable policy (``nan_policy``): a result that changes between the ``hardware`` and
``canonical`` policies depends on unspecified bits.

Usage::

    from pyree.testing.reference import Machine, Trap

    machine = Machine(module_def, imports={"host.add": lambda a, b: a + b})
    try:
        results = machine.call("main", (1, 2.5))   # i32/i64: ints, f32/f64: bits, refs
    except Trap as t:
        print(t.codes, t.message)
"""

from pyree.testing.reference import ops_float, ops_flow, ops_list, ops_memory, ops_scalar  # noqa: F401
from pyree.testing.reference.machine import (
    DEFAULT_LIMITS,
    HANDLERS,
    Export,
    Machine,
    check_complete,
)
from pyree.testing.reference.objects import (
    MUTABLE,
    ORIGIN_GUEST,
    ORIGIN_HOST,
    ORIGIN_MODULE,
    HostRef,
    RBuffer,
    RList,
    Trap,
)

check_complete()

__all__ = [
    "DEFAULT_LIMITS",
    "HANDLERS",
    "MUTABLE",
    "ORIGIN_GUEST",
    "ORIGIN_HOST",
    "ORIGIN_MODULE",
    "Export",
    "HostRef",
    "Machine",
    "RBuffer",
    "RList",
    "Trap",
]
