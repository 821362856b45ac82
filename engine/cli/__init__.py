"""The ``engine`` command line: one module of this package per command (or small family).

Each command module exposes ``register(subparsers)``, adding its subcommands with
``set_defaults(handler=fn)`` where ``fn(args) -> int`` is the exit status. To add commands, write
such a module and list it in ``COMMAND_MODULES``. The modules hold only command-line glue
(arguments, output, exit statuses); what they run lives in the engine's layers below.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from engine import __version__
from engine.cli import (
    connections,
    coverage,
    demo,
    endpoints,
    jobs,
    limits,
    new,
    remap,
    serve,
    sign,
    subscriptions,
    sync,
    test,
    validate,
    verify,
    worker,
)
from engine.cli import map as map_
from engine.logs import redact_text

# In the order `engine --help` lists them.
COMMAND_MODULES: list[ModuleType] = [
    demo,
    validate,  # validate, schema
    map_,
    sign,
    worker,
    sync,
    serve,
    subscriptions,
    test,
    coverage,
    verify,
    connections,
    limits,
    jobs,
    endpoints,
    remap,
    new,
]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engine", description="Declarative connector engine for wearable vendor clouds.")
    parser.add_argument("--version", action="version", version=f"engine {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help exits 0, usage errors exit 2
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(handler(args) or EXIT_OK)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_INVALID
    except Exception as exc:  # noqa: BLE001 -- never a traceback for the user
        print(f"engine {args.command}: error: {type(exc).__name__}: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_INVALID
