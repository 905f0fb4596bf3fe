"""Shared machinery of the verifier: errors, the rule table and the verification contexts.

The contract (what each rule checks) is the docstring of :mod:`pyree.bytecode.verifier`.
Rules register themselves here with :func:`rule`; ``verifier.py`` imports the rule modules
and checks at import time that the registered ids are exactly the documented ones.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from pyree.bytecode import cconv as cconv_mod
from pyree.bytecode import isa
from pyree.bytecode.module_def import FunctionDef, ModuleDef

from pyree.status import (
    FailedPreconditionError,
    InvalidArgumentError,
    OutOfRangeError,
    PyreeError,
    StatusCode,
    UnimplementedError,
)


class VerificationError(PyreeError):
    """A module failed load-time verification.

    Raised as one of the status-specific subclasses below (each also a subclass of the
    matching :mod:`pyree.status` class). Attributes: ``module`` (name), ``function``
    (ordinal or None), ``function_name`` (export or debug name, if known), ``pc`` (byte
    offset in the function, or None), ``rule`` (the stable rule id) and ``detail`` (the
    message without the location prefix).
    """

    def __init__(self, detail: str = "", *, module: str | None = None,
                 function: int | None = None, function_name: str | None = None,
                 pc: int | None = None, rule: str | None = None, **kwargs):
        where = [f"module '{module}'"] if module is not None else []
        if function is not None:
            where.append(f"function {function}" + (f" '{function_name}'" if function_name
                                                   else ""))
        if pc is not None:
            where.append(f"pc {pc}")
        text = f"verification failed: {', '.join(where)}" + (f" [{rule}]" if rule else "")
        super().__init__(f"{text}: {detail}", **kwargs)
        self.detail, self.module, self.function = detail, module, function
        self.function_name, self.pc, self.rule = function_name, pc, rule

    def __reduce__(self):
        return (_rebuild, (type(self), self.detail, self.module, self.function,
                           self.function_name, self.pc, self.rule, self.annotations))


def _rebuild(cls, detail, module, function, function_name, pc, rule, annotations):
    return cls(detail, module=module, function=function, function_name=function_name, pc=pc,
               rule=rule, annotations=annotations)


class VerificationInvalidArgumentError(VerificationError, InvalidArgumentError):
    code = StatusCode.INVALID_ARGUMENT


class VerificationOutOfRangeError(VerificationError, OutOfRangeError):
    code = StatusCode.OUT_OF_RANGE


class VerificationFailedPreconditionError(VerificationError, FailedPreconditionError):
    code = StatusCode.FAILED_PRECONDITION


class VerificationUnimplementedError(VerificationError, UnimplementedError):
    code = StatusCode.UNIMPLEMENTED


ERROR_CLASSES: dict[StatusCode, type[VerificationError]] = {
    cls.code: cls for cls in (
        VerificationInvalidArgumentError, VerificationOutOfRangeError,
        VerificationFailedPreconditionError, VerificationUnimplementedError)
}

#: Rule scopes, in the order the driver runs them.
SCOPES = ("module", "function", "code", "instruction")


@attrs.frozen
class Rule:
    """One verification rule. ``check`` takes (ModuleContext) for module scope,
    (FunctionContext) for function and code scope, and (FunctionContext, Instr, operands)
    for instruction scope; ``applies`` filters instruction rules per opcode."""

    id: str
    status: StatusCode
    scope: str
    check: Callable
    applies: Callable[[isa.Op], bool] | None = None


#: rule id -> Rule, in registration (= execution) order within each scope.
RULES: dict[str, Rule] = {}


def rule(rule_id: str, scope: str, status: StatusCode = StatusCode.INVALID_ARGUMENT,
         applies: Callable[[isa.Op], bool] | None = None):
    """Register the decorated function as the check of ``rule_id``."""
    if scope not in SCOPES or status not in ERROR_CLASSES:
        raise ValueError(f"bad rule registration {rule_id!r}: {scope!r}, {status!r}")

    def register(check):
        if rule_id in RULES:
            raise ValueError(f"duplicate verifier rule {rule_id!r}")
        RULES[rule_id] = Rule(rule_id, status, scope, check, applies)
        return check

    return register


def make_error(rule_id: str, detail: str, **where) -> VerificationError:
    return ERROR_CLASSES[RULES[rule_id].status](detail, rule=rule_id, **where)


def pow2_at_least(n: int) -> int:
    """``n`` rounded up to a power of two, minimum 1 (the verifier's register limit)."""
    return 1 << max(0, n - 1).bit_length()


def fmt_reg(ordinal: int) -> str:
    """``%iN``, ``%rN`` or ``%RN`` (ref with move bit) for a raw ordinal."""
    if ordinal & isa.REF_BIT:
        return ("%R" if ordinal & isa.MOVE_BIT else "%r") + str(ordinal & isa.REF_INDEX_MASK)
    return f"%i{ordinal & isa.I32_INDEX_MASK}"


class ModuleContext:
    """The module being verified; ``fail`` builds a located :class:`VerificationError`."""

    __slots__ = ("module", "name")

    def __init__(self, module: ModuleDef):
        self.module = module
        self.name = module.name

    def fail(self, rule_id: str, detail: str) -> VerificationError:
        return make_error(rule_id, detail, module=self.name)

    def function_name(self, ordinal: int) -> str | None:
        try:
            return self.module.function_name(ordinal)
        except (IndexError, AttributeError):
            return None

    def callee_cconv(self, callee: int) -> tuple[str, cconv_mod.CConv]:
        """(description, parsed cconv) of a func_attr already proven in range."""
        if callee & 0x80000000:
            imp = self.module.imports[callee & 0x7FFFFFFF]
            return f"import {callee & 0x7FFFFFFF} '{imp.full_name}'", cconv_mod.parse(imp.cconv)
        fn = self.module.functions[callee]
        name = self.function_name(callee)
        label = f"function {callee}" + (f" '{name}'" if name else "")
        return label, cconv_mod.parse(fn.cconv)


class FunctionContext:
    """One function being verified: limits, parsed signature and decoded instructions."""

    __slots__ = (
        "block_pcs",
        "fn",
        "i32_limit",
        "instrs",
        "mctx",
        "name",
        "ordinal",
        "ref_limit",
    )

    def __init__(self, mctx: ModuleContext, ordinal: int, fn: FunctionDef):
        self.mctx = mctx
        self.ordinal = ordinal
        self.fn = fn
        self.name = mctx.function_name(ordinal)
        try:
            self.i32_limit = pow2_at_least(fn.i32_register_count)
            self.ref_limit = pow2_at_least(fn.ref_register_count)
        except TypeError:  # rejected by the "register-count" rule before any use
            self.i32_limit = self.ref_limit = 1
        self.instrs: list = []
        self.block_pcs: frozenset[int] = frozenset()

    @property
    def module(self) -> ModuleDef:
        return self.mctx.module

    @property
    def signature(self) -> cconv_mod.CConv:
        return cconv_mod.parse(self.fn.cconv)

    def fail(self, rule_id: str, detail: str, pc: int | None = None) -> VerificationError:
        return make_error(rule_id, detail, module=self.mctx.name, function=self.ordinal,
                          function_name=self.name, pc=pc)
