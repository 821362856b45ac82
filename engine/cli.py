"""The ``engine`` command line.

Each command module exposes ``register(subparsers)``, adding its subcommands with
``set_defaults(handler=fn)`` where ``fn(args) -> int`` is the exit status. To add commands, write
such a module and list it in ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from engine import coverage as coverage_cli
from engine.api import serve as serve_cli
from engine.logs import redact_text
from engine.mapping import cli as mapping_cli
from engine.spec import commands as spec_commands
from engine.subscriptions import cli as subscriptions_cli
from engine.testing import cli as testing_cli
from engine.troubleshoot import cli as troubleshoot_cli
from engine.webhooks import cli as webhooks_cli
from engine.worker import cli as worker_cli
from engine.worker import sync_cli

COMMAND_MODULES: list[ModuleType] = [
    spec_commands,
    mapping_cli,
    webhooks_cli,
    worker_cli,
    sync_cli,
    serve_cli,
    subscriptions_cli,
    testing_cli,
    coverage_cli,
    troubleshoot_cli,
]

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engine", description="Declarative connector engine for wearable vendor clouds.")
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


if __name__ == "__main__":
    sys.exit(main())
