"""Contexts: ordered modules with one state each, linked by imports (vm-runtime.md 8).

Registration allocates each module's state, checks dependencies, resolves imports against
the modules registered *before* it (newest first, by name and exact cconv), then calls
``__init`` if exported. If anything fails, every module of that registration call gets
``__deinit`` (reverse order) and is dropped; the context keeps what it had. Closing a
context calls ``__deinit`` in reverse registration order (errors ignored) and frees the
states. Invocations on one context may run from several threads at once.
"""

from __future__ import annotations

import threading

from pyree import status
from pyree import tracing as _tracing
from pyree.bytecode import cconv as cc
from pyree.vm import invocation as _inv
from pyree.vm import ref as vmref
from pyree.vm.bytecode_module import MAX_CALL_DEPTH
from pyree.vm.module import Module, ModuleState

RESUME, SUSPEND, LOW_MEMORY, FORK = 0, 1, 2, 3

# Python frames per VM frame are bounded, so a deep but legal VM stack must fit.
_inv.ensure_recursion_limit(MAX_CALL_DEPTH)


class Function:
    """A function exported by a module of a context; call it like a Python function."""

    def __init__(self, context: Context, state: ModuleState, name: str, cconv: str):
        self.context = context
        self.state = state
        self.name = name
        self.cconv = cconv
        self.signature = cc.parse(cconv)
        self._callables = None
        self._convert = _inv.arg_converter(name, self.signature.args)

    @property
    def qualified_name(self) -> str:
        return f"{self.state.module.name}.{self.name}"

    def __call__(self, *args, **options):
        if options or _tracing.TRACER is not None:
            return self.context.invoke(self, args, **options)
        # Fast path for plain calls: bound callables, the context's shared plain Invocation
        # (immutable: unbudgeted translations never touch it), no option handling.
        context = self.context
        if context._closed:
            context._check_open()
        callables = self._callables
        if callables is None:
            callables = self._callables = self.state.export_callables(self.name, budget=False)
        if args or self.signature.args:
            args = self._convert(args)
        try:    # one argument: a plain call (runs in this eval loop; no *args tuple)
            if len(args) == 1:
                result = callables.yieldable(context._plain_invocation, 0, args[0])
            else:
                result = callables.yieldable(context._plain_invocation, 0, *args)
        except BaseException as exc:
            raise _inv.vm_error(self.name, exc) from None
        if result.__class__ is not _inv.GENERATOR:
            return result
        return self._finish(result)

    def _finish(self, result):
        """Runs a plain call's generator to completion: to the first suspension without a
        Call (what Call.resume does, minus the lock and the deadline a plain invocation
        does not have; most calls finish there), then as a Call."""
        context = self.context
        try:
            pending = result.send(None)
        except StopIteration as stop:
            return stop.value
        except BaseException as exc:
            result.close()
            raise _inv.vm_error(self.name, exc) from None
        call = _inv.Call(self.name, context._plain_invocation, result)
        call.pending = pending
        return _inv.run_to_completion(call)

    def __repr__(self) -> str:
        return f"<Function {self.qualified_name} {self.cconv!r}>"


# A Function whose arguments are all refs and integers gets a ``__call__`` generated for
# its argument count: the argument checks of ``invocation.arg_converter`` unrolled inline
# (no converter frame), the rest of the plain path as ``Function.__call__`` takes it.
# Anything else (options, a tracer, another argument count, an argument needing
# conversion, an unresolved or closed function) goes to ``Function.__call__``, which
# converts, raises and annotates exactly as before.
_CALL_SOURCE = """
def __call__(self, *args, **options):
    if options or _tracing.TRACER is not None or len(args) != {count}:
        return _Function.__call__(self, *args, **options)
    {unpack}
    callables = self._callables
    context = self.context
    if callables is None or context._closed or not ({tests}):
        return _Function.__call__(self, *args, **options)
    try:
        result = callables.yieldable(context._plain_invocation, 0{params})
    except BaseException as exc:
        raise _vm_error(self.name, exc) from None
    if result.__class__ is not _GENERATOR:
        return result
    return self._finish(result)
"""
_FUNCTION_CLASSES: dict = {}


def _function_class(cconv: str) -> type:
    """Function, or its subclass with the generated ``__call__`` for ``cconv``'s arguments
    (one class per argument string, made once)."""
    chars = cc.parse(cconv).args
    if not chars or any(c not in ("r", "i", "I") for c in chars):
        return Function
    key = "".join(chars)
    found = _FUNCTION_CLASSES.get(key)
    if found is None:
        limits = {"i": (-(1 << 31), 1 << 31), "I": (-(1 << 63), 1 << 63)}
        tests = []
        for i, c in enumerate(chars):
            if c == "r":
                tests.append(f"(a{i} is None or a{i}.__class__ in _registered)")
            else:
                tests.append(f"a{i}.__class__ is int and {limits[c][0]} <= a{i} < "
                             f"{limits[c][1]}")
        names = [f"a{i}" for i in range(len(chars))]
        source = _CALL_SOURCE.format(count=len(chars), unpack=f"{', '.join(names)}, = args",
                                     tests=" and ".join(tests),
                                     params="".join(", " + n for n in names))
        namespace = {"_Function": Function, "_tracing": _tracing, "_vm_error": _inv.vm_error,
                     "_GENERATOR": _inv.GENERATOR, "_registered": vmref._BY_CLS}
        exec(compile(source, f"<pyree function call {key}>", "exec"), namespace)  # noqa: S102
        found = _FUNCTION_CLASSES[key] = type(f"Function_{key}", (Function,),
                                              {"__call__": namespace["__call__"],
                                               "__slots__": ()})
    return found


class Context:
    def __init__(self, modules=(), *, instance=None, static: bool = False):
        self.instance = instance
        self._states: list[ModuleState] = []
        self._lock = threading.RLock()
        self._closed = False
        self._static = False
        self._plain_invocation = _inv.Invocation.plain(self)
        if modules:
            self.register_modules(modules)
        self._static = static

    # -- registration ----------------------------------------------------------------
    @property
    def modules(self) -> list[Module]:
        return [s.module for s in self._states]

    def register_modules(self, modules) -> None:
        modules = list(modules)
        with self._lock:
            self._check_open()
            if self._static:
                raise status.FailedPreconditionError(
                    "context was allocated as static and cannot register modules after "
                    "creation")
            added: list[ModuleState] = []
            try:
                for module in modules:
                    if not isinstance(module, Module):
                        raise status.InvalidArgumentError(
                            f"not a pyree module: {type(module).__name__}")
                    state = module.create_state(self)
                    added.append(state)
                    self._check_dependencies(module)
                    try:
                        state.resolve_imports(self)
                    except status.PyreeError as e:
                        raise e.annotate(f"resolving module '{module.name}' imports")
                    self._states.append(state)
                    self._call_special(state, "__init")
            except BaseException:
                # Every module of this call, including the one that failed, gets __deinit.
                for state in reversed(added):
                    self._call_special(state, "__deinit", ignore_errors=True)
                    if state in self._states:
                        self._states.remove(state)
                    state.close()
                raise

    def _check_dependencies(self, module: Module) -> None:
        for dep in module.dependencies:
            found = self.find_state(dep.name)
            if found is None:
                if dep.flags & dep.REQUIRED:
                    raise status.NotFoundError(
                        f"required module '{dep.name}' not registered on the context")
            elif found.module.version < dep.minimum_version and dep.flags & dep.REQUIRED:
                raise status.NotFoundError(
                    f"required module '{dep.name}' version mismatch; have "
                    f"{found.module.version} but require {dep.minimum_version}")

    def find_state(self, module_name: str) -> ModuleState | None:
        for state in reversed(self._states):
            if state.module.name == module_name:
                return state
        return None

    def resolve_import(self, full_name: str, cconv: str, optional: bool, importer: str = "?"):
        """(target state, export name) for an import, or None for a missing optional one."""
        module_name, dot, fn_name = full_name.partition(".")
        if not dot:
            raise status.InvalidArgumentError(
                f"import name not fully-qualified (module.func): '{full_name}'")
        state = self.find_state(module_name)
        try:
            if state is None:
                raise status.NotFoundError(f"module '{module_name}' required for import "
                                           f"'{full_name}' not registered with the context")
            info = state.module.lookup_export(fn_name)
            if info is None:
                raise status.NotFoundError(
                    f"no function `{fn_name}` exported by module `{module_name}`")
        except status.NotFoundError:
            if optional:
                return None
            raise
        if cconv and cconv != info.cconv:
            raise status.InternalError(
                f"import function {full_name} signature mismatch between {importer} and "
                f"source {module_name}; expected {cconv} but got {info.cconv}")
        return state, fn_name

    # -- lookup and invocation -----------------------------------------------------------
    def lookup_function(self, name: str, module: str | None = None) -> Function:
        """Find an export by ``"module.function"`` (or ``name`` in ``module``)."""
        if module is None:
            module, dot, name = name.partition(".")
            if not dot:
                raise status.InvalidArgumentError(
                    f"function name must be qualified as module.function: '{module}'")
        state = self.find_state(module)
        if state is None:
            raise status.NotFoundError(f"module '{module}' not registered with the context")
        info = state.module.lookup_export(name)
        if info is None:
            raise status.NotFoundError(f"no function `{name}` exported by module `{module}`")
        return _function_class(info.cconv)(self, state, info.name, info.cconv)

    def begin_call(self, function: Function | str, args=(), *, instruction_budget=None,
                   deadline=None, timeout=None, on_trace=None) -> _inv.Call:
        fn = self.lookup_function(function) if isinstance(function, str) else function
        self._check_open()
        budget = instruction_budget is not None or deadline is not None or timeout is not None
        if timeout is not None:
            import time
            limit = time.monotonic() + timeout
            deadline = limit if deadline is None else min(deadline, limit)
        callables = fn.state.export_callables(fn.name, budget=budget)
        label = fn.name
        converted = _inv.convert_args(label, fn.signature.args, tuple(args))
        inv = _inv.Invocation(self, instruction_budget, deadline, on_trace)
        return _inv.begin_call(label, callables, converted, inv)

    def invoke(self, function: Function | str, args=(), **options) -> tuple:
        """Run ``function`` to completion (resuming through suspensions); results tuple."""
        tracer = _tracing.TRACER
        if tracer is not None:  # one "vm" event per invocation (pyree/tracing.py)
            name = function if isinstance(function, str) else function.qualified_name
            with tracer.span(name, "vm"):
                return _inv.run_to_completion(self.begin_call(function, args, **options))
        call = self.begin_call(function, args, **options)
        return _inv.run_to_completion(call)

    def _call_special(self, state: ModuleState, name: str, ignore_errors=False) -> None:
        info = state.module.lookup_export(name)
        if info is None:
            return
        try:
            self.invoke(Function(self, state, name, info.cconv))
        except status.PyreeError:
            if not ignore_errors:
                raise

    # -- notifications and teardown ------------------------------------------------------
    def notify(self, signal: int) -> None:
        states = self._states if signal in (RESUME, FORK) else list(reversed(self._states))
        for state in states:
            state.notify(signal)
            info = state.module.lookup_export("__notify")
            if info is not None:
                self.invoke(Function(self, state, "__notify", info.cconv), (signal,))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                for state in reversed(self._states):
                    self._call_special(state, "__deinit", ignore_errors=True)
            finally:
                self._closed = True
                states, self._states = self._states, []
            failure = None
            for state in reversed(states):
                try:
                    state.close()
                except Exception as e:  # noqa: BLE001 - free every state, report the first
                    failure = failure or e
            if failure is not None:
                raise failure

    def _check_open(self) -> None:
        if self._closed:
            raise status.UseAfterReleaseError("context is closed")

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
