"""Run the simulator on a free loopback port, in a background thread or as a subprocess."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from sandbox.app import Simulator, create_sim
from sandbox.state import SimState

HOST = "127.0.0.1"


@dataclass
class RunningSim:
    simulator: Simulator
    base_url: str

    @property
    def state(self) -> SimState:
        return self.simulator.state

    def url(self, profile: str, path: str = "") -> str:
        """Absolute URL of a vendor path, e.g. url("whoop", "/developer/v2/cycle")."""
        return f"{self.base_url}{self.state.profile(profile).prefix}{path}"

    def env(self) -> dict[str, str]:
        return self.state.env(self.base_url)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_app_in_thread(app, *, port: int | None = None, name: str = "loopback app",
                        **config: object) -> Iterator[str]:
    """Run any ASGI app with uvicorn on a loopback port in a daemon thread; yields its base URL."""
    port = port or free_port()
    options = {"log_level": "warning", "access_log": False, "lifespan": "off",
               "timeout_graceful_shutdown": 2, **config}
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, **options))
    thread = threading.Thread(target=server.run, name=f"{name}-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start on {HOST}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def serve_in_thread(simulator: Simulator | None = None, port: int | None = None
                    ) -> Iterator[RunningSim]:
    simulator = simulator or create_sim()
    with serve_app_in_thread(simulator.app, port=port, name="vendor simulator") as base_url:
        try:
            yield RunningSim(simulator, base_url)
        finally:
            simulator.state.closing.set()


@contextlib.contextmanager
def serve_in_subprocess(port: int | None = None, profiles: list[str] | None = None
                        ) -> Iterator[str]:
    """Start `python -m sandbox` and yield its base URL (state lives in the child)."""
    port = port or free_port()
    args = [sys.executable, "-m", "sandbox", "--port", str(port)]
    if profiles:
        args += ["--profiles", ",".join(profiles)]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.Popen(args, cwd=root, env=env)
    try:
        _wait_for_port(port, proc)
        yield f"http://{HOST}:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vendor simulator exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"vendor simulator did not listen on {HOST}:{port}")
