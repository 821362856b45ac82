"""`engine limits VENDOR [--user U]`: budget use and remaining per window, current backoff."""

from __future__ import annotations

import argparse
import json

from engine.cli.common import EXIT_OK, add_engine_options, run_with_engine, seconds, table
from engine.engine import Engine


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "limits", help="show a vendor's rate budgets: use, remaining, backoff",
        description="Show each rate budget of the vendor's spec as every engine process on this "
        "store shares it: requests in use in the window, requests that may go out now, and any "
        "backoff the vendor asked for (Retry-After, rate-limit reset).")
    parser.add_argument("vendor", metavar="VENDOR", help="vendor id")
    parser.add_argument("--user", default=None, metavar="USER",
                        help="also show this app user's per-user budgets")
    add_engine_options(parser)
    parser.set_defaults(handler=run_limits)


def run_limits(args: argparse.Namespace) -> int:
    async def body(engine: Engine) -> int:
        status = await engine.connector(args.vendor).rate_limits(args.user)
        if args.format == "json":
            print(json.dumps(status.as_dict(), indent=2))
            return EXIT_OK
        who = f" (user {args.user})" if args.user else ""
        print(f"{status.vendor}{who}")
        if not status.budgets:
            print("no budgets in the spec" + ("" if args.user else " for the whole app"))
        else:
            rows = [[b.scope, f"{b.requests}/{b.window}", str(b.in_use), str(b.remaining),
                     str(b.available_now), seconds(b.blocked_for_s) if b.blocked_for_s > 0 else "-"]
                    for b in status.budgets]
            print(table(["SCOPE", "BUDGET", "IN USE", "REMAINING", "BURST NOW", "BLOCKED"], rows))
        backoff = f"{seconds(status.backoff_s)} (vendor asked to wait)" if status.backoff_s > 0 else "none"
        print(f"backoff: {backoff}")
        return EXIT_OK

    return run_with_engine("limits", args, body)
