"""Register zeroing of translated straight-line functions (vm/codegen/translate.py): a
register is zero (refs null) until written, so only registers whose first mention is an
unconditional function-level write may skip the zeroing on entry."""

from __future__ import annotations

from vmhelpers import asm

from pyree.vm import Context
from pyree.vm.codegen.translate import _written_first

PROGRAM = """
vm.module @z version 1
vm.func @read_before_write(%i0: i32) -> (i32, i32) {
  %i2 = vm.add.i32 %i1, %i0
  %i1 = vm.const.i32 7
  vm.return %i2, %i1
}
vm.export @read_before_write
vm.func @written_in_one_branch(%i0: i32) -> (i32) {
  vm.cond_br %i0, ^bb1, ^bb2
^bb1:
  %i1 = vm.const.i32 5
  vm.return %i1
^bb2:
  vm.return %i1
}
vm.export @written_in_one_branch
"""


def test_unwritten_registers_read_as_zero():
    module = asm(PROGRAM)
    context = Context([module])
    assert context.invoke("z.read_before_write", (3,)) == (3, 7)
    assert context.invoke("z.written_in_one_branch", (1,)) == (5,)
    assert context.invoke("z.written_in_one_branch", (0,)) == (0,)
    source = next(iter(module._translations.values())).source
    assert "def _f0(" in source and "i1 = 0" in source.split("def _f1(")[1]


def test_written_first_counts_only_unconditional_first_writes():
    body = ["    r1 = _v", "    i2 = i2 + 1", "    if x:", "        i3 = 4", "    i3 = 5",
            "    l4 = i5", "    i5 = 0", "    try:", "        i6 = 1", "    i7 == 2"]
    assert _written_first(body) == {"r1", "l4"}
    # A write directly in a function-level try counts when its handlers only re-raise.
    reraise = ["    try:", "        r2 = f()", "    except Exception as _e:",
               "        raise g(_e)", "    r3 = r2"]
    assert _written_first(reraise) == {"r2", "r3"}
    swallow = ["    try:", "        r2 = f()", "    except Exception as _e:",
               "        pass", "    r3 = r2"]
    assert _written_first(swallow) == {"r3"}
    nested = ["    try:", "        if x:", "            r2 = f()", "    except E:",
              "        raise", "    r4 = r2"]
    assert _written_first(nested) == {"r4"}
