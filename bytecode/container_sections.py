"""Section codecs of the ``.pyrm`` container (private to :mod:`pyree.bytecode.container`).

Each section body is a little-endian record stream (layouts in ``spec/bytecode.md``).
Strings are ``u32 length + UTF-8``; optional strings use length ``0xFFFFFFFF`` for None.
Decoding runs through a bounds-checked :class:`_Cursor` that raises :class:`SectionError`
(converted to ``ContainerError`` by the caller) with the absolute offset at fault; every
count is checked against the remaining bytes before a list is built.
"""

from __future__ import annotations

import operator
import struct

from pyree.bytecode import isa
from pyree.bytecode.module_def import (
    DebugLocation,
    DependencyDef,
    ExportDef,
    FunctionDef,
    ImportDef,
    ModuleDef,
)

NONE_STRING = 0xFFFFFFFF
CODE_ALIGNMENT = 8
RODATA_ALIGNMENT = 64
_FUNC_FIXED = struct.Struct("<IIIHHHH")
_U16, _U32, _U64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")
_LIMITS = {"u16": 0xFFFF, "u32": 0xFFFFFFFF, "u64": 0xFFFFFFFFFFFFFFFF}


class SectionError(Exception):
    """Internal: a section failed to encode or decode (``offset`` None when encoding)."""

    def __init__(self, detail: str, section: str, offset: int | None = None):
        super().__init__(detail)
        self.detail, self.section, self.offset = detail, section, offset


def _align(n: int, alignment: int) -> int:
    return (n + alignment - 1) & -alignment


# --------------------------------------------------------------------------- encoding


class _Out:
    __slots__ = ("buf", "section")

    def __init__(self, section: str):
        self.buf = bytearray()
        self.section = section

    def _int(self, kind: str, st: struct.Struct, value, what: str) -> None:
        try:
            value = operator.index(value)
        except TypeError:
            raise SectionError(f"{what} = {value!r} is not an integer", self.section) from None
        if not 0 <= value <= _LIMITS[kind]:
            raise SectionError(f"{what} = {value!r} does not fit in {kind}", self.section)
        self.buf += st.pack(value)

    def u16(self, value, what: str) -> None:
        self._int("u16", _U16, value, what)

    def u32(self, value, what: str) -> None:
        self._int("u32", _U32, value, what)

    def u64(self, value, what: str) -> None:
        self._int("u64", _U64, value, what)

    def str(self, value, what: str) -> None:
        if not isinstance(value, str):
            raise SectionError(f"{what} = {value!r} is not a str", self.section)
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise SectionError(f"{what} is not encodable as UTF-8: {e}", self.section) from None
        self.u32(len(raw), f"length of {what}")
        self.buf += raw

    def opt_str(self, value, what: str) -> None:
        if value is None:
            self.buf += _U32.pack(NONE_STRING)
        else:
            self.str(value, what)


def _byte_view(value, what: str, section: str) -> memoryview:
    try:
        view = memoryview(value)
        return view.cast("B") if (view.format, view.ndim) != ("B", 1) else view
    except TypeError:
        raise SectionError(f"{what} is {type(value).__name__}, not a contiguous bytes-like "
                           "object", section) from None


def encode_sections(m: ModuleDef) -> dict[str, bytes]:
    """The body of every section of ``m``, keyed by tag."""
    out = {}
    o = _Out("MODL")
    o.u32(m.version, "version")
    major, minor = _version_pair(m.bytecode_version)
    o.u16(minor, "bytecode_version minor")
    o.u16(major, "bytecode_version major")
    o.u32(m.rwdata_size, "rwdata_size")
    o.u32(m.ref_global_count, "ref_global_count")
    o.str(m.name, "name")
    o.opt_str(m.source, "source")
    out["MODL"] = o.buf

    o = _Out("TYPE")
    o.u32(len(m.types), "type count")
    for i, name in enumerate(m.types):
        o.str(name, f"types[{i}]")
    out["TYPE"] = o.buf

    o = _Out("IMPT")
    o.u32(len(m.imports), "import count")
    for i, imp in enumerate(m.imports):
        o.u32(1 if imp.optional else 0, f"imports[{i}].optional")
        o.str(imp.full_name, f"imports[{i}].full_name")
        o.str(imp.cconv, f"imports[{i}].cconv")
    out["IMPT"] = o.buf

    o = _Out("EXPT")
    o.u32(len(m.exports), "export count")
    for i, exp in enumerate(m.exports):
        o.u32(exp.function, f"exports[{i}].function")
        o.str(exp.name, f"exports[{i}].name")
    out["EXPT"] = o.buf

    o = _Out("DEPS")
    o.u32(len(m.dependencies), "dependency count")
    for i, dep in enumerate(m.dependencies):
        o.u32(dep.minimum_version, f"dependencies[{i}].minimum_version")
        o.u32(dep.flags, f"dependencies[{i}].flags")
        o.str(dep.name, f"dependencies[{i}].name")
    out["DEPS"] = o.buf

    out["FUNC"], out["DBUG"], out["CODE"] = _encode_functions(m.functions)
    out["RODA"] = _encode_rodata(m.rodata)
    return {tag: bytes(body) for tag, body in out.items()}


def _version_pair(value) -> tuple[int, int]:
    if not (isinstance(value, tuple) and len(value) == 2):
        raise SectionError(f"bytecode_version = {value!r} is not a (major, minor) pair", "MODL")
    return value


def _encode_functions(functions) -> tuple[bytearray, bytearray, bytearray]:
    f, d, code = _Out("FUNC"), _Out("DBUG"), bytearray()
    f.u32(len(functions), "function count")
    d.u32(len(functions), "function count")
    for i, fn in enumerate(functions):
        where = f"functions[{i}]"
        body = _byte_view(fn.code, f"{where}.code", "FUNC")
        offset = _align(len(code), CODE_ALIGNMENT)
        code += bytes(offset - len(code))
        code += body
        f.u32(offset, f"{where} bytecode offset")
        f.u32(len(body), f"{where} bytecode length")
        f.u32(fn.requirements, f"{where}.requirements")
        f.u16(fn.block_count, f"{where}.block_count")
        f.u16(fn.i32_register_count, f"{where}.i32_register_count")
        f.u16(fn.ref_register_count, f"{where}.ref_register_count")
        f.u16(0, "reserved")
        f.str(fn.cconv, f"{where}.cconv")
        f.opt_str(fn.name, f"{where}.name")
        f.u32(len(fn.local_names), f"{where} local name count")
        for j, (ordinal, name) in enumerate(fn.local_names):
            f.u16(ordinal, f"{where}.local_names[{j}] ordinal")
            f.str(name, f"{where}.local_names[{j}] name")
        d.u32(len(fn.locations), f"{where} location count")
        for j, loc in enumerate(fn.locations):
            d.u32(loc.pc, f"{where}.locations[{j}].pc")
            d.str(loc.location, f"{where}.locations[{j}].location")
    return f.buf, d.buf, code


def _encode_rodata(rodata) -> bytearray:
    o = _Out("RODA")
    o.u32(len(rodata), "segment count")
    o.u32(0, "reserved")
    views = [_byte_view(seg, f"rodata[{i}]", "RODA") for i, seg in enumerate(rodata)]
    pos = len(o.buf) + 16 * len(views)
    offsets = []
    for view in views:
        pos = _align(pos, RODATA_ALIGNMENT)
        offsets.append(pos)
        pos += len(view)
    for i, (offset, view) in enumerate(zip(offsets, views)):
        o.u64(offset, f"rodata[{i}] offset")
        o.u64(len(view), f"rodata[{i}] length")
    for offset, view in zip(offsets, views):
        o.buf += bytes(offset - len(o.buf))
        o.buf += view
    return o.buf


# --------------------------------------------------------------------------- decoding


class _Cursor:
    __slots__ = ("end", "pos", "section", "view")

    def __init__(self, view: memoryview, start: int, length: int, section: str):
        self.view, self.pos, self.end, self.section = view, start, start + length, section

    def fail(self, detail: str, at: int | None = None) -> SectionError:
        return SectionError(detail, self.section, self.pos if at is None else at)

    def need(self, n: int, what: str) -> int:
        if n > self.end - self.pos:
            raise self.fail(f"{what} needs {n} bytes; only {self.end - self.pos} remain in "
                            "the section")
        at = self.pos
        self.pos += n
        return at

    def u16(self, what: str) -> int:
        return _U16.unpack_from(self.view, self.need(2, what))[0]

    def u32(self, what: str) -> int:
        return _U32.unpack_from(self.view, self.need(4, what))[0]

    def u64(self, what: str) -> int:
        return _U64.unpack_from(self.view, self.need(8, what))[0]

    def count(self, what: str, min_size: int) -> int:
        at = self.pos
        n = self.u32(what)
        if n * min_size > self.end - self.pos:
            raise self.fail(f"{what} {n} needs at least {n * min_size} bytes; only "
                            f"{self.end - self.pos} remain in the section", at)
        return n

    def str(self, what: str) -> str:
        at = self.pos
        n = self.u32(f"length of {what}")
        if n == NONE_STRING:
            raise self.fail(f"{what} is missing (null string)", at)
        start = self.need(n, what)
        try:
            return str(self.view[start:start + n], "utf-8")
        except UnicodeDecodeError as e:
            raise self.fail(f"{what} is not valid UTF-8 ({e.reason} at byte "
                            f"{start + e.start})", start + e.start) from None

    def opt_str(self, what: str) -> str | None:
        if self.end - self.pos >= 4 and _U32.unpack_from(self.view, self.pos)[0] == NONE_STRING:
            self.pos += 4
            return None
        return self.str(what)

    def done(self) -> None:
        if self.pos != self.end:
            raise self.fail(f"{self.end - self.pos} trailing bytes after the last record")


def decode_sections(view: memoryview, tables: dict[str, tuple[int, int]]) -> ModuleDef:
    def cursor(tag: str) -> _Cursor:
        return _Cursor(view, *tables[tag], tag)

    c = cursor("MODL")
    version = c.u32("version")
    at = c.pos
    minor, major = c.u16("bytecode_version minor"), c.u16("bytecode_version major")
    if major != isa.BYTECODE_VERSION_MAJOR or minor > isa.BYTECODE_VERSION_MINOR:
        raise c.fail("bytecode version mismatch; runtime supports "
                     f"{isa.BYTECODE_VERSION_MAJOR}.{isa.BYTECODE_VERSION_MINOR}, module has "
                     f"{major}.{minor}", at)
    rwdata_size, ref_global_count = c.u32("rwdata_size"), c.u32("ref_global_count")
    name, source = c.str("module name"), c.opt_str("source name")
    c.done()

    c = cursor("TYPE")
    types = tuple(c.str(f"types[{i}]") for i in range(c.count("type count", 4)))
    c.done()

    c = cursor("IMPT")
    imports = []
    for i in range(c.count("import count", 12)):
        at = c.pos
        flags = c.u32(f"imports[{i}] flags")
        if flags > 1:
            raise c.fail(f"imports[{i}] flags = {flags}; expected 0 or 1 (optional)", at)
        full_name = c.str(f"imports[{i}] name")
        imports.append(ImportDef(full_name, c.str(f"imports[{i}] cconv"), bool(flags)))
    c.done()

    c = cursor("EXPT")
    exports = []
    for i in range(c.count("export count", 8)):
        function = c.u32(f"exports[{i}] function")
        exports.append(ExportDef(c.str(f"exports[{i}] name"), function))
    c.done()

    c = cursor("DEPS")
    deps = []
    for i in range(c.count("dependency count", 12)):
        minimum, flags = c.u32(f"dependencies[{i}] version"), c.u32(f"dependencies[{i}] flags")
        deps.append(DependencyDef(c.str(f"dependencies[{i}] name"), minimum, flags))
    c.done()

    functions = _decode_functions(cursor("FUNC"), cursor("DBUG"), tables["CODE"], view)
    rodata = _decode_rodata(cursor("RODA"), view)
    return ModuleDef(
        name=name, version=version, types=types, imports=tuple(imports),
        exports=tuple(exports), functions=functions, rodata=rodata, rwdata_size=rwdata_size,
        ref_global_count=ref_global_count, dependencies=tuple(deps),
        bytecode_version=(major, minor), source=source)


def _decode_functions(c: _Cursor, d: _Cursor, code_span, view) -> tuple[FunctionDef, ...]:
    code_start, code_len = code_span
    count = c.count("function count", _FUNC_FIXED.size + 12)
    at = d.pos
    if d.u32("function count") != count:
        raise d.fail(f"debug info covers {_U32.unpack_from(view, at)[0]} functions; FUNC "
                     f"has {count}", at)
    out = []
    for i in range(count):
        where = f"functions[{i}]"
        at = c.need(_FUNC_FIXED.size, f"{where} descriptor")
        offset, length, req, blocks, i32s, refs, reserved = _FUNC_FIXED.unpack_from(view, at)
        if offset % CODE_ALIGNMENT or offset + length > code_len:
            raise c.fail(f"{where} bytecode [{offset}, {offset + length}) is not an "
                         f"{CODE_ALIGNMENT}-aligned range of the {code_len}-byte CODE "
                         "section", at)
        if reserved:
            raise c.fail(f"{where} reserved descriptor field is {reserved}, expected 0",
                         at + 18)
        cconv = c.str(f"{where} cconv")
        name = c.opt_str(f"{where} name")
        local_names = tuple(
            (c.u16(f"{where} local ordinal"), c.str(f"{where} local name"))
            for _ in range(c.count(f"{where} local name count", 6)))
        locations = tuple(
            DebugLocation(d.u32(f"{where} location pc"), d.str(f"{where} location"))
            for _ in range(d.count(f"{where} location count", 8)))
        body = bytes(view[code_start + offset:code_start + offset + length])
        out.append(FunctionDef(
            cconv=cconv, code=body, i32_register_count=i32s, ref_register_count=refs,
            block_count=blocks, requirements=req, name=name, local_names=local_names,
            locations=locations))
    c.done()
    d.done()
    return tuple(out)


def _decode_rodata(c: _Cursor, view: memoryview) -> tuple[memoryview, ...]:
    start, end = c.pos, c.end
    count = c.count("segment count", 16)
    at = c.pos
    if c.u32("reserved") != 0:
        raise c.fail("reserved word is not 0", at)
    out = []
    for i in range(count):
        at = c.pos
        offset, length = c.u64(f"rodata[{i}] offset"), c.u64(f"rodata[{i}] length")
        lo = start + offset
        if offset % RODATA_ALIGNMENT or offset < 8 + 16 * count or lo + length > end:
            raise c.fail(f"rodata[{i}] [{offset}, {offset + length}) is not a "
                         f"{RODATA_ALIGNMENT}-aligned range after the segment table inside "
                         f"the {end - start}-byte section", at)
        out.append(view[lo:lo + length])
    return tuple(out)
