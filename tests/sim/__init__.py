"""A loopback fake of the wearable vendor clouds (OAuth, data APIs, webhooks), built only from
the vendors' documented behaviour. See README.md."""

from __future__ import annotations

from tests.sim.app import Simulator, create_sim
from tests.sim.profiles import PROFILES
from tests.sim.state import SimState

__all__ = ["PROFILES", "SimState", "Simulator", "create_sim"]
