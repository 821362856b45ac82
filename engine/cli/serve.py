"""`engine serve`: run the HTTP API (and, unless --no-worker, the in-process worker).

Without ENGINE_API_KEY it binds loopback addresses only; the app itself then also answers `/v1`
to loopback clients only (`engine.api.security`), which covers a reverse proxy in front of it."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

from engine.engine import ConfigError, Engine, Settings
from engine.logs import LOG_FORMATS, configure_logging
from engine.observability.metrics import multiprocess_mode
from engine.settings import default_vendors_dir
from engine.troubleshoot.envfile import EnvFileError, read_env_file

EXIT_USAGE = 2
LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def local_public_url(host: str, port: int) -> str:
    """Where this server is reached when no public URL is configured: the bound address (loopback
    when it binds every address), so redirect URIs name the port actually served."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


async def _can_open(settings: Settings) -> None:
    async with Engine(settings):
        pass


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the HTTP API",
        description="Run the engine's HTTP API. Settings come from ENGINE_* environment variables; "
                    "the options below win over their environment twins.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; others need ENGINE_API_KEY)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--vendors", metavar="DIR", default=None,
                        help="vendor specs directory (env ENGINE_VENDORS_DIR, default ./vendors)")
    parser.add_argument("--only", metavar="ID", action="append", default=None,
                        help="load only this vendor (repeatable; env ENGINE_ONLY, comma-separated)")
    parser.add_argument("--no-worker", action="store_true",
                        help="do not run the background worker in this process")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--log-format", choices=LOG_FORMATS, default=None,
                        help="json (one object per line) or text; default json unless stderr is a terminal")
    parser.add_argument("--env-file", metavar="FILE", default=None,
                        help="read NAME=value lines from FILE; variables already set in the "
                             "environment win")
    parser.add_argument("--sandbox", action="store_true",
                        help="serve against the shipped sandbox vendors on loopback (no vendor account; "
                        "their consent pages approve); connect your own test users by hand")
    parser.add_argument("--reload", action="store_true",
                        help="restart when a spec or the engine's code changes, once the specs validate; a "
                             "broken spec keeps the running server (development)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, environ: dict[str, str] | None = None) -> int:
    if getattr(args, "sandbox", False):
        if args.reload:
            print("engine serve: error: --sandbox runs the sandbox in this process; it cannot be "
                  "combined with --reload", file=sys.stderr)
            return EXIT_USAGE
        return _run_with_sandbox(args, dict(os.environ if environ is None else environ))
    return _run(args, dict(os.environ if environ is None else environ))


def _run_with_sandbox(args: argparse.Namespace, env: dict[str, str]) -> int:
    from engine.cli.sandboxing import sandbox_env
    from sandbox.app import Simulator
    from sandbox.server import serve_in_thread
    from sandbox.state import SimState

    vendors_dir = Path(args.vendors or env.get("ENGINE_VENDORS_DIR") or default_vendors_dir())
    with serve_in_thread(Simulator(SimState())) as sim:
        print(f"engine serve: sandbox vendors at {sim.base_url}; the shipped specs point at them",
              file=sys.stderr)
        try:
            return _run(args, {**env, **sandbox_env(sim, sorted(vendors_dir.glob("*.yaml")))})
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down for: a normal stop
            return 0


def _run(args: argparse.Namespace, env: dict[str, str]) -> int:
    if args.env_file:
        try:
            env = {**read_env_file(args.env_file), **env}
        except (OSError, EnvFileError) as error:
            reason = error.strerror if isinstance(error, OSError) else str(error)
            print(f"engine serve: error: --env-file {args.env_file}: {reason}", file=sys.stderr)
            return EXIT_USAGE
    if not 0 < args.port < 65536:
        print("engine serve: error: --port must be between 1 and 65535", file=sys.stderr)
        return EXIT_USAGE
    if not env.get("ENGINE_API_KEY") and not is_loopback(args.host):
        print(f"engine serve: error: refusing to listen on {args.host} without ENGINE_API_KEY; "
              "set it or bind a loopback address", file=sys.stderr)
        return EXIT_USAGE
    if args.vendors:
        env["ENGINE_VENDORS_DIR"] = args.vendors
    if args.only:
        env["ENGINE_ONLY"] = ",".join(item for value in args.only for item in value.split(","))
    if args.no_worker:
        env["ENGINE_NO_WORKER"] = "1"

    configure_logging(args.log_format, args.log_level.upper())

    # The web stack loads only here, so the other commands start without it.
    from engine.api.app import create_app
    from engine.api.security import protect_logs
    from engine.api.server import server

    if not env.get("ENGINE_PUBLIC_URL"):
        env["ENGINE_PUBLIC_URL"] = local_public_url(args.host, args.port)
        print(f"engine serve: ENGINE_PUBLIC_URL is not set; OAuth redirect and webhook URLs use "
              f"{env['ENGINE_PUBLIC_URL']}", file=sys.stderr)
    try:
        engine = Engine(Settings.from_env(env))
        _ = engine.specs  # load now, so a broken spec is reported before binding
    except ConfigError as error:
        print(f"engine serve: error: {error.message}", file=sys.stderr)
        return 1
    protect_logs(engine)  # before the server writes its first line
    if args.reload:  # the reloader re-imports the app in a child process, configured by env
        try:  # the store and keys as the child will open them: a bad setting is one line
            asyncio.run(_can_open(engine.settings))
        except ConfigError as error:
            print(f"engine serve: error: {error.message}", file=sys.stderr)
            return EXIT_USAGE
        from engine.cli.reload import child_serve_args, serve_reloading

        return serve_reloading(child_serve_args(args.host, args.port, args.log_level, args.log_format),
                               env, Path(engine.settings.vendors_dir))
    return asyncio.run(_serve(engine, server(create_app(engine), host=args.host, port=args.port,
                                             log_level=args.log_level, proxy_headers=False)))


async def _serve(engine: Engine, server: Any) -> int:
    """Open the engine before binding (a bad setting is one line and exit 2, not a traceback in
    the server's log), then serve it; the app's lifespan finds it open and leaves it to us.
    Metrics are shared with separate `engine worker` processes through the data directory."""
    with multiprocess_mode(engine.settings.data_dir):
        try:
            await engine.open()
        except ConfigError as error:
            print(f"engine serve: error: {error.message}", file=sys.stderr)
            return EXIT_USAGE
        if not engine.settings.api_key:  # no key to log in with: a one-time link instead
            from engine.console import login_link

            print(f"engine serve: console: {login_link(engine)} (one-time login link, valid 10 minutes)",
                  file=sys.stderr)
        try:
            await server.serve()
        finally:
            await engine.close()
    return 0
