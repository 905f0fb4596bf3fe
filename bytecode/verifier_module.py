"""Module-scope and function-scope verifier rules (contract: ``verifier.py`` docstring)."""

from __future__ import annotations

import operator

from pyree.bytecode import cconv as cconv_mod
from pyree.bytecode import isa
from pyree.bytecode.verifier_base import FunctionContext, ModuleContext, rule

from pyree.status import InvalidArgumentError, StatusCode, UnimplementedError

U32_MAX = 0xFFFFFFFF
#: Internal function and import ordinals share a u32 func_attr; bit 31 marks imports.
MAX_ORDINALS = 0x80000000
MAX_I32_REGISTERS = isa.I32_INDEX_MASK + 1
MAX_REF_REGISTERS = isa.REF_INDEX_MASK + 1


# --------------------------------------------------------------------------- module scope


@rule("bytecode-version", "module")
def _bytecode_version(m: ModuleContext) -> None:
    version = m.module.bytecode_version
    try:
        major, minor = version
        ok = major == isa.BYTECODE_VERSION_MAJOR and 0 <= minor <= isa.BYTECODE_VERSION_MINOR
    except (TypeError, ValueError):
        major, minor, ok = version, "?", False
    if not ok:
        raise m.fail("bytecode-version", "bytecode version mismatch; runtime supports "
                     f"{isa.BYTECODE_VERSION_MAJOR}.{isa.BYTECODE_VERSION_MINOR}, module has "
                     f"{major}.{minor}")


def _is_uint(value, limit: int) -> bool:
    try:
        return 0 <= operator.index(value) <= limit
    except TypeError:
        return False


@rule("module-limits", "module")
def _module_limits(m: ModuleContext) -> None:
    mod = m.module
    for field in ("version", "rwdata_size", "ref_global_count"):
        value = getattr(mod, field)
        if not _is_uint(value, U32_MAX):
            raise m.fail("module-limits", f"{field}: expected an integer in [0, 2^32), "
                         f"found {value!r}")
    for field, limit in (("functions", MAX_ORDINALS), ("imports", MAX_ORDINALS),
                         ("types", U32_MAX), ("rodata", U32_MAX), ("exports", U32_MAX)):
        if len(getattr(mod, field)) > limit:
            raise m.fail("module-limits", f"{len(getattr(mod, field))} {field}; at most "
                         f"{limit} are addressable")
    for i, name in enumerate(mod.types):
        if not isinstance(name, str) or not name:
            raise m.fail("module-limits", f"types[{i}]: expected a type name, found {name!r}")
    for i, seg in enumerate(mod.rodata):
        try:
            memoryview(seg)
        except TypeError:
            raise m.fail("module-limits", f"rodata[{i}]: expected bytes, found "
                         f"{type(seg).__name__}") from None
    for i, fn in enumerate(mod.functions):
        if not isinstance(fn.code, (bytes, bytearray, memoryview)):
            raise m.fail("module-limits", f"functions[{i}].code: expected bytes, found "
                         f"{type(fn.code).__name__}")
        if not _is_uint(fn.block_count, U32_MAX) or not _is_uint(fn.requirements, U32_MAX):
            raise m.fail("module-limits", f"functions[{i}]: block_count and requirements "
                         f"must be u32, found {fn.block_count!r} and {fn.requirements!r}")


@rule("import-name", "module")
def _import_name(m: ModuleContext) -> None:
    for i, imp in enumerate(m.module.imports):
        if not isinstance(imp.full_name, str) or "." not in imp.full_name:
            raise m.fail("import-name", f"import {i}: name {imp.full_name!r} is not "
                         "fully-qualified (expected 'module.function')")


def _cconvs(m: ModuleContext):
    for i, imp in enumerate(m.module.imports):
        yield f"import {i} '{imp.full_name}'", imp.cconv
    for i, fn in enumerate(m.module.functions):
        name = m.function_name(i)
        yield f"function {i}" + (f" '{name}'" if name else ""), fn.cconv


@rule("cconv-version", "module", StatusCode.UNIMPLEMENTED)
def _cconv_version(m: ModuleContext) -> None:
    for owner, text in _cconvs(m):
        if isinstance(text, str) and text and text[0] != "0":
            raise m.fail("cconv-version", f"{owner}: unsupported cconv version {text[0]!r} "
                         f"in {text!r}; expected '0'")


@rule("cconv-syntax", "module")
def _cconv_syntax(m: ModuleContext) -> None:
    for owner, text in _cconvs(m):
        if not isinstance(text, str):
            raise m.fail("cconv-syntax", f"{owner}: cconv must be a str, found {text!r}")
        try:
            cconv_mod.parse(text)
        except (InvalidArgumentError, UnimplementedError) as e:
            raise m.fail("cconv-syntax", f"{owner}: {e.message}") from None


@rule("export-ordinal", "module", StatusCode.OUT_OF_RANGE)
def _export_ordinal(m: ModuleContext) -> None:
    count = len(m.module.functions)
    for i, exp in enumerate(m.module.exports):
        if not _is_uint(exp.function, count - 1):
            raise m.fail("export-ordinal", f"export {i} '{exp.name}': function ordinal "
                         f"{exp.function!r} out of range; expected < {count}")


# --------------------------------------------------------------------------- function scope


@rule("register-count", "function", StatusCode.OUT_OF_RANGE)
def _register_count(f: FunctionContext) -> None:
    for field, limit in (("i32_register_count", MAX_I32_REGISTERS),
                         ("ref_register_count", MAX_REF_REGISTERS)):
        value = getattr(f.fn, field)
        if not _is_uint(value, limit):
            raise f.fail("register-count", f"register count overflow: {field} is {value!r}; "
                         f"expected 0..{limit}")


@rule("block-count-min", "function", StatusCode.OUT_OF_RANGE)
def _block_count_min(f: FunctionContext) -> None:
    if f.fn.block_count < 1:
        raise f.fail("block-count-min", "no blocks defined; functions must have at least one "
                     f"block (block_count is {f.fn.block_count})")


@rule("internal-variadic", "function")
def _internal_variadic(f: FunctionContext) -> None:
    if f.signature.has_spans:
        raise f.fail("internal-variadic", "internal functions cannot accept variadic "
                     f"arguments: cconv {f.fn.cconv!r} contains a span C...D")


@rule("argument-storage", "function")
def _argument_storage(f: FunctionContext) -> None:
    _, slots, refs = cconv_mod.register_placement(f.signature.arg_chars)
    if slots > f.i32_limit or refs > f.ref_limit:
        raise f.fail("argument-storage", "insufficient register storage for function "
                     f"arguments: cconv {f.fn.cconv!r} needs {slots} i32 slots and {refs} "
                     f"refs; the function has {f.i32_limit} and {f.ref_limit} (counts "
                     f"{f.fn.i32_register_count}/{f.fn.ref_register_count} rounded up to a "
                     "power of two)")
