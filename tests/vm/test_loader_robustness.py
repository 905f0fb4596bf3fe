"""Loading and running damaged modules only ever raises pyree's own errors, quickly.

Seeds are the op conformance programs (tests/vmasm). Damage is applied to function code
(bit flips, byte overwrites, truncation), to descriptors (register and block counts,
cconvs) and to whole container files; whatever the verifier accepts is then translated
and run under an instruction budget, so every path ends in a result or a PyreeError.
"""

from __future__ import annotations

import pathlib

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyree import status, vm
from pyree.bytecode import container
from pyree.bytecode.asm import assemble

VMASM = pathlib.Path(__file__).resolve().parent.parent / "vmasm"
SEEDS = sorted(p for p in VMASM.glob("*.vmasm") if "requires:" not in p.read_text())


SEED_DEFS = [assemble(p.read_text(), str(p)) for p in SEEDS]


def _seed(index: int):
    return SEED_DEFS[index % len(SEED_DEFS)]


def _run_everything(mdef) -> None:
    """Load (verify + translate) and call every no-argument export under a budget."""
    try:
        module = vm.BytecodeModule(mdef)
        with vm.Context([module]) as ctx:
            for e in mdef.exports:
                fn = ctx.lookup_function(e.name, module=mdef.name)
                if fn.signature.args:
                    continue
                try:
                    ctx.invoke(fn, (), instruction_budget=20_000)
                except status.PyreeError:
                    pass
    except status.PyreeError:
        pass


@st.composite
def damaged_modules(draw):
    mdef = _seed(draw(st.integers(0, 1000)))
    k = draw(st.integers(0, len(mdef.functions) - 1))
    f = mdef.functions[k]
    code = bytearray(f.code)
    kind = draw(st.sampled_from(["flip", "byte", "truncate", "counts", "cconv"]))
    if kind == "flip" and code:
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(code) - 1))
            code[i] ^= 1 << draw(st.integers(0, 7))
    elif kind == "byte" and code:
        i = draw(st.integers(0, len(code) - 1))
        code[i] = draw(st.integers(0, 255))
    elif kind == "truncate":
        del code[draw(st.integers(0, len(code))):]
    changes = {"code": bytes(code)}
    if kind == "counts":
        changes.update(
            i32_register_count=draw(st.integers(0, 70000)),
            ref_register_count=draw(st.integers(0, 70000)),
            block_count=draw(st.integers(0, 40)))
    if kind == "cconv":
        changes["cconv"] = draw(st.sampled_from(["", "0", "0i_i", "0I_v", "0r_r", "0CiD_v",
                                                 "1v_v", "0x", "0iIfFr_iIfFr"]))
    functions = list(mdef.functions)
    functions[k] = attrs.evolve(f, **changes)
    return attrs.evolve(mdef, functions=tuple(functions))


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(damaged_modules())
def test_damaged_code_only_raises_pyree_errors(mdef):
    _run_everything(mdef)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.integers(0, 1000), st.data())
def test_damaged_containers_only_raise_pyree_errors(seed, data):
    raw = bytearray(container.write(_seed(seed)))
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    try:
        mdef = container.read(bytes(raw))
    except status.PyreeError:
        return
    _run_everything(mdef)


@given(st.binary(max_size=512))
def test_random_bytes_only_raise_pyree_errors(data):
    with pytest.raises(status.PyreeError):
        vm.BytecodeModule.from_bytes(data)


def test_seeds_exist():
    assert len(SEEDS) >= 5
