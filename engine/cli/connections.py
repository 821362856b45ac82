"""`engine connections [USER] [--vendor V] [--refresh | --revoke | --refresh-zones]`: connection health, no tokens."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.archive.remap import older_mapping_samples
from engine.auth.flows import retired_message
from engine.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_engine_options,
    run_with_engine,
    table,
    when,
)
from engine.engine import Engine
from engine.errors import EngineError
from engine.instants import iso_utc
from engine.store.port import Connection
from engine.worker.zones import refresh_identity_zone


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "connections", help="list connections: status, token expiry, scopes, last activity",
        description="Show every connection (or one user's): status (active, reauth_required, "
        "revoked), token expiry, granted scopes, last webhook, last successful pull and last "
        "error. Tokens are never shown. --refresh forces a token refresh, --revoke disconnects "
        "(both need USER).")
    parser.add_argument("user", nargs="?", default=None, metavar="USER", help="app user id")
    parser.add_argument("--vendor", default=None, help="only this vendor")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--refresh", action="store_true", help="refresh the user's tokens now")
    action.add_argument("--revoke", action="store_true",
                        help="revoke at the vendor and purge the user's tokens")
    action.add_argument("--refresh-zones", action="store_true",
                        help="read each listed connection's time zone from the vendor now (specs "
                             "whose time_zone reads the identity/profile call)")
    add_engine_options(parser)
    parser.set_defaults(handler=run_connections)


def run_connections(args: argparse.Namespace) -> int:
    if (args.refresh or args.revoke) and not args.user:
        print("engine connections: error: --refresh and --revoke need a USER", file=sys.stderr)
        return EXIT_USAGE

    async def body(engine: Engine) -> int:
        connections = await engine.store.list_connections(user_id=args.user, vendor=args.vendor)
        if args.user and not connections:
            print(f"engine connections: no connections for user {args.user!r}", file=sys.stderr)
            return EXIT_FAILED
        notes, failed = await _act(engine, args, connections)
        if args.refresh or args.revoke or args.refresh_zones:
            connections = await engine.store.list_connections(user_id=args.user, vendor=args.vendor)
        older = {(c.vendor, c.user_id): await older_mapping_samples(engine.store, engine.specs[c.vendor], c.user_id)
                 for c in connections if c.vendor in engine.specs}
        _print(engine, connections, args.format, older)
        for note in notes:
            print(note, file=sys.stderr)
        return EXIT_FAILED if failed else EXIT_OK

    return run_with_engine("connections", args, body)


async def _act(engine: Engine, args: argparse.Namespace, connections: list[Connection]) -> tuple[list[str], bool]:
    notes: list[str] = []
    failed = False
    for connection in connections:
        label = f"{connection.vendor}/{connection.user_id}"
        try:
            if args.refresh:
                await engine.oauth.fresh_connection(connection.vendor, connection.user_id, force=True)
                notes.append(f"{label}: tokens refreshed")
            elif args.refresh_zones:
                spec = engine.specs.get(connection.vendor)
                if spec is None or not any(s.kind == "identity" for s in spec.time_zone):
                    continue
                fresh = await engine.oauth.fresh_connection(connection.vendor, connection.user_id)
                zone = await refresh_identity_zone(engine, spec, fresh)
                notes.append(f"{label}: time zone {zone}" if zone else f"{label}: no time zone from the vendor")
            elif args.revoke:
                result = await engine.oauth.disconnect(connection.vendor, connection.user_id)
                done = "revoked at the vendor" if result.revoked else "not revoked at the vendor"
                notes.append(f"{label}: tokens purged, {done}"
                             + (f" ({'; '.join(result.errors)})" if result.errors else ""))
        except EngineError as error:
            failed = True
            notes.append(f"{label}: {error.code}: {error.message}")
    return notes, failed


def describe(connection: Connection) -> dict[str, Any]:
    return {
        "vendor": connection.vendor,
        "user_id": connection.user_id,
        "vendor_user_id": connection.vendor_user_id,
        "status": connection.status,
        "token_expires_at": iso_utc(connection.token_expires_at),
        "has_refresh_token": bool(connection.refresh_token),
        "scopes": list(connection.scopes),
        "last_webhook_at": iso_utc(connection.last_webhook_at),
        "last_pull_at": iso_utc(connection.last_pull_at),
        "last_error": connection.last_error,
    }


def retired_note(engine: Engine, connection: Connection) -> str | None:
    """Why a connection of a retired vendor will get no more data."""
    spec = engine.specs.get(connection.vendor)
    return retired_message(spec) if spec is not None and spec.retired else None


def _print(engine: Engine, connections: list[Connection], fmt: str,
           older: dict[tuple[str, str], int]) -> None:
    if fmt == "json":
        print(json.dumps({"connections": [
            {**describe(c), "older_mapping_samples": older.get((c.vendor, c.user_id), 0),
             "retired": retired_note(engine, c)}
            for c in connections]}, indent=2))
        return
    if not connections:
        print("no connections")
        return
    now = engine.clock()
    rows = []
    for c in connections:
        expiry = when(c.token_expires_at, now) if c.status != "revoked" else "-"
        if c.status == "active" and not c.refresh_token:
            expiry += " no refresh token"
        status = c.status + (" (vendor retired)" if retired_note(engine, c) else "")
        rows.append([c.vendor, c.user_id, c.vendor_user_id or "-", status, expiry,
                     " ".join(c.scopes) or "-", when(c.last_webhook_at, now), when(c.last_pull_at, now),
                     (c.last_error or "-")[:120]])
    print(table(["VENDOR", "USER", "VENDOR USER", "STATUS", "TOKEN EXPIRES", "SCOPES", "LAST WEBHOOK",
                 "LAST PULL", "LAST ERROR"], rows))
    for (vendor, user_id), count in older.items():
        if count:
            print(f"{vendor}/{user_id}: {count} samples from an older mapping (engine remap {vendor})")
