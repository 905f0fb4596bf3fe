"""Compile an ONNX model and show what the front half produced.

    python -m pyree.compiler model.onnx                 # summary: ops, regions, arena
    python -m pyree.compiler model.onnx --ir            # the folded IR
    python -m pyree.compiler model.onnx --regions       # one line per dispatch region
    python -m pyree.compiler model.onnx --dim N=4 --default-dim none

Errors (unsupported ops, dynamic dimensions left unresolved ...) print as pyree status
messages and exit with status 1.
"""

from __future__ import annotations

import argparse
import sys

from pyree.status import PyreeError


def _dims(values):
    out = {}
    for item in values:
        name, _, size = item.partition("=")
        out[name] = int(size)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyree.compiler",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--ir", action="store_true", help="print the compiled IR")
    parser.add_argument("--regions", action="store_true", help="print every region")
    parser.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                        help="size of a named dynamic dimension")
    parser.add_argument("--default-dim", default="1",
                        help="size of other dynamic dimensions, or 'none' to refuse them")
    args = parser.parse_args(argv)

    from pyree.compiler.onnx_import import import_model
    from pyree.compiler.pipeline import compile_graph

    default = None if args.default_dim.lower() == "none" else int(args.default_dim)
    try:
        compiled = compile_graph(import_model(args.model, dim_params=_dims(args.dim),
                                              default_dim=default))
    except PyreeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    graph, parts, plan = compiled.graph, compiled.partition, compiled.plan
    if args.ir:
        print(graph.dump())
    if args.regions:
        for r in parts.regions:
            ops = ",".join(n.op for n in r.nodes)
            print(f"region {r.index:4} {r.kind:13} body={r.body or '-':11} [{ops}] "
                  f"-> {', '.join(r.outputs)}")
    print(f"inputs: {', '.join(f'{n}: {graph.types[n]}' for n in graph.inputs)}")
    print(f"outputs: {', '.join(f'{n}: {graph.types[n]}' for n in graph.outputs)}")
    print(f"nodes: {len(graph.nodes)} {graph.summary()}")
    print(f"constants: {len(graph.constants)}")
    print(f"regions: {len(parts.regions)} {parts.summary()}")
    print(f"transient arena: {plan.arena_size} bytes ({plan.unshared_size} without reuse)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
