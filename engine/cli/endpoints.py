"""`engine endpoints add | list | show | update | pause | resume | delete | rotate-secret | replay |
deliveries`: the customer's webhook endpoints, the same operations as /v1/endpoints. A secret is
printed once, by `add` and `rotate-secret`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from engine.cli.common import EXIT_OK, EXIT_USAGE, add_engine_options, run_with_engine, table, when
from engine.cli.sync import UsageError, parse_instant
from engine.engine import Engine
from engine.outbound.endpoints import describe, describe_delivery
from engine.store.outbox_records import DELIVERY_STATES, EVENT_TYPES

_Body = Callable[[Engine, argparse.Namespace], Any]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "endpoints", help="manage the webhook endpoints events are delivered to",
        description="Register, list, change, pause, resume, delete and rotate the secret of the "
        "customer's webhook endpoints, replay their deliveries and list them.")
    commands = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def command(name: str, helptext: str, body: _Body, *, with_id: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=helptext, description=helptext)
        if with_id:
            sub.add_argument("endpoint_id", metavar="ID", help="the endpoint's id (ep_…)")
        add_engine_options(sub)
        sub.set_defaults(handler=_runner(name, body))
        return sub

    add = command("add", "register an endpoint; its secret is printed this once", _add, with_id=False)
    add.add_argument("url", help="https URL the events are POSTed to")
    _add_fields(add)
    command("list", "the endpoints (never a secret)", _list, with_id=False)
    command("show", "one endpoint with its delivery counts", _show)
    update = command("update", "change an endpoint's URL, event types, remap opt-in or description", _update)
    update.add_argument("--url", default=None, help="the new URL")
    _add_fields(update)
    update.add_argument("--include-remap", dest="include_remap", action="store_const", const=True,
                        default=None, help="deliver re-map changes again")
    command("pause", "stop delivering to an endpoint (deliveries wait)", _status("paused"))
    command("resume", "deliver again to a paused endpoint (its failure streak starts afresh)",
            _status("active"))
    command("delete", "remove an endpoint and its pending deliveries", _delete)
    rotate = command("rotate-secret", "a new secret, printed once; the old one keeps signing for "
                     "--overlap-s", _rotate)
    rotate.add_argument("--overlap-s", dest="overlap_s", type=float, default=None,
                        help="how long the old secret keeps signing alongside (default a day)")
    replay = command("replay", "deliver again the events of a time range, or one event", _replay)
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--since", default=None, help="events from this date or ISO 8601 time on")
    which.add_argument("--event", dest="event_id", default=None, help="this one event (evt_…)")
    replay.add_argument("--until", default=None, help="events before this time (with --since)")
    deliveries = command("deliveries", "an endpoint's deliveries, oldest first", _deliveries)
    deliveries.add_argument("--state", choices=DELIVERY_STATES, default=None, help="only this state")
    deliveries.add_argument("--limit", type=int, default=100, help="most deliveries to list (default 100)")


def _add_fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--event-type", dest="event_types", action="append", default=None,
                        metavar="TYPE", help=f"only this event type (repeatable): {', '.join(EVENT_TYPES)}")
    parser.add_argument("--no-remap", dest="include_remap", action="store_const", const=False,
                        help="do not deliver the changes of a re-map")
    parser.add_argument("--description", default=None, help="a note for people")


def _fields(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _runner(action: str, body: _Body) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def main(engine: Engine) -> int:
            shown = await body(engine, args)
            if args.format == "json":
                print(json.dumps(shown, indent=2))
            else:
                print(_text(action, shown, engine.clock()))
            return EXIT_OK

        try:
            return run_with_engine("endpoints", args, main)
        except UsageError as error:
            print(f"engine endpoints {action}: error: {error}", file=sys.stderr)
            return EXIT_USAGE

    return run


# ------------------------------------------------------------------ the actions


async def _add(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    endpoint, secret, warnings = await engine.outbound.endpoints.create(
        {"url": args.url, **_fields(args, "event_types", "include_remap", "description")})
    return {**describe(endpoint), "secret": secret, "warnings": warnings}


async def _list(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    return {"endpoints": [describe(endpoint) for endpoint in await engine.store.list_endpoints()]}


async def _show(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    return await engine.outbound.endpoints.get(args.endpoint_id)


async def _update(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    changes = _fields(args, "url", "event_types", "include_remap", "description")
    if not changes:
        raise UsageError("nothing to change: give --url, --event-type, --include-remap, --no-remap "
                         "or --description")
    endpoint, warnings = await engine.outbound.endpoints.update(args.endpoint_id, changes)
    return {**describe(endpoint), "warnings": warnings}


def _status(status: str) -> _Body:
    async def set_status(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
        endpoint, _ = await engine.outbound.endpoints.update(args.endpoint_id, {"status": status})
        return describe(endpoint)

    return set_status


async def _delete(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    await engine.outbound.endpoints.delete(args.endpoint_id)
    return {"id": args.endpoint_id, "deleted": True}


async def _rotate(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    endpoint, secret = await engine.outbound.endpoints.rotate(args.endpoint_id, args.overlap_s)
    return {**describe(endpoint), "secret": secret}


async def _replay(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    if args.until is not None and args.since is None:
        raise UsageError("--until goes with --since")
    since = parse_instant(args.since, "since").timestamp() if args.since else None
    until = parse_instant(args.until, "until").timestamp() if args.until else None
    queued = await engine.outbound.endpoints.replay(args.endpoint_id, since=since, until=until,
                                                    event_id=args.event_id)
    return {"id": args.endpoint_id, "queued": queued}


async def _deliveries(engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    await engine.outbound.endpoints.get(args.endpoint_id)  # endpoint_not_found for an unknown id
    deliveries = await engine.store.list_deliveries(endpoint_id=args.endpoint_id, state=args.state,
                                                    limit=max(1, min(args.limit, 1000)))
    return {"id": args.endpoint_id, "deliveries": [describe_delivery(d) for d in deliveries]}


# ------------------------------------------------------------------ text output


def _text(action: str, shown: dict[str, Any], now: float) -> str:
    if action == "list":
        rows = [_row(e) for e in shown["endpoints"]]
        return table(["ID", "STATUS", "URL", "EVENT TYPES", "REMAP"], rows) if rows else "no endpoints"
    if action == "delete":
        return f"endpoint {shown['id']} deleted"
    if action == "replay":
        return f"{shown['queued']} deliveries queued again for {shown['id']}"
    if action == "deliveries":
        rows = [[d["event_id"], d["state"], str(d["attempts"]), str(d["last_status"] or "-"),
                 when(d["delivered_at"] if d["state"] == "delivered" else d["next_at"], now),
                 (d["last_error"] or "-")[:120]] for d in shown["deliveries"]]
        return (table(["EVENT", "STATE", "ATTEMPTS", "STATUS", "AT", "LAST ERROR"], rows) if rows
                else f"no deliveries for {shown['id']}")
    lines = [table(["ID", "STATUS", "URL", "EVENT TYPES", "REMAP"], [_row(shown)])]
    if shown.get("paused_reason"):
        lines.append(f"paused: {shown['paused_reason']}")
    if shown.get("deliveries"):
        lines.append("deliveries: " + "  ".join(f"{k} {v}" for k, v in shown["deliveries"].items()))
    if "secret" in shown:
        lines.append(f"secret: {shown['secret']}  (shown this once: keep it where your receiver reads it)")
    lines.extend(f"warning: {warning}" for warning in shown.get("warnings", []))
    return "\n".join(lines)


def _row(endpoint: dict[str, Any]) -> list[str]:
    return [endpoint["id"], endpoint["status"], endpoint["url"], ",".join(endpoint["event_types"]),
            "yes" if endpoint["include_remap"] else "no"]

