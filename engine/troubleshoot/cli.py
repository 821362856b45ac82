"""Registers the troubleshooting commands with the `engine` command line."""

from __future__ import annotations

import argparse

from engine.troubleshoot import connections, jobs, limits, new, verify

MODULES = (verify, connections, limits, jobs, new)


def register(subparsers: argparse._SubParsersAction) -> None:
    for module in MODULES:
        module.register(subparsers)
