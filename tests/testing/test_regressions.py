"""Every saved reproducer replays (tests/regressions/); pending ones (bugs not fixed yet,
tests/regressions/pending/) are checked for format only, and replayed when
PYREE_REPLAY_PENDING=1. The reproducer format and ``pyree fuzz`` itself are tested too."""

from __future__ import annotations

import io
import json
import os
import pathlib

import pytest

from pyree import cli
from pyree.testing import campaign, regressions, targets
from pyree.testing.differential import BufferArg, ListArg

FOLDER = pathlib.Path(__file__).resolve().parent.parent / "regressions"
SAVED = regressions.find(FOLDER)
PENDING = sorted((FOLDER / regressions.PENDING).glob("*.json"))


@pytest.mark.parametrize("path", SAVED, ids=[p.stem for p in SAVED])
def test_reproducer_replays(path):
    regressions.replay(path)


def test_pending_reproducers_are_well_formed():
    # Pending reproducers (bugs not fixed yet) must be loadable and explained; they are
    # replayed only on request (PYREE_REPLAY_PENDING=1), so CI stays green meanwhile.
    for path in PENDING:
        rep = regressions.load(path)
        assert rep.target in targets.NAMES and rep.record.get("note"), path.name
        if os.environ.get("PYREE_REPLAY_PENDING") == "1":
            regressions.replay(path)


def test_the_default_folder_is_the_checkouts(tmp_path):
    assert regressions.default_folder(FOLDER) == FOLDER
    assert regressions.default_folder(tmp_path) == tmp_path / "pyree-regressions"


def test_values_round_trip_through_json():
    values = [0, -5, 2**63 - 1, 1.5, float("-inf"), None, BufferArg(b"\x00\xff", False),
              ListArg("i32", (1, 2))]
    text = json.dumps([regressions.encode_value(v) for v in values])
    again = [regressions.decode_value(v) for v in json.loads(text)]
    assert again == values


def test_a_saved_failure_replays_through_its_target(tmp_path):
    from pyree.bytecode.asm import assemble

    from pyree.testing.strategies import Program

    module = assemble("vm.module @m version 0\nvm.func @main(%i0: i32) -> (i32) {\n"
                      "  vm.return %i0\n}\nvm.export @main\n")
    target = targets.get("differential")
    failure = targets.Failure("example", "example")
    record, inputs = target.record(Program(module, "main", (7,)), failure)
    path = regressions.save(tmp_path, record, **inputs)
    assert path.with_suffix(".vmasm").is_file()
    regressions.replay(path)  # pyree agrees: the replay passes
    out = io.StringIO()
    assert campaign.replay_all(tmp_path, stream=out) == (1, 0)
    assert "1 passed, 0 failed" in out.getvalue()


def test_reproducers_carry_library_modules(tmp_path):
    from pyree.bytecode.asm import assemble

    from pyree.testing.strategies import Program

    lib = assemble("vm.module @lib0 version 0\nvm.func @main(%i0: f32) -> (f32) {\n"
                   "  vm.return %i0\n}\nvm.export @main\n")
    app = assemble('vm.module @fuzz version 0\nvm.import @lib0.main cconv "0f_f"\n'
                   "vm.func @main(%i0: f32) -> (f32) {\n"
                   "  %i1 = vm.call @lib0.main(%i0)\n  vm.return %i1\n}\nvm.export @main\n")
    program = Program(app, "main", (2.5,), (lib,))
    target = targets.get("differential")
    record, inputs = target.record(program, targets.Failure("example", "library"))
    path = regressions.save(tmp_path, record, **inputs)
    rep = regressions.load(path)
    assert rep.libraries == (lib,) and rep.module == app
    regressions.replay(path)


def test_durations():
    assert campaign.parse_duration("10m") == 600
    assert campaign.parse_duration("30s") == 30
    assert campaign.parse_duration("1m30s") == 90
    assert campaign.parse_duration("2") == 2
    with pytest.raises(ValueError):
        campaign.parse_duration("soon")


def test_pyree_fuzz_runs_a_short_campaign_and_replays(tmp_path, capsys):
    assert cli.main(["fuzz", "--target", "loader", "--time", "2s", "--out",
                     str(tmp_path), "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "target loader:" in out and "0 failing" in out
    assert cli.main(["fuzz", "--replay", str(tmp_path)]) == 0
    assert "0 passed, 0 failed" in capsys.readouterr().out


def test_pyree_fuzz_names_unavailable_targets(capsys, monkeypatch):
    """A plugin target whose layer does not provide it is a clear error, not a crash."""
    monkeypatch.setitem(targets.PLUGINS, "onnx", "pyree.compiler.no_such_module:TARGET")
    monkeypatch.delitem(targets.TARGETS, "onnx", raising=False)
    assert cli.main(["fuzz", "--target", "onnx", "--time", "1s"]) == 1
    assert "not available yet" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["hal", "onnx"])
def test_the_layer_targets_are_available(name):
    target = targets.get(name)
    assert target.name == name
