"""Translation of verified bytecode into Python functions (pyree's interpreter tier).

Importing this package registers every instruction handler and checks that the ISA table
has exactly one handler per instruction.
"""

from pyree.vm.codegen import (  # noqa: F401  (handler registration)
    ops_buffer,
    ops_call,
    ops_control,
    ops_float,
    ops_globals,
    ops_int,
    ops_list,
    ops_ref,
)
from pyree.vm.codegen.emit import EMITTERS, check_complete
from pyree.vm.codegen.module import ModuleTranslator, TranslatedModule
from pyree.vm.codegen.floats import HELPERS as _FLOAT_HELPERS
from pyree.vm.codegen.runtime import HELPERS

HELPERS.update(_FLOAT_HELPERS)

check_complete()

__all__ = ["EMITTERS", "HELPERS", "ModuleTranslator", "TranslatedModule"]
