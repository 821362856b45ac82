"""`python -m sandbox [--port N] [--profiles whoop,oura]` (or SIM_PORT / SIM_PROFILES)."""

from __future__ import annotations

import argparse
import os

import uvicorn

from sandbox.app import create_sim
from sandbox.server import HOST


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox",
                                     description="Run the vendor simulator on loopback.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SIM_PORT", "8765")))
    parser.add_argument("--profiles", default=os.environ.get("SIM_PROFILES", ""),
                        help="comma list of vendor profiles (default: all)")
    parser.add_argument("--no-rate-limits", action="store_true")
    args = parser.parse_args()
    names = [n for n in args.profiles.split(",") if n] or None
    sim = create_sim(names, rate_limits=not args.no_rate_limits)
    uvicorn.run(sim.app, host=HOST, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
