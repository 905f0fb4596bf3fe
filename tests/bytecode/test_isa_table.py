"""The ISA table: completeness against isa.json, derived artefacts in sync."""

import json
import subprocess
import sys
from importlib import resources

from pyree.bytecode import isa, spec_gen
from pyree.vm.codegen import EMITTERS


def test_every_instruction_of_isa_json_is_in_the_table():
    data = json.loads(resources.files("pyree.bytecode").joinpath("data/isa.json").read_text())
    rows = [r for r in data["instructions"] if r.get("kind") != "prefix"]
    assert len(rows) == len(isa.OPS) == 263
    for row in rows:
        op = isa.BY_CODE[(isa.SET_PREFIX[row["opcode_set"]], row["opcode"])]
        assert op.symbol == row["symbol"]
        if row.get("mnemonic"):
            assert op.mnemonic == row["mnemonic"]


def test_every_instruction_has_semantics_and_exactly_one_handler():
    for op in isa.OPS:
        assert op.semantics, op.mnemonic
        assert op.key in EMITTERS, op.mnemonic


def test_generated_spec_is_up_to_date():
    diff = spec_gen.check()
    assert diff == "", "spec/isa.md is stale; run python -m pyree.bytecode.spec_gen\n" + diff


def test_importing_vm_and_bytecode_does_not_import_numba():
    code = ("import sys, pyree.vm, pyree.bytecode, pyree.bytecode.asm; "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
