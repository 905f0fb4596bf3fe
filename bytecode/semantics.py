"""One-line semantics for every instruction, in register notation (``vm-isa.md`` section 5).

Operand names are the isa.json field names. ``s32``/``u32``/``s64``/``u64`` read the same
bits as signed/unsigned. This table is joined with isa.json in ``isa.py``; an import-time
check there fails if any instruction lacks a line or a line names no instruction.
"""

from __future__ import annotations


def _per_type(types, template):
    return {template[0].format(t=t): template[1].format(t=t) for t in types}


_INT = ("i32", "i64")
_FLT = ("f32", "f64")
_VAL = ("i32", "i64", "f32", "f64")

SEMANTICS: dict[str, str] = {"block": "marks the start of a basic block; executes as a no-op"}

for _t in _VAL:
    SEMANTICS.update({
        f"global.load.{_t}": f"result = {_t} at rwdata[byte_offset]",
        f"global.store.{_t}": f"rwdata[byte_offset] = value ({_t})",
        f"global.load.indirect.{_t}":
            f"result = {_t} at rwdata[u32(byte_offset)]; OUT_OF_RANGE past the storage",
        f"global.store.indirect.{_t}":
            f"rwdata[u32(byte_offset)] = value ({_t}); OUT_OF_RANGE past the storage",
        f"const.{_t}.zero": "result = 0",
        f"const.{_t}": "result = value (bit-exact immediate)",
        f"list.get.{_t}": f"result = list[index] converted to {_t} (ints extend/truncate, "
                          "f32<->f64 convert, int<->float gives 0)",
        f"list.set.{_t}": "list[index] = value converted to the element type",
        f"select.{_t}": "result = condition != 0 ? true_value : false_value",
        f"switch.{_t}": "result = 0 <= s32(index) < len(values) ? values[index] : default_value",
        f"buffer.load.{_t}": f"result = {_t} element source_offset of source_buffer",
        f"buffer.store.{_t}": f"{_t} element target_offset of target_buffer = value",
        f"buffer.fill.{_t}": f"{_t} elements [target_offset, +length) of target_buffer = value",
    })

for _t in _INT:
    _w = _t[1:]
    SEMANTICS.update({
        f"add.{_t}": f"result = left + right (wraps at {_w} bits)",
        f"sub.{_t}": f"result = left - right (wraps at {_w} bits)",
        f"mul.{_t}": f"result = low {_w} bits of left * right",
        f"div.{_t}.s": f"result = trunc(s{_w}(left) / s{_w}(right)); "
                       "INVALID_ARGUMENT on zero or MIN / -1",
        f"div.{_t}.u": f"result = u{_w}(left) / u{_w}(right); INVALID_ARGUMENT on zero",
        f"rem.{_t}.s": f"result = s{_w}(left) - trunc(left / right) * right; "
                       "INVALID_ARGUMENT on zero or MIN rem -1",
        f"rem.{_t}.u": f"result = u{_w}(left) mod u{_w}(right); INVALID_ARGUMENT on zero",
        f"fma.{_t}": f"result = first * second + third (wraps at {_w} bits)",
        f"abs.{_t}": f"result = |s{_w}(operand)| (MIN stays MIN)",
        f"not.{_t}": "result = ~operand",
        f"and.{_t}": "result = left & right",
        f"or.{_t}": "result = left | right",
        f"xor.{_t}": "result = left ^ right",
        f"shl.{_t}": f"result = operand << (amount & {int(_w) - 1})",
        f"shr.{_t}.s": f"result = s{_w}(operand) >> (amount & {int(_w) - 1})",
        f"shr.{_t}.u": f"result = u{_w}(operand) >> (amount & {int(_w) - 1})",
        f"ctlz.{_t}": f"result = leading zero bits of u{_w}(operand) ({_w} for 0)",
        f"min.{_t}.s": f"result = s{_w}(right) < s{_w}(left) ? right : left",
        f"min.{_t}.u": f"result = u{_w}(right) < u{_w}(left) ? right : left",
        f"max.{_t}.s": f"result = s{_w}(left) < s{_w}(right) ? right : left",
        f"max.{_t}.u": f"result = u{_w}(left) < u{_w}(right) ? right : left",
        f"cmp.eq.{_t}": "result = left == right",
        f"cmp.ne.{_t}": "result = left != right",
        f"cmp.lt.{_t}.s": f"result = s{_w}(left) < s{_w}(right)",
        f"cmp.lt.{_t}.u": f"result = u{_w}(left) < u{_w}(right)",
        f"cmp.nz.{_t}": "result = operand != 0",
    })

_MATH = {
    "atan": "atan(operand)", "atan2": "atan2(left = y, right = x)", "cos": "cos(operand)",
    "sin": "sin(operand)", "exp": "e ** operand", "exp2": "2 ** operand",
    "expm1": "e ** operand - 1", "log": "ln(operand)", "log10": "log10(operand)",
    "log1p": "ln(1 + operand)", "log2": "log2(operand)",
    "pow": "pow(left = base, right = exponent) with C pow special cases",
    "rsqrt": "1 / sqrt(operand)", "sqrt": "sqrt(operand), correctly rounded",
    "tanh": "tanh(operand)", "erf": "erf(operand)",
}

for _t in _FLT:
    SEMANTICS.update({
        f"add.{_t}": "result = left + right", f"sub.{_t}": "result = left - right",
        f"mul.{_t}": "result = left * right",
        f"div.{_t}": "result = left / right (x/0 = +-inf, 0/0 = NaN)",
        f"rem.{_t}": "result = IEEE remainder(left, right) (quotient rounded to nearest even)",
        f"fma.{_t}": f"result = {_t}({_t}(first * second) + third) (unfused, two roundings)",
        f"abs.{_t}": "result = operand with the sign bit cleared",
        f"neg.{_t}": "result = operand with the sign bit flipped",
        f"ceil.{_t}": "result = operand rounded toward +inf",
        f"floor.{_t}": "result = operand rounded toward -inf",
        f"round.{_t}": "result = operand rounded to nearest, ties away from zero",
        f"round.{_t}.even": "result = operand rounded to nearest, ties to even "
                            "(a tie rounding to zero gives +0)",
        f"min.{_t}": "result = right < left ? right : left",
        f"max.{_t}": "result = left < right ? right : left",
        f"cmp.eq.{_t}.o": "result = left == right (false on NaN)",
        f"cmp.eq.{_t}.u": "result = isnan(left) or isnan(right) or left == right",
        f"cmp.ne.{_t}.o": "result = left != right (C !=, true on NaN as in IREE)",
        f"cmp.ne.{_t}.u": "result = isnan(left) or isnan(right) or left != right",
        f"cmp.lt.{_t}.o": "result = left < right (false on NaN)",
        f"cmp.lt.{_t}.u": "result = isnan(left) or isnan(right) or left < right",
        f"cmp.lte.{_t}.o": "result = left <= right (false on NaN)",
        f"cmp.lte.{_t}.u": "result = isnan(left) or isnan(right) or left <= right",
        f"cmp.nan.{_t}": "result = isnan(operand)",
    })
    SEMANTICS.update({f"{name}.{_t}": f"result = {text}" for name, text in _MATH.items()})

_ROUND_TO_INT = "round half away from zero"
SEMANTICS.update({
    "global.load.ref": "value = refs[global] (retain, or move out), type-checked against type_def",
    "global.store.ref": "refs[global] = value (retain, or move), type-checked against type_def",
    "global.load.indirect.ref": "value = refs[u32(global)], checked index, type-checked",
    "global.store.indirect.ref": "refs[u32(global)] = value, checked index, type-checked",
    "const.ref.zero": "result = null (releasing what it held)",
    "const.ref.rodata": "value = the module's immutable vm.buffer for segment rodata",
    "list.alloc": "result = new list<element_type> with capacity >= u32(initial_capacity)",
    "list.reserve": "ensure capacity(list) >= u32(minimum_capacity)",
    "list.size": "result = size(list)",
    "list.resize": "size(list) = u32(new_size); new elements zero/null, dropped refs released",
    "list.get.ref": "result = list[index] if it is a ref of exactly type_def, else null",
    "list.set.ref": "list[index] = value (retain, or move); typed lists reject other types",
    "select.ref": "result = condition ? true_value : false_value (retain or move), "
                  "type-checked; a moved unchosen operand is released",
    "switch.ref": "result = 0 <= s32(index) < len(values) ? values[index] : default_value, "
                  "type-checked",
    "trunc.i32.i8": "result = operand & 0xFF",
    "trunc.i32.i16": "result = operand & 0xFFFF",
    "trunc.i64.i32": "result = low 32 bits of operand",
    "ext.i8.i32.s": "result = sign-extended low 8 bits of operand",
    "ext.i8.i32.u": "result = zero-extended low 8 bits of operand",
    "ext.i16.i32.s": "result = sign-extended low 16 bits of operand",
    "ext.i16.i32.u": "result = zero-extended low 16 bits of operand",
    "ext.i32.i64.s": "result = s32(operand) as i64",
    "ext.i32.i64.u": "result = u32(operand) as i64",
    "cmp.eq.ref": "result = left and right are the same object (or both null)",
    "cmp.ne.ref": "result = not cmp.eq.ref(left, right)",
    "cmp.nz.ref": "result = operand is not null",
    "br": "apply the remap operands; continue at dest_pc + 1",
    "cond_br": "condition != 0 ? (true remap, true_dest_pc + 1) : (false remap, false_dest_pc + 1)",
    "br_table": "take case s32(index) if 0 <= index < table_size else the default; remap, jump",
    "call": "results = callee_ordinal(operands) (internal function or import)",
    "call.variadic": "results = import callee_ordinal(operands), spans sized by segment_sizes",
    "call.yieldable": "results = callee_ordinal(operands), which may suspend; "
                      "continue at dest_pc + 1",
    "call.variadic.yieldable": "variadic import call that may suspend; continue at dest_pc + 1",
    "return": "return operands to the caller",
    "fail": "status != 0 ? fail with code status & 0x1F and message : no-op",
    "import.resolved": "result = 1 if import import_ordinal is bound, else 0",
    "yield": "apply the remap; suspend (DEFERRED); resume at dest_pc + 1",
    "trace": "no effect except releasing ref operands that carry the move bit",
    "print": "as trace; pyree may print event_name and the values to a debug sink",
    "cond_break": "debugger break point if condition; always remap and continue at dest_pc + 1",
    "break": "debugger break point; remap and continue at dest_pc (the Block marker)",
    "buffer.load.i8.u": "result = zero-extended byte source_offset of source_buffer",
    "buffer.load.i8.s": "result = sign-extended byte source_offset of source_buffer",
    "buffer.load.i16.u": "result = zero-extended i16 element source_offset of source_buffer",
    "buffer.load.i16.s": "result = sign-extended i16 element source_offset of source_buffer",
    "buffer.store.i8": "byte target_offset of target_buffer = low 8 bits of value",
    "buffer.store.i16": "i16 element target_offset of target_buffer = low 16 bits of value",
    "buffer.fill.i8": "bytes [target_offset, +length) of target_buffer = low 8 bits of value",
    "buffer.fill.i16": "i16 elements [target_offset, +length) of target_buffer = low 16 bits",
    "buffer.alloc": "result = new zero-filled mutable buffer of length bytes",
    "buffer.clone": "result = new mutable buffer holding bytes [offset, +length) of source",
    "buffer.length": "result = byte length of buffer",
    "buffer.copy": "target_buffer[target_offset, +length) = source_buffer[source_offset, "
                   "+length) (memmove)",
    "buffer.compare": "result = lhs bytes [lhs_offset, +length) == rhs bytes [rhs_offset, +length)",
    "buffer.hash": "result = SipHash-2-4 (key 00..0f) of bytes [source_offset, +length)",
    "cast.any.ref": "result = operand if null or of exactly result_type, "
                    "else INVALID_ARGUMENT",
    "discard.refs": "release every listed ref register",
    "assign.ref": "result = source (retain, or move)",
    "cast.si32.f32": "result = f32(s32(operand))", "cast.ui32.f32": "result = f32(u32(operand))",
    "cast.si64.f32": "result = f32(s64(operand))", "cast.ui64.f32": "result = f32(u64(operand))",
    "cast.si32.f64": "result = f64(s32(operand))", "cast.ui32.f64": "result = f64(u32(operand))",
    "cast.si64.f64": "result = f64(s64(operand))", "cast.ui64.f64": "result = f64(u64(operand))",
    "cast.f32.si32": f"result = low 32 bits of {_ROUND_TO_INT}(operand) as i64 "
                     "(NaN/inf/huge -> 0)",
    "cast.f32.ui32": "result = the same bits as cast.f32.si32",
    "cast.f32.si64": f"result = {_ROUND_TO_INT}(operand) (NaN/inf/out of range -> INT64_MIN)",
    "cast.f32.ui64": f"result = u64 bits of {_ROUND_TO_INT}(operand) "
                     "(NaN/inf/out of range -> 0x8000000000000000)",
    "cast.f64.si32": "result = cast.f32.si32(f32(operand))",
    "cast.f64.ui32": "result = cast.f32.ui32(f32(operand))",
    "cast.f64.si64": f"result = {_ROUND_TO_INT}(operand) (NaN/inf/out of range -> INT64_MIN)",
    "cast.f64.ui64": f"result = bits of s64 {_ROUND_TO_INT}(operand) "
                     "(NaN/inf/out of range -> INT64_MIN)",
    "bitcast.i32.f32": "result = operand bits as f32",
    "bitcast.f32.i32": "result = operand bits as i32",
    "bitcast.i64.f64": "result = operand bits as f64",
    "bitcast.f64.i64": "result = operand bits as i64",
    "trunc.f64.f32": "result = f32(operand), round to nearest even (overflow -> +-inf)",
    "ext.f32.f64": "result = f64(operand) (exact)",
})

del _t, _w
