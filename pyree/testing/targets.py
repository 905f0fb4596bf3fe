"""Fuzz targets: what ``pyree fuzz --target NAME`` runs, and how reproducers replay.

A :class:`Target` has a Hypothesis ``strategy()`` of inputs, ``check(example)`` that
raises :class:`Failure` when pyree misbehaves on one input, ``record(example, failure)``
that describes a failure as a reproducer, and ``replay(reproducer)``.

Targets of this layer: ``loader`` (arbitrary and damaged ``.pyrm`` bytes: reading and
loading raise only pyree errors; damaged containers are refused), ``verifier`` (damaged
modules: refused by the expected rule, or loaded and run with only pyree errors),
``interpreter`` (valid modules, loops without exit included: running stops with a
result or a pyree error, within the instruction budget and deadline) and
``differential`` (pyree's tiers agree with the reference evaluator). Other layers plug
in by registering a target under a name in :data:`PLUGINS` (``module:attribute``): the
HAL and ONNX targets appear once those layers ship them.
"""

from __future__ import annotations

import importlib
import time
from typing import ClassVar

import attrs
from hypothesis import strategies as st

from pyree import status
from pyree.testing import differential as D
from pyree.testing import families as fam
from pyree.testing import regressions as regs
from pyree.testing.mutations import CONTAINER_KINDS, KINDS, mutated_modules
from pyree.testing.strategies import ENTRY, Program, programs


class Failure(AssertionError):
    """pyree misbehaved; ``signature`` groups failures that are the same bug."""

    def __init__(self, message: str, signature: str):
        super().__init__(message)
        self.signature = signature


class TargetUnavailable(status.UnimplementedError):
    pass


#: Deadline and budget of one run (a generated program takes milliseconds).
RUN_BUDGET = 2_000_000
RUN_TIMEOUT = 20.0


def ref_args():
    """Ref arguments the differential and interpreter targets pass: null, a host buffer
    (mutable or not) or a host list of i32."""
    i32s = st.lists(st.integers(-2**31, 2**31 - 1), max_size=4).map(tuple)
    return (st.none() | st.builds(D.BufferArg, st.binary(max_size=16), st.booleans())
            | st.builds(D.ListArg, st.just("i32"), i32s))


def default_args(cconv: str) -> tuple:
    from pyree.bytecode import cconv as cc

    try:
        chars = cc.parse(cconv).arg_chars
    except status.PyreeError:
        return ()
    return tuple({"i": 0, "I": 0, "f": 0.0, "F": 0.0, "r": None}[c] for c in chars)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, status.PyreeError):
        return f"{exc.code_name}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def run_guarded(module_or_data, function: str | None, args, *, imports=None,
                libraries=()) -> str:
    """Load (bytes or ModuleDef, after its bytecode ``libraries``) and run ``function``
    under a budget and deadline; returns what happened; raises :class:`Failure` for
    anything but a result or a pyree error, or for a run that outlives its deadline."""
    from pyree import vm

    started = time.monotonic()
    try:
        if isinstance(module_or_data, (bytes, bytearray)):
            module = vm.BytecodeModule.from_bytes(module_or_data)
        else:
            module = vm.BytecodeModule(module_or_data)
        if function is None:
            return "loaded"
        libs = [vm.BytecodeModule(lib) for lib in libraries]
        with D.vm_limits(), vm.Context([*D._native_modules(imports), *libs, module]) as ctx:
            fn = ctx.lookup_function(function, module.name)
            if args is None:
                args = default_args(fn.cconv)
            ctx.invoke(fn, [D._pyree_arg(a) for a in args], instruction_budget=RUN_BUDGET,
                       timeout=RUN_TIMEOUT)
            outcome = "OK"
    except status.PyreeError as e:
        outcome = _describe(e)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        raise Failure(f"non-pyree exception {_describe(e)}",
                      f"crash-{type(e).__name__}") from e
    if time.monotonic() - started > RUN_TIMEOUT * 2:
        raise Failure(f"run took {time.monotonic() - started:.0f}s (deadline {RUN_TIMEOUT}s)",
                      "hang")
    return outcome


@attrs.define
class Target:
    name: str
    description: str

    def strategy(self):
        raise NotImplementedError

    def check(self, example) -> None:
        raise NotImplementedError

    def record(self, example, failure: Failure) -> tuple[dict, dict]:
        """(JSON record, input: ``{"module": ModuleDef}`` or ``{"data": bytes}``)."""
        raise NotImplementedError

    def replay(self, rep: regs.Reproducer) -> None:
        raise NotImplementedError


class LoaderTarget(Target):
    def strategy(self):
        damaged = mutated_modules(kinds=("container-truncate", "container-flip"))
        return st.binary(max_size=256) | damaged.map(lambda m: m.data)

    def check(self, data: bytes) -> None:
        run_guarded(data, None, None)

    def record(self, data, failure):
        return ({"target": self.name, "signature": failure.signature, "found": str(failure),
                 "expected": {"pyree_errors_only": True}}, {"data": data})

    def replay(self, rep):
        run_guarded(rep.data, None, None)


class VerifierTarget(Target):
    def strategy(self):
        return mutated_modules(kinds=tuple(k for k in KINDS if k not in CONTAINER_KINDS))

    def check(self, mutation) -> None:
        self._check(mutation.module, mutation.must_reject, mutation.rules)

    def _check(self, module, must_reject: bool, rules) -> None:
        from pyree import vm

        try:
            vm.BytecodeModule(module)
        except status.PyreeError as e:
            rule = getattr(e, "rule", None)
            if rules and rule not in rules:
                raise Failure(f"rejected by rule {rule!r}, expected one of {sorted(rules)}: "
                              f"{e}", f"rule-{rule}-not-{'-'.join(sorted(rules))}") from None
            return
        except BaseException as e:
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            raise Failure(f"non-pyree exception {_describe(e)}",
                          f"crash-{type(e).__name__}") from e
        if must_reject:
            raise Failure(f"accepted a module that must be rejected by {sorted(rules)}",
                          f"accepted-{'-'.join(sorted(rules)) or 'damage'}")
        run_guarded(module, ENTRY, None)

    def record(self, mutation, failure):
        return ({"target": self.name, "signature": failure.signature, "found": str(failure),
                 "note": f"{mutation.kind}: {mutation.detail}", "function": ENTRY,
                 "expected": {"reject": mutation.must_reject, "rules": sorted(mutation.rules)}},
                {"module": mutation.module})

    def replay(self, rep):
        expected = rep.record["expected"]
        self._check(rep.module, expected.get("reject", False), frozenset(expected.get("rules", ())))


class InterpreterTarget(Target):
    def strategy(self):
        return st.sampled_from(("bounded", "unbounded")).flatmap(
            lambda loops: programs(refs=ref_args(), loops=loops, imports=D.host_imports(),
                                   libraries=1))

    def check(self, program: Program) -> None:
        run_guarded(program.module, program.function, program.args, imports=D.HOST_FUNCTIONS,
                    libraries=program.libraries)

    def record(self, program, failure):
        return ({"target": self.name, "signature": failure.signature, "found": str(failure),
                 "function": program.function, "imports": "host",
                 "args": [regs.encode_value(a) for a in program.args],
                 "expected": {"pyree_errors_only": True}},
                {"module": program.module, "libraries": program.libraries})

    def replay(self, rep):
        run_guarded(rep.module, rep.record["function"], rep.args, imports=D.HOST_FUNCTIONS,
                    libraries=rep.libraries)


class DifferentialTarget(Target):
    #: Options of the programs compared. While a bug found here is
    #: open, steer around it (``arg_chars``, ``avoid``) and keep its reproducer in
    #: ``pending/``, so that campaigns look for new bugs.
    #: Every family, libm included (compared within ``differential.LIBM_ULPS``).
    options: ClassVar[dict] = {"families": fam.DEFAULT_FAMILIES, "libraries": 1}

    def strategy(self):
        return programs(refs=ref_args(), imports=D.host_imports(), **self.options)

    def check(self, program: Program) -> None:
        try:
            D.check(program, imports=D.HOST_FUNCTIONS)
        except D.Disagreement as e:
            raise Failure(str(e), f"{e.tier}-{e.expected.summary()[:20]}-vs-"
                                  f"{e.actual.summary()[:20]}") from None

    def record(self, program, failure):
        expected = D.reference_outcomes(program, imports=D.HOST_FUNCTIONS)
        first = expected if expected == D.INDETERMINATE else expected[0].summary()
        return ({"target": self.name, "signature": failure.signature, "found": str(failure),
                 "function": program.function, "imports": "host",
                 "args": [regs.encode_value(a) for a in program.args],
                 "expected": {"reference": first}},
                {"module": program.module, "libraries": program.libraries})

    def replay(self, rep):
        self.check(Program(rep.module, rep.record["function"], rep.args, rep.libraries))


TARGETS: dict[str, Target] = {t.name: t for t in (
    LoaderTarget("loader", "arbitrary and damaged container bytes"),
    VerifierTarget("verifier", "damaged modules: the right rule rejects them"),
    InterpreterTarget("interpreter", "valid programs stop with a result or a pyree error"),
    DifferentialTarget("differential", "pyree's tiers agree with the reference evaluator"),
)}

#: Targets of other layers, imported on first use (``module:attribute``).
PLUGINS = {
    "hal": "pyree.modules.hal.fuzz:TARGET",
    "onnx": "pyree.compiler.fuzz:TARGET",
}

NAMES = tuple(TARGETS) + tuple(PLUGINS)


def get(name: str) -> Target:
    if name in TARGETS:
        return TARGETS[name]
    if name not in PLUGINS:
        raise status.NotFoundError(f"no fuzz target {name!r}; targets: {', '.join(NAMES)}")
    module_name, _, attr = PLUGINS[name].partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        raise TargetUnavailable(
            f"fuzz target {name!r} is not available yet: {module_name} does not provide "
            f"{attr} (the layer registers its target when it ships one)") from None
    TARGETS[name] = target
    return target
