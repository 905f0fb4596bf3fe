"""Fuzzing pyree, and programs that run on it, with Hypothesis.

Strategies (all derived from the ISA table, all valid by construction: every drawn
module passes the verifier, nothing is filtered):

* :func:`instructions` - one instruction with operands valid in a standard function;
* :func:`functions` - one function with structured control flow (see
  :func:`standard_module` for the module around it);
* :func:`modules` - whole modules: several functions calling each other in a DAG,
  globals, rodata, lists, buffers, refs, imports you name; :func:`programs` adds
  arguments for the entry function, drawn from its cconv by :func:`arguments`, and
  optionally bytecode :func:`libraries` whose exports the module imports;
* :func:`mutated_modules` - valid modules with structural damage and the verifier rules
  that must reject it;
* HAL (:mod:`pyree.testing.hal_strategies`): :func:`buffer_ranges`, :func:`dispatch_bindings`,
  :func:`command_sequences` and :func:`hal_programs` draw valid and invalid HAL work, which
  :mod:`pyree.testing.hal_model` predicts and ``pyree fuzz --target hal`` runs.

Keyword options pin parts of the space (:class:`Options`): ``families`` (see
:mod:`pyree.testing.families`), ``max_depth``, ``max_statements``, ``max_functions``,
``imports`` (:class:`ImportSpec`, or :func:`imports_of` a native module), ``loops``,
``entry_cconv``, ``arg_chars``, ``result_chars``.

Checking pyree: :mod:`pyree.testing.differential` compares pyree's execution tiers with
the reference evaluator :mod:`pyree.testing.reference`; :mod:`pyree.testing.targets`
and :mod:`pyree.testing.campaign` are what ``pyree fuzz`` runs; reproducers are handled
by :mod:`pyree.testing.regressions`. See ``docs/fuzzing.md``.

ONNX graphs (needs the ``onnx`` package, imported on first use):
:func:`onnx_graphs` draws an ``OnnxCase`` (a small valid model plus inputs); see
:mod:`pyree.testing.onnx_strategies`.
"""

from pyree.testing.families import DEFAULT_FAMILIES, EXACT_FAMILIES, FAMILIES
from pyree.testing.hal_ops import KERNELS, BufferSpec, HalProgram
from pyree.testing.hal_strategies import (buffer_ranges, command_sequences, dispatch_bindings,
                                          dispatches, hal_programs, range_is_valid)
from pyree.testing.mutations import Mutation, mutated_modules
from pyree.testing.strategies import (
    ENTRY,
    ImportSpec,
    Options,
    Program,
    arguments,
    cconvs,
    function_of,
    functions,
    imports_of,
    instructions,
    libraries,
    modules,
    programs,
    standard_module,
)

__all__ = [
    "DEFAULT_FAMILIES", "ENTRY", "EXACT_FAMILIES", "FAMILIES", "ImportSpec", "Mutation",
    "Options", "Program", "arguments", "cconvs", "function_of", "functions", "imports_of",
    "instructions", "libraries", "modules", "mutated_modules", "programs", "standard_module",
    "BufferSpec", "HalProgram", "KERNELS", "buffer_ranges", "command_sequences",
    "dispatch_bindings", "dispatches", "hal_programs", "range_is_valid",
]

_ONNX = ("OnnxCase", "onnx_graphs")


def __getattr__(name):  # the ONNX strategies import onnx: only when asked for
    if name in _ONNX:
        from pyree.testing import onnx_strategies

        return getattr(onnx_strategies, name)
    raise AttributeError(f"module 'pyree.testing' has no attribute '{name}'")
