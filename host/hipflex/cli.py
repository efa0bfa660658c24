"""``hipflex`` command line.

Each command lives in its own module with a ``register(subparsers)`` function
that adds its parser and sets ``func``. Bad input ends with one line on stderr
and exit status 2, never a traceback.
"""

import argparse
import importlib
import sys

from hipflex import __version__
from hipflex.errors import UserError
from hipflex.recording import RecordingError

# Order is the order in --help.
COMMAND_MODULES = (
    "hipflex.demo",
    "hipflex.analyze",
    "hipflex.plot",
    "hipflex.simulate",
    "hipflex.evaluate",
    "hipflex.tune",
    "hipflex.label",
    "hipflex.sync.commands",
    "hipflex.history",
    "hipflex.deploy",
)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="hipflex",
        description="Count hip-flexion reps and holds from a thigh-worn IMU: analyze "
        "recordings, simulate and evaluate, sync a board, review progress.",
    )
    parser.add_argument("--version", action="version", version="hipflex " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        mod.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except (UserError, RecordingError) as e:
        print("hipflex: error: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hipflex: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return int(rc or 0)
