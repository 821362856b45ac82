"""Deterministic per-user datasets, rendered by each vendor module from a shared timeline."""

from __future__ import annotations

import importlib
from types import ModuleType

from sandbox.state import Record, SimUser
from sandbox.timeline import Timeline


def vendor_module(profile: str) -> ModuleType:
    return importlib.import_module(f"sandbox.vendors.{profile}")


def default_user_id(profile: str, seed: int) -> int | str:
    return vendor_module(profile).user_id(seed)


def generate(user: SimUser) -> dict[str, list[Record]]:
    timeline = Timeline(user.seed, user.days, user.anchor)
    return vendor_module(user.profile).dataset(user, timeline)
