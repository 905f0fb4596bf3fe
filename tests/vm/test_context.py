"""Contexts: registration, import resolution and its errors, dependencies, rollback,
static contexts, __init/__deinit/__notify ordering, per-context globals, teardown
(vm-runtime.md 8.1-8.4)."""

import attrs
import programs
import pytest
from vmhelpers import TOKEN, EventLog, Token, asm, logged_module, source

from pyree import status
from pyree.bytecode.cconv import parse as parse_cconv
from pyree.bytecode.module_def import DependencyDef, ImportDef
from pyree.status import StatusCode
from pyree.vm import (BytecodeModule, Context, Instance, Module, ModuleState, NativeModule,
                      export)
from pyree.vm.context import FORK, LOW_MEMORY, RESUME, SUSPEND


def lib(version: int, value: int, name: str = "lib") -> BytecodeModule:
    return asm(f"""
        vm.module @{name} version {version}
        vm.func @which() -> (i32) {{
          %i0 = vm.const.i32 {value}
          vm.return %i0
        }}
        vm.export @which
        vm.func @twice(%i0: i32) -> (i32) {{
          %i1 = vm.add.i32 %i0, %i0
          vm.return %i1
        }}
        vm.export @twice
    """)


def call_line(target: str, cconv: str) -> str:
    """Constants for every argument of ``cconv``, then a call of ``target``."""
    sig = parse_cconv(cconv)
    lines, args, results, slot, ref = [], [], [], 0, 0
    for c in sig.arg_chars + sig.result_chars:
        if c == "r":
            reg, ref = f"%r{ref}", ref + 1
        elif c in "IF":
            slot += slot % 2
            reg, slot = f"%i{slot}:{slot + 1}", slot + 2
        else:
            reg, slot = f"%i{slot}", slot + 1
        if len(args) < len(sig.arg_chars):
            op = {"i": "const.i32 1", "I": "const.i64 1", "f": "const.f32 1.0",
                  "F": "const.f64 1.0", "r": "const.ref.zero"}[c]
            lines.append(f"  {reg} = vm.{op}")
            args.append(reg)
        else:
            results.append(reg)
    head = f"{', '.join(results)} = " if results else ""
    return "\n".join(lines + [f"  {head}vm.call @{target}({', '.join(args)})"])


def app(cconv: str = "0v_i", *, optional: bool = False, target: str = "lib.which",
        name: str = "app") -> BytecodeModule:
    opt = "optional " if optional else ""
    if cconv == "0v_i":
        body = f"  %i0 = vm.call @{target}()\n  vm.return %i0"
    else:
        body = call_line(target, cconv) + "\n  %i20 = vm.const.i32 0\n  vm.return %i20"
    return asm(f"""
vm.module @{name} version 1
vm.import {opt}@{target} cconv "{cconv}"
vm.func @main() -> (i32) {{
{body}
}}
vm.export @main
vm.func @resolved() -> (i32) {{
  %i0 = vm.import.resolved @{target}
  vm.return %i0
}}
vm.export @resolved
""")


def main_of(ctx: Context, module: str = "app") -> int:
    return ctx.invoke(f"{module}.main")[0]


# -- registration order and newest-first resolution -------------------------------------
def test_modules_are_kept_in_registration_order():
    a, b, c = lib(1, 1, "a"), lib(1, 2, "b"), lib(1, 3, "c")
    ctx = Context([a, b])
    assert ctx.modules == [a, b]
    ctx.register_modules([c])
    assert ctx.modules == [a, b, c]


def test_imports_resolve_against_the_newest_module_of_that_name():
    one, two = lib(1, 1), lib(2, 2)
    assert main_of(Context([one, two, app()])) == 2
    assert main_of(Context([two, one, app()])) == 1


def test_imports_never_resolve_against_later_modules():
    one, two = lib(1, 1), lib(2, 2)
    ctx = Context([one, app(), two])
    assert main_of(ctx) == 1
    # The host lookup sees the newest module of that name.
    assert ctx.invoke("lib.which") == (2,)


def test_a_later_registration_call_does_not_rebind_existing_imports():
    ctx = Context([lib(1, 1), app()])
    ctx.register_modules([lib(2, 2)])
    assert main_of(ctx) == 1
    ctx.register_modules([app(name="app")])
    assert main_of(ctx) == 2  # the newest "app" is found by the host lookup


def test_an_optional_import_is_not_bound_to_a_module_registered_later():
    ctx = Context([app(optional=True)])
    ctx.register_modules([lib(1, 1)])
    assert ctx.invoke("app.resolved") == (0,)


def test_a_module_never_resolves_imports_against_itself():
    module = asm("""
        vm.module @self version 1
        vm.import @self.f cconv "0v_v"
        vm.func @f() -> () {
          vm.call @self.f()
          vm.return
        }
        vm.export @f
    """)
    with pytest.raises(status.NotFoundError) as e:
        Context([module])
    assert e.value.message == ("module 'self' required for import 'self.f' not registered "
                               "with the context")


def test_the_newest_module_of_a_name_is_the_only_candidate():
    # The newest "lib" has no `which`: resolution does not fall back to the older one.
    older = lib(1, 1)
    newer = asm("""
        vm.module @lib version 2
        vm.func @other() -> () {
          vm.return
        }
        vm.export @other
    """)
    with pytest.raises(status.NotFoundError, match="no function `which` exported by module"):
        Context([older, newer, app()])
    # ... nor does a signature mismatch with the newest fall back to an older match.
    newer_sig = asm("""
        vm.module @lib version 3
        vm.func @which(%i0: i32) -> (i32) {
          vm.return %i0
        }
        vm.export @which
    """)
    with pytest.raises(status.InternalError):
        Context([older, newer_sig, app()])


def test_imports_resolve_to_native_exports_by_name_and_cconv():
    class Lib(NativeModule):
        name = "lib"

        @export("0v_i")
        def which(self, state):
            return 77

    assert main_of(Context([Lib(), app()])) == 77
    with pytest.raises(status.InternalError, match="signature mismatch"):
        Context([Lib(), app("0i_i")])


# -- resolution errors (vm-runtime.md 8.1 step 3) -----------------------------------------
def test_missing_module():
    with pytest.raises(status.NotFoundError) as e:
        Context([app()])
    err = e.value
    assert err.code == StatusCode.NOT_FOUND
    assert err.message == ("module 'lib' required for import 'lib.which' not registered "
                           "with the context")
    assert "resolving module 'app' imports" in err.annotations
    assert "resolving module 'app' imports" in str(err)


def test_missing_export():
    with pytest.raises(status.NotFoundError) as e:
        Context([lib(1, 1), app(target="lib.nothere")])
    assert e.value.message.startswith("no function `nothere` exported by module")
    assert e.value.annotations[-1] == "resolving module 'app' imports"


def test_signature_mismatch_is_internal():
    with pytest.raises(status.InternalError) as e:
        Context([lib(1, 1), app("0i_i")])
    err = e.value
    assert err.code == StatusCode.INTERNAL
    assert err.message == ("import function lib.which signature mismatch between app and "
                           "source lib; expected 0i_i but got 0v_i")
    assert err.annotations[-1] == "resolving module 'app' imports"


def test_signature_mismatch_on_results_only():
    with pytest.raises(status.InternalError, match="expected 0v_I but got 0v_i"):
        Context([lib(1, 1), app("0v_I")])


@pytest.mark.parametrize("spelling", ["0_i", "0vv_i", "0v_vi"])
def test_signature_check_compares_cconv_strings_exactly(spelling):
    # vm-runtime.md 8.1: a non-empty expected cconv that *differs* from the exporter's is
    # a mismatch, even when both spell the same signature (IREE compares the strings).
    with pytest.raises(status.InternalError) as e:
        Context([lib(1, 1)]).resolve_import("lib.which", spelling, False, importer="app")
    assert e.value.message.endswith(f"expected {spelling} but got 0v_i")


def test_empty_cconv_disables_the_signature_check():
    module = asm("""
        vm.module @app version 1
        vm.import @lib.which cconv ""
        vm.func @main() -> () {
          vm.call @lib.which()
          vm.return
        }
        vm.export @main
    """)
    ctx = Context([lib(1, 5), module])
    assert ctx.invoke("app.main") == ()


class Importer(Module):
    """A module whose state resolves the given (name, cconv, optional) imports."""

    def __init__(self, name, imports):
        self.name = name
        self.wanted = imports

    def exports(self):
        return []

    def create_state(self, context):
        module = self

        class State(ModuleState):
            def __init__(self):
                self.module = module
                self.resolved = []

            def export_callables(self, name, *, budget):
                return None

            def resolve_imports(self, context):
                for full_name, cconv, optional in module.wanted:
                    self.resolved.append(context.resolve_import(
                        full_name, cconv, optional, importer=module.name))

        return State()


def test_import_name_must_be_fully_qualified():
    with pytest.raises(status.InvalidArgumentError) as e:
        Context([lib(1, 1), Importer("imp", [("which", "0v_i", False)])])
    assert e.value.message.startswith("import name not fully-qualified (module.func)")
    assert e.value.annotations[-1] == "resolving module 'imp' imports"
    # Optional imports are no exception: only NOT_FOUND leaves an import unresolved.
    with pytest.raises(status.InvalidArgumentError, match="not fully-qualified"):
        Context([lib(1, 1), Importer("imp", [("which", "0v_i", True)])])


def test_bytecode_imports_are_checked_for_qualification_when_loaded():
    base = app()
    with pytest.raises(status.InvalidArgumentError, match="fully-qualified"):
        BytecodeModule(attrs.evolve(base.definition, imports=(ImportDef("which", "0v_i"),)))


def test_resolve_import_results():
    one = lib(1, 1)
    ctx = Context([one])
    target, name = ctx.resolve_import("lib.which", "0v_i", False)
    assert (target.module, name) == (one, "which")
    assert ctx.resolve_import("lib.nothere", "0v_i", True) is None
    assert ctx.resolve_import("nomod.which", "0v_i", True) is None
    assert ctx.resolve_import("lib.which", "", False)[1] == "which"
    # The function name is everything after the first dot.
    with pytest.raises(status.NotFoundError, match="no function `a.b` exported"):
        ctx.resolve_import("lib.a.b", "", False)


def test_resolution_stops_at_the_first_failing_import_in_ordinal_order():
    module = asm("""
        vm.module @app version 1
        vm.import @lib.which cconv "0v_i"
        vm.import @gone.f cconv "0v_v"
        vm.import @lib.twice cconv "0v_v"
        vm.func @main() -> () {
          vm.call @gone.f()
          vm.call @lib.twice()
          vm.return
        }
        vm.export @main
    """)
    with pytest.raises(status.NotFoundError, match="module 'gone' required"):
        Context([lib(1, 1), module])


# -- optional imports -----------------------------------------------------------------
# vmasm.md 8.3 app, and two functions more.
SUM_OF_SQUARES = source(programs.text("app"), """
    vm.func @cube_directly(%i0: i32) -> (i32) {
      %i1 = vm.call @extras.cube(%i0)
      vm.return %i1
    }
    vm.export @cube_directly

    vm.func @resolved() -> (i32, i32) {
      %i0 = vm.import.resolved @mathlib.square
      %i1 = vm.import.resolved @extras.cube
      vm.return %i0, %i1
    }
    vm.export @resolved
""")


class Extras(NativeModule):
    name = "extras"

    @export("0i_i")
    def cube(self, state, x):
        return x * x * x


def test_optional_import_left_unresolved():
    ctx = Context([programs.module("mathlib"), asm(SUM_OF_SQUARES)])
    assert ctx.invoke("app.sum_of_squares", (3, 4)) == (25,)
    assert ctx.invoke("app.resolved") == (1, 0)


def test_calling_an_unresolved_optional_import_fails_not_found():
    ctx = Context([programs.module("mathlib"), asm(SUM_OF_SQUARES)])
    with pytest.raises(status.NotFoundError) as e:
        ctx.invoke("app.cube_directly", (2,))
    assert e.value.message == "optional import `extras.cube` (ordinal 1) not resolved"
    assert e.value.code == StatusCode.NOT_FOUND


def test_optional_import_resolved_when_present():
    ctx = Context([programs.module("mathlib"), Extras(), asm(SUM_OF_SQUARES)])
    assert ctx.invoke("app.resolved") == (1, 1)
    assert ctx.invoke("app.sum_of_squares", (3, 4)) == (15625,)
    assert ctx.invoke("app.cube_directly", (-2,)) == (-8,)


def test_optional_import_of_a_missing_export_is_left_unresolved():
    ctx = Context([lib(1, 1), app(target="lib.nothere", optional=True)])
    assert ctx.invoke("app.resolved") == (0,)
    with pytest.raises(status.NotFoundError, match="optional import `lib.nothere`"):
        ctx.invoke("app.main")


def test_optional_import_with_a_signature_mismatch_fails_registration():
    with pytest.raises(status.InternalError, match="signature mismatch"):
        Context([lib(1, 1), app("0I_i", optional=True)])


# -- dependencies (step 2) ------------------------------------------------------------
def with_deps(module: BytecodeModule, *deps: DependencyDef) -> BytecodeModule:
    return BytecodeModule(attrs.evolve(module.definition, dependencies=deps))


REQUIRED, OPTIONAL = DependencyDef.REQUIRED, DependencyDef.OPTIONAL


def test_required_dependency_missing():
    module = with_deps(lib(1, 1, "user"), DependencyDef("base", 1, REQUIRED))
    with pytest.raises(status.NotFoundError) as e:
        Context([module])
    assert e.value.message == "required module 'base' not registered on the context"


def test_required_dependency_too_old():
    module = with_deps(lib(1, 1, "user"), DependencyDef("base", 3, REQUIRED))
    with pytest.raises(status.NotFoundError) as e:
        Context([lib(2, 0, "base"), module])
    assert e.value.message == "required module 'base' version mismatch; have 2 but require 3"


def test_required_dependency_satisfied():
    module = with_deps(lib(1, 1, "user"), DependencyDef("base", 3, REQUIRED))
    ctx = Context([lib(3, 0, "base"), module])
    assert ctx.invoke("user.which") == (1,)
    ctx = Context([lib(4, 0, "base"), module])
    assert ctx.invoke("user.which") == (1,)


def test_dependencies_are_checked_against_the_newest_module_of_that_name():
    module = with_deps(lib(1, 1, "user"), DependencyDef("base", 3, REQUIRED))
    with pytest.raises(status.NotFoundError, match="have 1 but require 3"):
        Context([lib(5, 0, "base"), lib(1, 0, "base"), module])


def test_optional_dependencies_never_fail():
    module = with_deps(lib(1, 1, "user"), DependencyDef("base", 9, OPTIONAL),
                       DependencyDef("absent", 1, OPTIONAL))
    assert Context([lib(2, 0, "base"), module]).invoke("user.which") == (1,)
    assert Context([module]).invoke("user.which") == (1,)


def test_native_module_dependencies():
    class NeedsBase(NativeModule):
        name = "needs"
        dependencies = (DependencyDef("base", 2, REQUIRED),)

        @export("0v_v")
        def f(self, state):
            pass

    with pytest.raises(status.NotFoundError, match="required module 'base'"):
        Context([NeedsBase()])
    Context([lib(2, 0, "base"), NeedsBase()])


def test_dependency_is_not_satisfied_by_a_later_module_of_the_same_call():
    module = with_deps(lib(1, 1, "user"), DependencyDef("base", 1, REQUIRED))
    with pytest.raises(status.NotFoundError):
        Context([module, lib(1, 0, "base")])


# -- __init / __deinit / __notify -----------------------------------------------------
def test_init_in_registration_order_deinit_in_reverse_on_close():
    log = EventLog(names={1: "a", 2: "b"})
    ctx = Context([log, logged_module("a", 1), logged_module("b", 2)])
    assert log.events == [("log", "alloc"), ("a", "init"), ("b", "init")]
    del log.events[:]
    ctx.close()
    assert log.events == [("b", "deinit"), ("a", "deinit"), ("log", "free")]


def test_init_of_a_later_call_runs_after_earlier_ones():
    log = EventLog(names={1: "a", 2: "b"})
    ctx = Context([log, logged_module("a", 1)])
    ctx.register_modules([logged_module("b", 2)])
    assert log.events == [("log", "alloc"), ("a", "init"), ("b", "init")]
    ctx.close()


def test_notify_order():
    log = EventLog(names={1: "a", 2: "b"})
    ctx = Context([log, logged_module("a", 1), logged_module("b", 2)])
    del log.events[:]
    for signal in (RESUME, FORK):
        ctx.notify(signal)
        assert log.events == [("log", "notify", signal), ("a", "notify", signal),
                              ("b", "notify", signal)]
        del log.events[:]
    for signal in (SUSPEND, LOW_MEMORY):
        ctx.notify(signal)
        assert log.events == [("b", "notify", signal), ("a", "notify", signal),
                              ("log", "notify", signal)]
        del log.events[:]
    ctx.close()


def test_deinit_errors_are_ignored_on_close():
    log = EventLog(names={1: "a", 2: "b"})
    ctx = Context([log, logged_module("a", 1), logged_module("b", 2, deinit_fails=True)])
    del log.events[:]
    ctx.close()
    assert log.events == [("b", "deinit"), ("a", "deinit"), ("log", "free")]


def test_init_failure_aborts_the_registration():
    log = EventLog(names={1: "a"})
    ctx = Context([log])
    with pytest.raises(status.FailedPreconditionError) as e:
        ctx.register_modules([logged_module("a", 1, init_fails=True)])
    assert e.value.message == "init refused"
    assert ctx.modules == [log]


# -- rollback of a failed registration ------------------------------------------------
def test_rollback_after_an_init_failure_deinits_every_new_module_in_reverse():
    log = EventLog(names={1: "a", 2: "b", 3: "c"})
    ctx = Context([log])
    before = list(ctx.modules)
    modules = [logged_module("a", 1), logged_module("b", 2),
               logged_module("c", 3, init_fails=True)]
    with pytest.raises(status.FailedPreconditionError):
        ctx.register_modules(modules)
    assert log.events == [("log", "alloc"), ("a", "init"), ("b", "init"), ("c", "init"),
                          ("c", "deinit"), ("b", "deinit"), ("a", "deinit")]
    assert ctx.modules == before
    # The context still works and the same modules register again with fresh states.
    del log.events[:]
    ctx.register_modules(modules[:2])
    assert log.events == [("a", "init"), ("b", "init")]


def test_rollback_after_an_import_failure():
    # vm-runtime.md 8.1: every module registered by the call, *including the one that
    # failed*, has __deinit called (reverse order) and is released.
    log = EventLog(names={1: "a", 2: "b", 3: "c"})
    ctx = Context([log])
    broken = logged_module("c", 3, extra='vm.import @nowhere.f cconv "0v_v"')
    with pytest.raises(status.NotFoundError, match="module 'nowhere' required"):
        ctx.register_modules([logged_module("a", 1), logged_module("b", 2), broken])
    assert log.events == [("log", "alloc"), ("a", "init"), ("b", "init"),
                          ("c", "deinit"), ("b", "deinit"), ("a", "deinit")]
    assert ctx.modules == [log]


def test_rollback_frees_native_module_states():
    outer, inner = EventLog(), EventLog(names={1: "a"})
    ctx = Context([outer])
    with pytest.raises(status.FailedPreconditionError):
        ctx.register_modules([inner, logged_module("a", 1, init_fails=True)])
    assert inner.events == [("log", "alloc"), ("a", "init"), ("a", "deinit"),
                            ("log", "free")]
    assert ctx.modules == [outer]


def test_failed_constructor_releases_everything():
    log = EventLog(names={1: "a"})
    with pytest.raises(status.NotFoundError):
        Context([log, logged_module("a", 1), app()])
    assert log.events == [("log", "alloc"), ("a", "init"), ("a", "deinit"),
                          ("log", "free")]


def test_registering_a_non_module_fails():
    ctx = Context()
    with pytest.raises(status.InvalidArgumentError, match="not a pyree module"):
        ctx.register_modules([object()])
    assert ctx.modules == []


# -- static contexts ------------------------------------------------------------------
def test_static_context_refuses_later_registrations():
    ctx = Context([lib(1, 1)], static=True)
    with pytest.raises(status.FailedPreconditionError) as e:
        ctx.register_modules([app()])
    assert e.value.message == ("context was allocated as static and cannot register modules "
                               "after creation")
    assert ctx.modules[0].name == "lib"
    assert ctx.invoke("lib.which") == (1,)


def test_instance_creates_static_contexts():
    ctx = Instance().context([lib(1, 1), app()], static=True)
    assert main_of(ctx) == 1
    with pytest.raises(status.FailedPreconditionError, match="static"):
        ctx.register_modules([lib(1, 2, "other")])


# -- per-context state -------------------------------------------------------------------
STATE = """
    vm.module @state version 1
    vm.global.i32 private mutable @calls
    vm.global.i64 mutable @total = 0 : i64

    vm.func @bump() -> (i32) {
      %i0 = vm.global.load.i32 @calls
      %i1 = vm.const.i32 1
      %i0 = vm.add.i32 %i0, %i1
      vm.global.store.i32 %i0, @calls
      vm.return %i0
    }
    vm.export @bump

    vm.func @add(%i0:1: i64) -> (i64) {
      %i2:3 = vm.global.load.i64 @total
      %i2:3 = vm.add.i64 %i2:3, %i0:1
      vm.global.store.i64 %i2:3, @total
      vm.return %i2:3
    }
    vm.export @add

    vm.func @stash(%r0: !vmtest.token) -> () {
      vm.global.store.ref %R0, .refs[0] : !vmtest.token
      vm.return
    }
    vm.export @stash

    vm.func @fetch() -> (!vmtest.token) {
      %r0 = vm.global.load.ref .refs[0] : !vmtest.token
      vm.return %R0
    }
    vm.export @fetch
"""


def test_two_contexts_of_one_module_do_not_share_globals():
    module = asm(STATE)
    one, two = Context([module]), Context([module])
    assert [one.invoke("state.bump")[0] for _ in range(3)] == [1, 2, 3]
    assert two.invoke("state.bump") == (1,)
    assert one.invoke("state.add", (1 << 40,)) == (1 << 40,)
    assert two.invoke("state.add", (5,)) == (5,)
    assert one.invoke("state.add", (1,)) == ((1 << 40) + 1,)
    token = Token(7)
    one.invoke("state.stash", (token,))
    assert one.invoke("state.fetch")[0] is token
    assert two.invoke("state.fetch") == (None,)


def test_registering_a_module_twice_in_one_context_gives_two_states():
    module = asm(STATE)
    ctx = Context([module, module])
    assert len(ctx.modules) == 2
    assert ctx.invoke("state.bump") == (1,)
    assert ctx.invoke("state.bump") == (2,)


def test_globals_start_zeroed_and_null():
    module = asm(STATE)
    ctx = Context([module])
    ctx.invoke("state.bump")
    ctx.invoke("state.stash", (Token(1),))
    fresh = Context([module])
    assert fresh.invoke("state.bump") == (1,)
    assert fresh.invoke("state.fetch") == (None,)


def test_close_releases_ref_globals():
    import gc
    import weakref

    ctx = Context([asm(STATE)])
    token = Token(3)
    ref = weakref.ref(token)
    ctx.invoke("state.stash", (token,))
    del token
    gc.collect()
    assert ref() is not None
    ctx.close()
    gc.collect()
    assert ref() is None


def test_ref_type_name_resolves_through_the_instance_registry():
    assert TOKEN.name == "vmtest.token"


# -- host lookups and lifecycle -----------------------------------------------------------
def test_lookup_function():
    ctx = Context([lib(1, 4)])
    f = ctx.lookup_function("lib.twice")
    assert (f.name, f.cconv, f.qualified_name) == ("twice", "0i_i", "lib.twice")
    assert f(21) == (42,)
    assert ctx.lookup_function("which", module="lib")() == (4,)
    with pytest.raises(status.InvalidArgumentError):
        ctx.lookup_function("which")
    with pytest.raises(status.NotFoundError, match="module 'nope' not registered"):
        ctx.lookup_function("nope.which")
    with pytest.raises(status.NotFoundError, match="no function `nope` exported"):
        ctx.lookup_function("lib.nope")


def test_closed_context_refuses_use():
    ctx = Context([lib(1, 1)])
    f = ctx.lookup_function("lib.which")
    ctx.close()
    ctx.close()  # idempotent
    for action in (lambda: f(), lambda: ctx.register_modules([app()])):
        with pytest.raises(status.UseAfterReleaseError):
            action()


def test_context_manager_closes():
    log = EventLog(names={1: "a"})
    with Context([log, logged_module("a", 1)]) as ctx:
        assert isinstance(ctx, Context)
    assert log.events[-2:] == [("a", "deinit"), ("log", "free")]


# -- ABI buffer limit of resolved imports (vm-runtime.md 2.2) -----------------------------
def big_cconv(args: str, results: str = "v") -> str:
    return f"0{args}_{results}"


class Big(NativeModule):
    name = "big"

    @export(big_cconv("r" * 1024))  # 16 KiB exactly: fits
    def fits(self, state, *refs):
        pass

    @export(big_cconv("r" * 1024 + "i"))  # 16388 bytes, padded to 16392
    def args_too_big(self, state, *values):
        pass

    @export(big_cconv("i", "I" * 2049))  # 16392 bytes of results
    def results_too_big(self, state, x):
        return (0,) * 2049

    @export(big_cconv("iIri"))  # 40 bytes (the layout example of 2.2)
    def small(self, state, a, b, c, d):
        pass

    @export("0CrD_v")  # variadic: no static size, never rejected
    def spans(self, state, refs):
        pass


def importer(name: str, cconv: str, optional: bool = False) -> BytecodeModule:
    opt = "optional " if optional else ""
    return asm(f"""
        vm.module @user version 1
        vm.import @extra.nothing cconv "0v_v"
        vm.import {opt}@big.{name} cconv "{cconv}"
        vm.func @main() -> () {{
          vm.return
        }}
        vm.export @main
    """)


class Extra(NativeModule):
    name = "extra"

    @export("0v_v")
    def nothing(self, state):
        pass


@pytest.mark.parametrize("name", ["fits", "small", "spans"])
def test_imports_within_the_abi_buffer_limit_resolve(name):
    cconv = Big().lookup_export(name).cconv
    Context([Extra(), Big(), importer(name, cconv)]).invoke("user.main")
    Context([Extra(), Big(), importer(name, "")]).invoke("user.main")


@pytest.mark.parametrize("name", ["args_too_big", "results_too_big"])
def test_imports_beyond_the_abi_buffer_limit_are_rejected(name):
    cconv = Big().lookup_export(name).cconv
    for expected in (cconv, ""):
        with pytest.raises(status.InvalidArgumentError) as e:
            Context([Extra(), Big(), importer(name, expected)])
        assert e.value.message == "ABI marshaling buffer overflow on import 1"
        assert e.value.annotations[-1] == "resolving module 'user' imports"
    # An optional import that is not found is never sized.
    Context([Extra(), importer(name, cconv, optional=True)]).invoke("user.main")
