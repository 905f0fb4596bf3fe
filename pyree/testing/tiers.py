"""pyree's execution tiers, run on a :class:`~pyree.testing.strategies.Program`.

Each tier is a way pyree can run bytecode: ``plain`` (the fast host call, unbudgeted
translation), ``budget`` (``invoke`` with an instruction budget and a deadline: the
budgeted translation) and ``container`` (the module written to a ``.pyrm`` container,
read back and run). A new tier registers ``(load, call)`` in :data:`TIERS`; the
differential harness compares every tier with the reference evaluator.
"""

from __future__ import annotations

import contextlib

from pyree import status
from pyree.bytecode import cconv as cc
from pyree.testing import reference as ref
from pyree.testing.outcomes import (
    BufferArg,
    ListArg,
    Outcome,
    _entry,
    _f32_bits_of_float,
    _f64_bits_of_float,
    _finish,
    _Objects,
    _success,
    _value_bits,
)
from pyree.testing.strategies import Program


def _vm():
    from pyree import vm  # imported lazily: the reference side never needs it
    return vm


def _pyree_arg(a):
    vm = _vm()
    if isinstance(a, BufferArg):
        return vm.VmBuffer.from_bytes(a.data, mutable=a.mutable)
    if isinstance(a, ListArg):
        lst = vm.VmList.of(a.element)
        lst.resize(len(a.values))
        setter = {"i8": lst.set_i32, "i16": lst.set_i32, "i32": lst.set_i32,
                  "i64": lst.set_i64, "f32": lst.set_f32, "f64": lst.set_f64}[a.element]
        for i, v in enumerate(a.values):
            setter(i, v)
        return lst
    return a


def _describe_vm_object(obj, objects: _Objects):
    vm = _vm()
    if type(obj) is vm.VmBuffer:
        return ("buffer", bool(obj.flags & vm.VmBuffer.MUTABLE), obj.tobytes())
    if type(obj) is vm.VmList:
        et = obj.element_type
        if isinstance(et, vm.ValueType):
            name = et.type_name
            getter = {"i8": obj.get_i32, "i16": obj.get_i32, "i32": obj.get_i32,
                      "i64": obj.get_i64, "f32": obj.get_f32, "f64": obj.get_f64}[name]
            items = tuple(_value_bits(name, getter(i)) for i in range(obj.size))
            return ("list", ("value", name), items)
        if isinstance(et, vm.RefType):
            items = tuple(objects.name(obj.get_variant(i)) for i in range(obj.size))
            return ("list", ("ref", et.name), items)
        items = []
        for i in range(obj.size):
            v = obj.get_variant(i)
            if v is None:
                items.append(None)
            elif type(v) is vm.TypedValue:
                items.append((v.type.type_name, _typed_bits(v)))
            else:
                items.append(("ref", objects.name(v)))
        return ("list", ("variant",), tuple(items))
    return ("opaque",)


def _typed_bits(v) -> int:
    name = v.type.type_name
    if name == "f32":
        return _f32_bits_of_float(v.value)
    if name == "f64":
        return _f64_bits_of_float(v.value)
    return _value_bits(name, v.value)


def _result_bits(c: str, v) -> int:
    if c == "f":
        return _f32_bits_of_float(v)
    if c == "F":
        return _f64_bits_of_float(v)
    return _value_bits(cc.CHAR_BANK[c], v)


def _native_modules(imports: dict | None) -> list:
    """NativeModules serving ``{"module.fn": (cconv, callable)}`` host functions."""
    vm = _vm()
    grouped: dict[str, dict] = {}
    for full_name, (cconv, fn) in (imports or {}).items():
        module_name, _, fn_name = full_name.partition(".")
        grouped.setdefault(module_name, {})[fn_name] = (cconv, fn)
    out = []
    for module_name, fns in grouped.items():
        attrs_ = {"name": module_name, "version": 1}
        for fn_name, (cconv, fn) in fns.items():
            method = (lambda self, state, *args, _fn=fn: _fn(*args))
            attrs_["_export_" + fn_name] = vm.export(cconv, name=fn_name)(method)
        out.append(type(f"Host_{module_name}", (vm.NativeModule,), attrs_)())
    return out


def _plain(ctx, fn, args):
    return fn(*args)


def _budgeted(ctx, fn, args):
    return ctx.invoke(fn, args, instruction_budget=50_000_000, timeout=120)


def _same(module_def):
    return _vm().BytecodeModule(module_def)


def _from_container(module_def):
    from pyree.bytecode import container
    return _vm().BytecodeModule.from_bytes(container.write(module_def))


#: tier name -> (load a ModuleDef, call a function): every tier pyree has.
TIERS = {
    "plain": (_same, _plain),
    "budget": (_same, _budgeted),
    "container": (_from_container, _plain),
}

CRASH = -1  # a Python exception that is not a PyreeError: always a pyree bug


def _failure(exc: BaseException) -> Outcome:
    if isinstance(exc, status.PyreeError):
        return Outcome(frozenset({int(exc.code)}), message=exc.message)
    return Outcome(frozenset({CRASH}), message=f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def vm_limits(limits=None):
    """pyree's allocation limits set to the reference's for the duration."""
    from pyree.vm import buffer
    from pyree.vm import list as vm_list
    lim = dict(ref.DEFAULT_LIMITS, **(limits or {}))
    old_b = buffer.set_limits(max_bytes=lim["max_buffer_bytes"],
                              max_alignment=lim["max_buffer_alignment"])
    old_l = vm_list.set_limits(max_elements=lim["max_list_elements"])
    try:
        yield
    finally:
        buffer.set_limits(**old_b)
        vm_list.set_limits(**old_l)


def run_pyree(program: Program, tier: str = "plain", *, imports=None, calls: int = 2,
              limits=None) -> list[Outcome]:
    """The outcome of each call on one pyree tier, in a fresh context."""
    vm = _vm()
    load, call = TIERS[tier]
    sig = cc.parse(program.module.functions[_entry(program)].cconv)
    with vm_limits(limits):
        try:
            libs = [load(lib) for lib in program.libraries]
            module = load(program.module)
            context = vm.Context([*_native_modules(imports), *libs, module])
        except Exception as e:  # noqa: BLE001 - every failure is an outcome
            return [_failure(e)]
        with context:
            args = [_pyree_arg(a) for a in program.args]
            fixed = {id(b): f"{lib.name}.rodata{k}" for lib in libs
                     for k, b in enumerate(lib.rodata)}
            fixed.update({id(a): f"arg{i}" for i, a in enumerate(args) if a is not None
                          and not isinstance(a, (int, float))})
            fixed.update({id(b): f"rodata{k}" for k, b in enumerate(module.rodata)})
            fn = context.lookup_function(program.function, module.name)
            out = []
            for _ in range(calls):
                try:
                    values = call(context, fn, args)
                except Exception as e:  # noqa: BLE001
                    out.append(_failure(e))
                    continue
                objects = _Objects(fixed, [a for a in args if isinstance(
                    a, (vm.VmBuffer, vm.VmList))])
                results = [(c, objects.name(v)) if c == "r" else (c, _result_bits(c, v))
                           for c, v in zip(sig.result_chars, values)]
                res, table = _finish(results, objects, _describe_vm_object)
                out.append(_success(res, table))
            return out


