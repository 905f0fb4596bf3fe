"""The ``onnx`` fuzz target: random small ONNX graphs, compiled by pyree and run, agree
with onnxruntime.

``pyree fuzz --target onnx`` draws graphs with
:func:`pyree.testing.onnx_strategies.onnx_graphs` (elementwise, matmul, reduce,
softmax, transpose, concat, reshape, conv and pool nodes; f32, f64, i32, i64) and
checks each one:

* the oracle is onnxruntime (CPU); for the few op/dtype pairs onnxruntime has no
  kernel for (f64 Conv, Erf, Elu ...) it is ``onnx.reference.ReferenceEvaluator``,
  compared at float32 tolerance (it computes some f64 functions in f32). Where pyree
  disagrees with onnxruntime but agrees with the reference evaluator (onnxruntime's
  ReduceMax skips a NaN that numpy and the reference propagate), there is no failure;
* pyree compiles the model (:func:`pyree.compiler.compile_model`) and runs it on the
  ``local-sync`` device (``pyree.runtime.load_module``) - the ``compiled`` mode. Until
  emission exists, or with ``mode="reference"``, the compiled graph is evaluated by the
  compiler's reference evaluator in its planned arena instead;
* a failure is any mismatch beyond :func:`~pyree.testing.onnx_strategies.tolerances`,
  any pyree error (UNIMPLEMENTED included: the strategies draw only ops pyree
  supports) and any non-pyree exception.

A reproducer is ``NAME.bin`` (the serialized model) and ``NAME.json`` whose ``inputs``
hold the input arrays (dtype, shape, hex bytes).
"""

from __future__ import annotations

import warnings

import numpy as np
from pyree.testing import onnx_strategies as ostr
from pyree.testing.targets import Failure, Target

from pyree import status

MODES = ("compiled", "reference")


def default_mode() -> str:
    """``compiled`` when emission and the runtime are available, else ``reference``."""
    try:
        from pyree.compiler import compile_model  # noqa: F401
        from pyree.runtime import load_module  # noqa: F401
    except ImportError:
        return "reference"
    return "compiled"


def _input_names(model) -> list[str]:
    inits = {i.name for i in model.graph.initializer}
    return [v.name for v in model.graph.input if v.name not in inits]


def oracle(model, inputs) -> tuple[str, list[np.ndarray]]:
    """(name of the oracle, outputs): onnxruntime, or onnx's reference evaluator when
    onnxruntime has no kernel for the graph."""
    import onnxruntime as ort

    feeds = dict(zip(_input_names(model), inputs))
    try:
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises NOT_IMPLEMENTED for missing kernels
        if "NOT_IMPLEMENTED" not in str(exc):
            raise
        return "onnx-reference", reference_outputs(model, inputs)
    return "onnxruntime", session.run(None, feeds)


def run_pyree(model, inputs, mode: str) -> list[np.ndarray]:
    if mode == "compiled":
        from pyree.compiler import compile_model
        from pyree.runtime import load_module

        return list(load_module(compile_model(model), device="local-sync").main(*inputs))
    from pyree.compiler import reference
    from pyree.compiler.onnx_import import import_model
    from pyree.compiler.pipeline import compile_graph

    compiled = compile_graph(import_model(model))
    return reference.evaluate_planned(compiled.partition, compiled.plan, list(inputs))


def reference_outputs(model, inputs) -> list[np.ndarray]:
    """onnx's ``ReferenceEvaluator`` on the graph."""
    from onnx.reference import ReferenceEvaluator

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        feeds = dict(zip(_input_names(model), inputs))
        return [np.asarray(a) for a in ReferenceEvaluator(model).run(None, feeds)]


def _at_f32(expected, got) -> list[str]:
    """Mismatches at float32 precision (onnx's reference computes some f64 ops in f32)."""
    def f32(arrays):
        return [a.astype(np.float32) if a.dtype == np.float64 else a
                for a in map(np.asarray, arrays)]
    return ostr.compare(f32(expected), f32(got))


#: Ops whose result ONNX leaves open when a window holds NaN: onnxruntime and onnx's
#: reference evaluator each keep whichever element their scan order keeps (so they
#: disagree with each other, or agree by accident); pyree propagates NaN (numpy.max).
NAN_OPEN_OPS = frozenset({"MaxPool"})


def _producers(model) -> list[str]:
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    return [producers.get(o.name, "input") for o in model.graph.output]


def _settled_mismatches(expected, reference, got, producers) -> list[str]:
    """Mismatches with onnxruntime at the elements ONNX settles: where onnxruntime and
    onnx's reference evaluator agree with each other, and, for outputs of
    :data:`NAN_OPEN_OPS`, where pyree's result is not NaN. Elsewhere pyree's answer is
    not judged."""
    if len(expected) != len(got) or len(reference) != len(got):
        return ostr.compare(expected, got)
    kept_e, kept_g = [], []
    for e, r, g, op in zip(map(np.asarray, expected), map(np.asarray, reference), got,
                           producers):
        if e.shape != g.shape or r.shape != e.shape or e.dtype.kind != "f":
            kept_e.append(e)
            kept_g.append(g)
            continue
        with np.errstate(all="ignore"):
            agree = np.isclose(e, r.astype(e.dtype), rtol=1e-3, atol=1e-5, equal_nan=True)
        if op in NAN_OPEN_OPS:
            agree &= ~np.isnan(g)
        kept_e.append(e[agree])
        kept_g.append(g.astype(e.dtype, copy=False)[agree])
    return ostr.compare(kept_e, kept_g)


def _output_op(model) -> str:
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    return producers.get(model.graph.output[0].name, "input")


def check_case(model, inputs, mode: str) -> None:
    """Raises :class:`Failure` when pyree disagrees with the oracle on one graph."""
    dtype = np.asarray(inputs[0]).dtype.name if inputs else "none"
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            got = run_pyree(model, inputs, mode)
    except status.PyreeError as exc:
        raise Failure(f"pyree {mode}: {exc}", f"{exc.code_name.lower()}-{_output_op(model)}"
                      ) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise Failure(f"pyree {mode}: non-pyree exception {type(exc).__name__}: {exc}",
                      f"crash-{type(exc).__name__}") from exc
    name, expected = oracle(model, inputs)
    if name == "onnxruntime":
        got = [np.asarray(g) for g in got]
        problems = ostr.compare(expected, got)
        if problems:
            reference = reference_outputs(model, inputs)
            if not _at_f32(reference, got):
                problems = []  # an onnxruntime quirk pyree shares with onnx's reference
            else:
                problems = _settled_mismatches(expected, reference, got, _producers(model))
    else:
        problems = _at_f32(expected, got)
    if problems:
        raise Failure(f"pyree {mode} vs {name}: " + "; ".join(problems),
                      f"mismatch-{dtype}-{_output_op(model)}")


def encode_array(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.name, "shape": list(a.shape), "hex": a.tobytes().hex()}


def decode_array(d: dict) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(d["hex"]), dtype=d["dtype"]).reshape(d["shape"]).copy()


class OnnxTarget(Target):
    """Random ONNX graphs: pyree (compiled and run, or reference-evaluated) agrees with
    onnxruntime."""

    def __init__(self, name: str, description: str, mode: str | None = None, **options):
        super().__init__(name, description)
        self.mode = mode
        self.options = dict(dtypes=ostr.DTYPES, **options)

    def current_mode(self) -> str:
        return self.mode or default_mode()

    def strategy(self):
        return ostr.onnx_graphs(**self.options)

    def check(self, case: ostr.OnnxCase) -> None:
        check_case(case.model, case.inputs, self.current_mode())

    def record(self, case, failure):
        import onnx.printer

        return ({"target": self.name, "signature": failure.signature, "found": str(failure),
                 "mode": self.current_mode(), "note": onnx.printer.to_text(case.model.graph),
                 "inputs": [encode_array(a) for a in case.inputs],
                 "expected": {"agrees_with": "onnxruntime"}},
                {"data": case.model.SerializeToString()})

    def replay(self, rep):
        import onnx

        model = onnx.load_from_string(rep.data)
        inputs = [decode_array(d) for d in rep.record["inputs"]]
        check_case(model, inputs, self.current_mode())


TARGET = OnnxTarget("onnx", "random ONNX graphs: pyree agrees with onnxruntime")
