"""A loopback fake of the wearable vendor clouds (OAuth, data APIs, webhooks), built only from
the vendors' documented behaviour. See README.md."""

from __future__ import annotations

from sandbox.app import Simulator, create_sim
from sandbox.profiles import PROFILES
from sandbox.state import SimState

__all__ = ["PROFILES", "SimState", "Simulator", "create_sim"]
