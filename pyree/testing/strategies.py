"""Hypothesis strategies for valid bytecode, derived from the ISA table.

Everything drawn here passes :func:`pyree.bytecode.verifier.verify` by construction: no
``assume``, no filtering. See :mod:`pyree.testing` for the overview and
``docs/fuzzing.md`` for examples.

Keyword options (all strategies that build functions take them, as :class:`Options`):

``families``
    instruction families to draw from (:data:`pyree.testing.families.FAMILIES`);
    ``control`` enables branches, loops, exits and yields, ``call`` calls between
    generated functions and to ``imports``. Default: all of them.
``max_depth``
    nesting depth of if / switch / loop (0: straight-line blocks only).
``max_statements``
    statements per block sequence (a statement is one instruction or one construct;
    default 6).
``max_functions``
    internal functions per module (calls go from lower to higher ordinals).
``imports``
    :class:`ImportSpec` s (or ``(full_name, cconv)`` pairs) that calls may target;
    :func:`imports_of` lists a native module's exports.
``loops``
    ``"bounded"`` (counted loops: every program terminates) or ``"unbounded"`` (loops
    without exit: programs rely on the instruction budget).
``entry_cconv``
    the entry function's signature (default: drawn).
``arg_chars`` / ``result_chars``
    the cconv characters drawn signatures may use for arguments / results
    (default ``"iIfFr"``).
``avoid``
    constructs to leave out, by name (:data:`AVOIDABLE`): a way to keep fuzzing around a
    known bug until it is fixed.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from pyree.bytecode import cconv as cc
from pyree.bytecode.builder import FunctionBuilder, ModuleBuilder
from pyree.bytecode.module_def import FunctionDef, ModuleDef
from pyree.testing import families as fam
from pyree.testing.generator import FunctionGenerator
from pyree.testing.layout import Layout
from pyree.testing.operands import STANDARD_TYPES, OperandDrawer, feasible, index, int_values, pick

ENTRY = "main"

#: Constructs the ``avoid`` option can leave out.
AVOIDABLE = {
    "yieldable-plain-callee": "call.yieldable of an internal function that never yields",
}


@attrs.frozen
class ImportSpec:
    """An import generated calls may target; ``yieldable`` callees are called with
    ``call.yieldable`` (use it for native exports written as generators)."""

    full_name: str
    cconv: str
    optional: bool = False
    yieldable: bool = False


def _import_specs(value) -> tuple:
    return tuple(v if isinstance(v, ImportSpec) else ImportSpec(*v) for v in value)


@attrs.frozen
class Options:
    families: frozenset = attrs.field(default=fam.DEFAULT_FAMILIES, converter=fam.resolve)
    max_depth: int = 2
    max_statements: int = 6
    max_functions: int = 3
    imports: tuple = attrs.field(default=(), converter=_import_specs)
    loops: str = attrs.field(default="bounded",
                             validator=attrs.validators.in_(("bounded", "unbounded")))
    entry_cconv: str | None = None
    arg_chars: str = "iIfFr"
    result_chars: str = "iIfFr"
    avoid: frozenset = attrs.field(default=frozenset(), converter=frozenset)

    def __attrs_post_init__(self):
        unknown = self.avoid - set(AVOIDABLE)
        if unknown:
            raise ValueError(f"cannot avoid {sorted(unknown)}; known: {sorted(AVOIDABLE)}")


@attrs.define
class ModuleEnv:
    """What a function body may refer to: the module tables and the other functions."""

    options: Options
    types: tuple = STANDARD_TYPES
    rwdata_size: int = 16
    ref_global_count: int = 2
    rodata: tuple = (b"\x01\x02\x03\x04\x05\x06\x07\x08",)
    functions: tuple = ("0v_v",)
    imports: tuple = ()
    yields: set = attrs.field(factory=set)

    def module_builder(self, name: str) -> ModuleBuilder:
        mb = ModuleBuilder(name)
        for t in self.types:
            mb.add_type(t)
        for spec in self.imports:
            mb.add_import(spec.full_name, spec.cconv, spec.optional)
        for data in self.rodata:
            mb.add_rodata(data)
        mb.use_rwdata(0, self.rwdata_size)
        if self.ref_global_count:
            mb.use_ref_global(self.ref_global_count - 1)
        return mb


def imports_of(module, *, optional: bool = False) -> tuple[ImportSpec, ...]:
    """ImportSpecs for every export of a (native) module, e.g. ``imports_of(MyModule())``."""
    return tuple(ImportSpec(f"{module.name}.{e.name}", e.cconv, optional)
                 for e in module.exports() if not e.name.startswith("__"))


# --------------------------------------------------------------------------- signatures

def cconvs(*, max_args: int = 4, max_results: int = 3, chars: str = "iIfFr",
           result_chars: str | None = None):
    """Flat bytecode signatures (no spans), e.g. ``0iIr_f``."""
    results = st.sampled_from(result_chars if result_chars is not None else chars)
    return st.builds(lambda a, r: cc.make("".join(a), "".join(r)),
                     st.lists(st.sampled_from(chars), max_size=max_args),
                     st.lists(results, max_size=max_results))


def arguments(cconv: str, *, refs=None):
    """Host arguments for a flat cconv: ints for ``i``/``I``, floats for ``f``/``F``, and
    ``refs`` (a strategy, default ``st.none()``) for ``r``."""
    refs = st.none() if refs is None else refs
    parts = {"i": int_values(32), "I": int_values(64), "f": st.floats(width=32),
             "F": st.floats(), "r": refs}
    return st.tuples(*(parts[c] for c in cc.parse(cconv).arg_chars))


# --------------------------------------------------------------------------- functions, modules

def _options(kwargs) -> Options:
    opts = kwargs.pop("options", None) or Options()
    return attrs.evolve(opts, **kwargs) if kwargs else opts


@st.composite
def _module_env(draw, options: Options) -> ModuleEnv:
    n = draw(st.integers(1, max(1, options.max_functions)))
    sigs = cconvs(chars=options.arg_chars, result_chars=options.result_chars)
    entry = options.entry_cconv if options.entry_cconv is not None else draw(sigs)
    others = [draw(sigs) for _ in range(n - 1)]
    return ModuleEnv(
        options=options,
        rwdata_size=pick(draw, (16, 0, 8, 32, 12)),
        ref_global_count=draw(index(3)),
        rodata=tuple(draw(st.lists(st.binary(max_size=16), max_size=2))),
        functions=(entry, *others),
        imports=options.imports,
    )


@st.composite
def modules(draw, **options) -> ModuleDef:
    """Valid modules: 1..max_functions internal functions, the first exported as
    ``main``; globals, rodata, the standard type table and ``imports``."""
    opts = _options(options)
    env = draw(_module_env(opts))
    return _build_module(draw, env)


def _build_module(draw, env: ModuleEnv, name: str = "fuzz", *,
                  export_all: bool = False) -> ModuleDef:
    bodies: dict[int, FunctionDef] = {}
    for k in reversed(range(len(env.functions))):  # callees first: their yields are known
        gen = FunctionGenerator(draw, env, k)
        bodies[k] = gen.generate()
        if gen.may_yield:
            env.yields.add(k)
    mb = env.module_builder(name)
    for k in range(len(env.functions)):
        mb.add_function(bodies[k])
        if k == 0 or export_all:
            mb.add_export(bodies[k].name, k)
    return mb.finish()


@st.composite
def libraries(draw, name: str = "lib", **options) -> tuple[ModuleDef, tuple]:
    """A module ``name`` exporting every function, and the :class:`ImportSpec` s another
    module needs to call them (bytecode-to-bytecode imports; functions that may yield
    are marked ``yieldable``)."""
    opts = _options(options)
    env = draw(_module_env(opts))
    module = _build_module(draw, env, name, export_all=True)
    specs = tuple(ImportSpec(f"{name}.{e.name}", module.functions[e.function].cconv,
                             yieldable=e.function in env.yields) for e in module.exports)
    return module, specs


#: The environment of :func:`functions` and :func:`instructions`: a module with the
#: standard types, 16 bytes of rwdata, 2 ref globals and one 8-byte rodata segment.
def standard_module(*functions: FunctionDef, name: str = "fuzz") -> ModuleDef:
    """A module around functions drawn by :func:`functions`; the first is exported as
    ``main``."""
    env = ModuleEnv(options=Options(), functions=tuple(f.cconv for f in functions))
    mb = env.module_builder(name)
    for f in functions:
        mb.add_function(f)
    if functions:
        mb.add_export(ENTRY, 0)
    return mb.finish()


@st.composite
def functions(draw, cconv: str | None = None, **options) -> FunctionDef:
    """One function valid in :func:`standard_module` (no calls: there is no other
    function to call)."""
    opts = _options(options)
    opts = attrs.evolve(opts, families=opts.families - {"call"}, imports=())
    sig = cconv if cconv is not None else draw(cconvs())
    env = ModuleEnv(options=opts, functions=(sig,))
    return FunctionGenerator(draw, env, 0).generate()


@st.composite
def instructions(draw, families=fam.DEFAULT_FAMILIES - {"control", "call"}) -> tuple:
    """One non-terminator instruction ``(op, args)`` valid in a ``() -> ()`` function of
    :func:`standard_module` whose registers are laid out by :class:`Layout` (emit it
    with ``FunctionBuilder.emit(op, args)`` after the ``prelude`` it may need, which is
    returned too: ``(prelude, (op, args))``)."""
    env = ModuleEnv(options=Options(families=families))
    layout = Layout.build("0v_v", env.options.max_depth)
    prelude: list = []
    drawer = OperandDrawer(draw, layout, env, lambda op, args: prelude.append((op, args)))
    ops = [op for name in sorted(fam.resolve(families) - {"control", "call"})
           for op in fam.OPS_BY_FAMILY[name] if feasible(op, env)]
    op = pick(draw, ops)
    return tuple(prelude), (op, drawer.instruction(op))


def function_of(instrs, layout: Layout | None = None) -> FunctionDef:
    """A ``() -> ()`` function running ``(prelude, (op, args))`` items, then returning."""
    layout = layout or Layout.build("0v_v", 2)
    fb = FunctionBuilder("main")
    for prelude, (op, args) in instrs:
        for p_op, p_args in prelude:
            fb.emit(p_op, p_args)
        fb.emit(op, args)
    fb.emit("return", ((),))
    fb.reserve_registers(i32=layout.i32_count, ref=layout.ref_count)
    return fb.finish()


@attrs.frozen
class Program:
    """A module and a call of its entry: what the differential and interpreter targets
    run. ``libraries`` are bytecode modules registered before ``module`` (it imports
    their exports)."""

    module: ModuleDef
    function: str
    args: tuple
    libraries: tuple = ()


@st.composite
def programs(draw, *, refs=None, libraries: int = 0, **options) -> Program:
    """A module from :func:`modules` and arguments for its entry function. With
    ``libraries=N``, up to N library modules (see :func:`libraries`) come first and the
    module may call their exports."""
    libs, specs = [], list(_options(dict(options)).imports)
    for k in range(draw(st.integers(0, libraries))):
        lib, lib_specs = draw(globals()["libraries"](f"lib{k}", **options))
        libs.append(lib)
        specs += lib_specs
    if libs:
        options["imports"] = tuple(specs)
    module = draw(modules(**options))
    args = draw(arguments(module.functions[0].cconv, refs=refs))
    return Program(module, ENTRY, args, tuple(libs))


__all__ = [
    "ENTRY", "ImportSpec", "ModuleEnv", "Options", "Program", "arguments", "cconvs",
    "function_of", "functions", "imports_of", "instructions", "libraries", "modules",
    "programs",
    "standard_module",
]
