"""What the commands that open the engine share (`engine connections | limits | jobs`): opening
it the way `engine serve` does, and times and tables for humans."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

from engine.engine import ConfigError, Engine, Settings
from engine.errors import EngineError
from engine.instants import iso_utc
from engine.store.errors import StoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vendors", metavar="DIR", default=None,
                        help="vendor specs directory (env ENGINE_VENDORS_DIR, default ./vendors)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")


def run_with_engine(command: str, args: argparse.Namespace,
                    body: Callable[[Engine], Awaitable[int]]) -> int:
    """Open the engine the way `engine serve` does, run `body`, report engine errors plainly."""
    env = dict(os.environ)
    if getattr(args, "vendors", None):
        env["ENGINE_VENDORS_DIR"] = args.vendors

    async def main() -> int:
        async with Engine(Settings.from_env(env)) as engine:
            return await body(engine)

    try:
        return asyncio.run(main())
    except ConfigError as error:
        print(f"engine {command}: error: {error.message}", file=sys.stderr)
    except EngineError as error:
        print(f"engine {command}: error: {error.code}: {error.message}", file=sys.stderr)
    except StoreError as error:
        print(f"engine {command}: error: the store is unavailable ({type(error).__name__})", file=sys.stderr)
    return EXIT_FAILED


def when(epoch: float | None, now: float) -> str:
    """An instant for a person: ISO time in UTC plus how far from now."""
    if epoch is None:
        return "-"
    return f"{iso_utc(epoch, 'seconds')} ({relative(epoch - now)})"


def relative(delta_s: float) -> str:
    size = abs(delta_s)
    for unit, seconds in (("d", 86400), ("h", 3600), ("m", 60)):
        if size >= seconds:
            text = f"{size / seconds:.0f}{unit}"
            break
    else:
        text = f"{size:.0f}s"
    return f"in {text}" if delta_s > 0 else f"{text} ago"


def seconds(value: float) -> str:
    return f"{value:.0f}s" if value >= 10 else f"{value:.1f}s"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [headers, *rows]]
    return "\n".join(lines)
