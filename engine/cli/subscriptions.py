"""`engine subscriptions VENDOR [--create | --renew]`: the app's webhook subscriptions at a vendor.

Without an option the vendor's current subscriptions are listed. Secrets a create answer carries
are stored encrypted; only their names are printed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from engine.engine import ConfigError, Engine
from engine.errors import EngineError
from engine.instants import iso_utc
from engine.subscriptions.app import AppSubscriptionManager, SubscriptionInfo

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "subscriptions", help="list, create or renew the app's webhook subscriptions at a vendor",
        description="Run the spec's app-level subscription requests with the app's credentials "
        "(from the environment, like `engine serve`).")
    parser.add_argument("vendor", help="vendor id (the spec file's name without .yaml)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--create", action="store_true", help="create the subscriptions the spec declares")
    action.add_argument("--renew", action="store_true", help="renew every current subscription")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


def _when(expires_at: float | None) -> str:
    if expires_at is None:
        return "no expiry"
    return f"expires {iso_utc(expires_at, 'seconds')}"


def _print(verb: str, infos: list[SubscriptionInfo] | tuple[SubscriptionInfo, ...]) -> None:
    for info in infos:
        print(f"{verb} {info.id} ({_when(info.expires_at)})")


def _described(infos: list[SubscriptionInfo] | tuple[SubscriptionInfo, ...]) -> list[dict[str, Any]]:
    return [{"id": info.id, "expires_at": iso_utc(info.expires_at, "seconds")} for info in infos]


async def _run(args: argparse.Namespace) -> int:
    try:
        engine = Engine.from_env(only=(args.vendor,))
        await engine.open()
    except ConfigError as error:
        print(f"engine subscriptions: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    as_json = args.format == "json"
    try:
        manager = AppSubscriptionManager(engine)
        if args.create:
            report = await manager.create(args.vendor)
            current = await engine.store.list_app_subscriptions(engine.spec(args.vendor).id)
            if as_json:
                print(json.dumps({"vendor": args.vendor, "created": _described(report.created),
                                  "secrets_stored": list(report.secrets_stored),
                                  "subscriptions": len(current)}))
            else:
                _print("created", report.created)
                for name in report.secrets_stored:
                    print(f"stored secret {name} (encrypted)")
                print(f"{args.vendor}: {len(current)} subscription(s)")
        elif args.renew:
            renewed = await manager.renew(args.vendor)
            if as_json:
                print(json.dumps({"vendor": args.vendor, "renewed": _described(renewed)}))
            else:
                _print("renewed", renewed)
        else:
            infos = await manager.list(args.vendor)
            if as_json:
                print(json.dumps({"vendor": args.vendor, "subscriptions": _described(infos)}))
            else:
                _print("subscription", infos)
                print(f"{args.vendor}: {len(infos)} subscription(s)")
    except EngineError as error:
        print(f"engine subscriptions: {error.message}", file=sys.stderr)
        return EXIT_USAGE if error.status < 500 and error.status != 409 else EXIT_FAILED
    finally:
        await engine.close()
    return EXIT_OK
