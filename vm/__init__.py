"""pyree's virtual machine: IREE-compatible bytecode modules, native modules, contexts.

Typical embedding::

    from pyree import vm

    module = vm.BytecodeModule.from_file("program.vmasm")   # or a .pyrm container
    with vm.Context([module]) as ctx:
        sum_to = ctx.lookup_function("counter.sum_to")
        print(sum_to(10))                                   # (55,)

Importing this package never imports numba.
"""

from pyree.vm.buffer import VmBuffer
from pyree.vm.bytecode_module import MAX_CALL_DEPTH, BytecodeModule
from pyree.vm.context import Context, Function
from pyree.vm.instance import Instance
from pyree.vm.invocation import Call, Wait
from pyree.vm.list import VmList
from pyree.vm.module import ExportInfo, Module, ModuleState
from pyree.vm.native import NativeModule, export
from pyree.vm.ref import (
    RefType,
    TypedValue,
    ValueType,
    lookup_ref_type,
    ref_type_of,
    register_ref_type,
)

__all__ = [
    "MAX_CALL_DEPTH", "BytecodeModule", "Call", "Context", "ExportInfo", "Function",
    "Instance", "Module", "ModuleState", "NativeModule", "RefType", "TypedValue", "ValueType",
    "VmBuffer", "VmList", "Wait", "export", "lookup_ref_type", "ref_type_of",
    "register_ref_type",
]
