"""``pyree fuzz [--target T] [--time 10m] [--out DIR] | --replay [DIR]``: fuzz campaigns.

Runs a time-budgeted Hypothesis campaign against one target and prints a progress line
and a summary (examples run, failures found). Each distinct failure is shrunk and saved
as a reproducer (``.json`` plus the ``.vmasm``/``.pyrm``/``.bin`` input) in the
regressions folder: ``tests/regressions`` inside a pyree checkout, else
``./pyree-regressions``. ``--replay`` re-runs the reproducers of a folder instead
(``--pending`` includes those of its ``pending/`` subfolder, bugs not fixed yet).

Targets: ``loader`` (container bytes), ``verifier`` (damaged modules), ``interpreter``
(valid programs stop with a result or a pyree error, never hang), ``differential``
(pyree's execution tiers agree with the reference evaluator), ``hal`` (command sequences on
real devices agree with a numpy model; examples run in a worker process, so crashes and
hangs are failures) and ``onnx`` (graphs agree with onnxruntime). Exit status 1 if a
failure was found (or a replay failed).
"""

from __future__ import annotations

import sys

from pyree.tools import add_command


def add_parser(subparsers):
    from pyree.testing import targets

    p = add_command(subparsers, "fuzz", __doc__, "run a fuzz campaign or replay reproducers")
    p.add_argument("--target", default="differential", choices=targets.NAMES,
                   help="what to fuzz (default: differential)")
    p.add_argument("--time", default="1m", metavar="DURATION",
                   help="time budget, e.g. 30s, 10m, 1h (default: 1m)")
    p.add_argument("--out", metavar="DIR", help="regressions folder for new reproducers")
    p.add_argument("--seed", type=int, help="make the campaign repeatable")
    p.add_argument("--replay", nargs="?", const="", metavar="DIR",
                   help="replay the reproducers of DIR (default: the regressions folder)")
    p.add_argument("--pending", action="store_true",
                   help="with --replay: include the pending/ reproducers")
    p.set_defaults(run=run)
    return p


def run(args, out=None) -> int:
    from pyree.testing import campaign, regressions, targets

    out = out or sys.stdout
    if args.replay is not None:
        folder = args.replay or regressions.default_folder()
        _, failed = campaign.replay_all(folder, pending=args.pending, stream=out)
        return 1 if failed else 0
    seconds = campaign.parse_duration(args.time)
    target = targets.get(args.target)
    folder = args.out or regressions.default_folder()
    summary = campaign.run(target, seconds, folder, seed=args.seed)
    for line in summary.lines():
        out.write(line + "\n")
    return 1 if summary.failures else 0
