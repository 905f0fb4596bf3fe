"""Companion native module of call_variadic_ops.vmasm: imports whose calling conventions
contain spans (``C...D``), which only native modules can export (vm-runtime.md 2.1).

The vmasm test runners register every :class:`~pyree.vm.NativeModule` subclass defined
here before the test module (header line ``// requires: lib/variadic_lib.py``).
"""

from pyree.vm import NativeModule, export


class VariadicLib(NativeModule):
    name = "variadic_lib"
    version = 1

    @export("0CiD_i")
    def sum(self, state, values):
        return sum(values)

    @export("0iCiID_I")
    def weighted(self, state, base, pairs):
        """base + sum(a * b) over (i32 a, i64 b) tuples."""
        return base + sum(a * b for a, b in pairs)

    @export("0CrD_i")
    def count_refs(self, state, refs):
        return sum(1 for r in refs if r is not None)

    @export("0CiDCfD_ii")
    def lengths(self, state, ints, floats):
        return len(ints), len(floats)

    @export("0CiD_i")
    def slow_sum(self, state, values):
        """Suspends once per element before returning the sum."""
        total = 0
        for v in values:
            yield
            total += v
        return total
