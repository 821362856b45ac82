"""`engine demo`: the whole product working in one command, with no vendor account.

Starts the shipped sandbox vendors and the engine (SQLite in a temporary or given data dir),
points the shipped specs at the sandbox through their own variables, creates the vendors' app
subscriptions, connects synthetic people to every live sandboxed vendor through the real OAuth
flow (the sandbox's consent page approves), lets their backfills run, and then lets their lives
go on: new records appear on the sandbox's life clock and the vendors send their signed webhooks.
Prints what to open and a live summary until Ctrl-C, which stops everything cleanly."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from engine.engine import ConfigError, Engine, Settings
from engine.errors import EngineError
from engine.logs import configure_logging
from engine.settings import default_vendors_dir

if TYPE_CHECKING:  # the sandbox and the web stack load only when the demo runs
    from sandbox.life import Life

EXIT_OK, EXIT_USAGE = 0, 2
SUMMARY_EVERY_S = 1.0
REVOKE_AFTER_LIFE_S = 2 * 3600  # two hours into the demo's life, one person revokes access
RATE_LIMIT_AFTER_LIFE_S = 3 * 3600  # and one vendor answers 429 for a minute of life


class DemoError(Exception):
    """A one-line reason the demo cannot start."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="see the product work end to end against sandbox vendors (no account needed)",
        description="Start sandbox vendors and the engine on loopback, connect synthetic people to "
        "every live sandboxed vendor through the real OAuth flow, run their backfills and let their "
        "data happen over time (signed webhooks included), until Ctrl-C.")
    parser.add_argument("--vendors", metavar="A,B", default=None,
                        help="only these vendors (default: every live vendor the sandbox has)")
    parser.add_argument("--users", type=int, default=2, metavar="N", help="people per vendor (default 2)")
    parser.add_argument("--speed", type=float, default=60.0, metavar="X",
                        help="life runs X times faster than real time until it reaches the present "
                        "(default 60: one simulated hour per minute)")
    parser.add_argument("--port", type=int, default=8000, help="the engine's port (default 8000)")
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="keep the engine's data here (default: a temporary directory, removed after)")
    parser.add_argument("--seed", type=int, default=1, help="the synthetic people's seed (default 1)")
    parser.set_defaults(handler=run_demo)


def _check_port(port: int) -> None:
    if not 0 < port < 65536:
        raise DemoError("--port must be between 1 and 65535")
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            reason = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be bound ({error.strerror})"
            raise DemoError(f"port {port} {reason}; choose another with --port") from None


def _data_dir(given: str | None) -> tuple[Path, bool]:
    if given is None:
        return Path(tempfile.mkdtemp(prefix="engine-demo-")), True
    path = Path(given)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise DemoError(f"data dir {given} is not writable: {error.strerror}") from None
    return path, False


def run_demo(args: argparse.Namespace) -> int:
    try:
        if args.users < 1 or args.speed <= 0:
            raise DemoError("--users must be at least 1 and --speed positive")
        _check_port(args.port)
        data_dir, temporary = _data_dir(args.data_dir)
    except DemoError as error:
        print(f"engine demo: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging("text", "WARNING")
    try:
        return asyncio.run(_demo(args, data_dir))
    except DemoError as error:
        print(f"engine demo: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)


async def _demo(args: argparse.Namespace, data_dir: Path) -> int:
    from engine.api.app import create_app
    from engine.api.server import server as http_server
    from engine.cli.sandboxing import SandboxError, sandbox_env, sandbox_vendors, subscriber_url
    from sandbox.app import Simulator
    from sandbox.life import Life
    from sandbox.server import serve_in_thread
    from sandbox.state import SimState

    public_url = f"http://127.0.0.1:{args.port}"
    base_env = {key: value for key, value in os.environ.items() if not key.startswith("ENGINE_")}
    probe = Engine(Settings.from_env({**base_env, "ENGINE_DATA_DIR": str(data_dir),
                                      "ENGINE_VENDORS_DIR": str(default_vendors_dir())}))
    try:
        wanted = [v.strip() for v in args.vendors.split(",") if v.strip()] if args.vendors else None
        vendors = sandbox_vendors(probe.specs, wanted)
    except (SandboxError, ConfigError) as error:
        raise DemoError(str(getattr(error, "message", error))) from None
    state = SimState(vendors)
    with serve_in_thread(Simulator(state)) as sim:
        spec_paths = [Path(default_vendors_dir()) / f"{vendor}.yaml" for vendor in vendors]
        env = {**base_env, **sandbox_env(sim, spec_paths), "ENGINE_DATA_DIR": str(data_dir),
               "ENGINE_PUBLIC_URL": public_url, "ENGINE_VENDORS_DIR": str(default_vendors_dir()),
               "ENGINE_ONLY": ",".join(vendors)}
        engine = Engine(Settings.from_env(env))
        try:
            await engine.open()
        except ConfigError as error:
            raise DemoError(error.message) from None
        server = http_server(create_app(engine), host="127.0.0.1", port=args.port, log_level="warning")
        serving = asyncio.create_task(server.serve())
        life = Life(state, speed=args.speed, seed=args.seed,
                    target=lambda vendor: subscriber_url(sim, vendor, public_url))
        try:
            while not server.started:
                if serving.done():
                    raise DemoError(f"the engine could not listen on port {args.port}")
                await asyncio.sleep(0.05)
            await _subscribe(engine, vendors)
            people = await _connect_people(public_url, life, vendors, args.users)
            _script_incidents(life, vendors)
            life.start()
            from engine.console import login_link

            _print_banner(public_url, vendors, people, sim.base_url, args.speed, login_link(engine))
            await _summarise_until_interrupted(engine, life)
        finally:
            life.stop()
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            accepted = _accepted_webhooks(engine)
            await engine.close()
    counters = life.counters
    handshakes = state.counters["outbound.post_2xx"]
    print(f"engine demo: stopped; the sandbox sent {counters.sent} webhook(s), {counters.delivered_2xx} "
          f"answered 2xx, and {handshakes} handshake POST(s) answered 2xx; the engine accepted {accepted}",
          file=sys.stderr)
    return EXIT_OK


def _accepted_webhooks(engine: Engine) -> int:
    """The engine's own count of accepted webhook deliveries (its metrics), to set beside the
    sandbox's count of 2xx answers."""
    total = 0.0
    for family in engine.metrics.registry.collect():
        if family.name == "engine_webhook_deliveries":
            total += sum(sample.value for sample in family.samples
                         if sample.name.endswith("_total") and sample.labels.get("outcome") == "accepted")
    return int(total)


async def _subscribe(engine: Engine, vendors: list[str]) -> None:
    from engine.subscriptions.app import AppSubscriptionManager

    manager = AppSubscriptionManager(engine)
    for vendor in vendors:
        spec = engine.spec(vendor)
        if spec.subscriptions.app is None or not spec.subscriptions.app.create:
            continue
        try:
            await manager.create(vendor)
        except EngineError as error:
            print(f"engine demo: {vendor}: app subscription not created: {error.message}", file=sys.stderr)


async def _connect_people(public_url: str, life: Life, vendors: list[str], users: int) -> list[tuple[str, str, str]]:
    """(vendor, app user, vendor user) of each person connected through the real OAuth flow."""
    import httpx2

    people: list[tuple[str, str, str]] = []
    async with httpx2.AsyncClient(timeout=30.0) as browser:
        for vendor in vendors:
            for index in range(1, users + 1):
                app_user = f"demo-{vendor}-{index}"
                person = life.add_person(vendor)
                life.state.next_authorize(vendor, user=person.key)
                try:
                    started = await browser.post(f"{public_url}/v1/users/{app_user}/connections/{vendor}",
                                                 json={})
                    if started.status_code != 201:
                        raise DemoError(f"the connection did not start: {started.text[:200]}")
                    consent = await browser.get(started.json()["authorization_url"])
                    callback = await browser.get(consent.headers.get("location", ""))
                    if callback.status_code >= 400:
                        raise DemoError(f"the callback answered {callback.status_code}: {callback.text[:200]}")
                except (DemoError, httpx2.HTTPError) as error:
                    print(f"engine demo: {vendor}: {app_user} not connected: {error}", file=sys.stderr)
                    continue
                people.append((vendor, app_user, person.key))
    return people


def _script_incidents(life: Life, vendors: list[str]) -> None:
    """One person revokes the app's access and one vendor rate-limits for a minute, where life is
    busiest soon after, so both are noticed while the demo runs."""
    revoked = life.busiest(REVOKE_AFTER_LIFE_S)
    if revoked is not None:
        life.revoke_at(REVOKE_AFTER_LIFE_S, *revoked)
    limited = life.busiest(RATE_LIMIT_AFTER_LIFE_S)
    if limited is not None:
        life.rate_limit_at(RATE_LIMIT_AFTER_LIFE_S, limited[0])


def _print_banner(public_url: str, vendors: list[str], people: list[tuple[str, str, str]],
                  sandbox_url: str, speed: float, console_link: str) -> None:
    first_user = people[0][1] if people else "demo-user"
    print(f"""engine demo: the engine is at {public_url} ({len(people)} people connected to {', '.join(vendors)})
  console:      {console_link} (one-time login link, valid 10 minutes)
  samples:      curl '{public_url}/v1/users/{first_user}/samples?limit=5'
  connections:  curl '{public_url}/v1/users/{first_user}/connections'
  sandbox:      {sandbox_url} (life runs {speed:g}x until it reaches the present)
Ctrl-C stops everything.""", file=sys.stderr)


async def _summarise_until_interrupted(engine: Engine, life: Life) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    redraw = sys.stderr.isatty()
    last = ""
    while not stop.is_set():
        line = await _summary(engine, life)
        if line != last:
            sys.stderr.write(("\r\033[K" + line) if redraw else line + "\n")
            sys.stderr.flush()
            last = line
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SUMMARY_EVERY_S)
    if redraw:
        sys.stderr.write("\n")


async def _summary(engine: Engine, life: Life) -> str:
    connections = await engine.store.list_connections()
    active = sum(1 for c in connections if c.status == "active")
    samples = await engine.store.count_samples()
    c = life.counters
    return (f"life {life.life_datetime():%Y-%m-%d %H:%M} UTC · {active}/{len(connections)} connections active · "
            f"{samples} samples · {c.delivered_2xx}/{c.sent} webhooks accepted · {c.happened} records happened")
