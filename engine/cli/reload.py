"""`engine serve --reload`: serve from a child process and restart it when a spec or the engine's
code changes — after checking the specs, so a broken edit keeps the running server.

uvicorn's own reloader watches only `*.py` unless the optional watchfiles package is installed, and
restarts straight into a spec that does not load. This one polls modification times (no
dependency), runs `engine validate` on the changed tree first and, when it fails, prints the errors
and keeps the old server until the next edit."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

POLL_S = 0.5
STOP_WAIT_S = 10.0
WATCHED_SUFFIXES = (".py", ".yaml", ".yml")


def snapshot(roots: Iterable[Path]) -> dict[str, tuple[int, int]]:
    """(modification time, size) of every watched file under the roots."""
    seen: dict[str, tuple[int, int]] = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.suffix in WATCHED_SUFFIXES and "__pycache__" not in path.parts:
                try:
                    stat = path.stat()
                except OSError:  # removed while walking
                    continue
                seen[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return seen


def spec_problems(vendors_dir: Path, env: Mapping[str, str]) -> str | None:
    """`engine validate` on the specs as they are now (in a fresh interpreter, so edited engine
    code is what checks them); its report when they do not load, else None."""
    specs = sorted(str(p) for p in vendors_dir.glob("*.y*ml"))
    if not specs:
        return f"no vendor specs in {vendors_dir}"
    done = subprocess.run([sys.executable, "-m", "engine.cli", "validate", *specs], env=dict(env),
                          capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return None
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip() and "OK" not in line]
    return "\n".join(lines[-20:]) or f"engine validate exited {done.returncode}"


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)  # uvicorn shuts down gracefully on SIGTERM
        try:
            child.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def serve_reloading(serve_args: list[str], env: Mapping[str, str], vendors_dir: Path) -> int:
    """Run `engine serve SERVE_ARGS` as a child; restart it on a change whose specs validate."""
    roots = [vendors_dir, Path(__file__).resolve().parents[1]]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", *serve_args], env=dict(env))

    print(f"engine serve: reloading on changes under {vendors_dir} and the engine's code", file=sys.stderr)
    child, seen = start(), snapshot(roots)
    reported_exit = False
    try:
        while True:
            time.sleep(POLL_S)
            if child.poll() is not None and not reported_exit:
                print(f"engine serve: the server exited ({child.returncode}); waiting for a change",
                      file=sys.stderr)
                reported_exit = True
            current = snapshot(roots)
            if current == seen:
                continue
            time.sleep(POLL_S)  # let an editor finish writing (several files, or write-then-rename)
            seen = snapshot(roots)
            problems = spec_problems(vendors_dir, env)
            if problems:
                print(f"engine serve: not reloading, the specs do not load; the running server stays:\n"
                      f"{problems}", file=sys.stderr)
                continue
            print("engine serve: change detected; restarting", file=sys.stderr)
            _stop(child)
            child, reported_exit = start(), False
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(child)


def child_serve_args(host: str, port: int, log_level: str, log_format: str | None) -> list[str]:
    """The child's own options; everything else reaches it through the environment."""
    args = ["--host", host, "--port", str(port), "--log-level", log_level]
    return [*args, "--log-format", log_format] if log_format else args
