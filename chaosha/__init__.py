"""chaosha: Chaos Toolkit probes, actions and verdicts for a highly available
PostgreSQL (Patroni + ZooKeeper + HAProxy) serving Alfresco."""

import importlib.util
from importlib.metadata import PackageNotFoundError, version
from typing import List

from chaoslib.discovery.discover import (
    discover_actions,
    discover_activities,
    discover_probes,
    initialize_discovery_result,
)
from chaoslib.types import DiscoveredActivities, Discovery

__all__ = ["__version__", "discover", "SUBSYSTEMS"]

try:
    __version__ = version("chaostoolkit-chaosha")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

# One subpackage per part of the stack, each with probes.py and/or actions.py.
SUBSYSTEMS = (
    "docker",
    "patroni",
    "haproxy",
    "zookeeper",
    "postgres",
    "alfresco",
    "integrity",
    "nemesis",
    "host",
    "arbiter",
)
# Chaos Toolkit controls (hooks around the run), registered with kind "control".
CONTROLS = ("chaosha.controls.safeguard",)


def discover(discover_system: bool = True) -> Discovery:
    """Discover every chaosha probe, action and control."""
    discovery = initialize_discovery_result("chaostoolkit-chaosha", __version__, "chaosha")
    discovery["activities"].extend(load_exported_activities())
    return discovery


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def load_exported_activities() -> List[DiscoveredActivities]:
    activities: List[DiscoveredActivities] = []
    for subsystem in SUBSYSTEMS:
        for kind, finder in (("actions", discover_actions), ("probes", discover_probes)):
            module = f"chaosha.{subsystem}.{kind}"
            if _exists(module):
                activities.extend(finder(module))
    for module in CONTROLS:
        activities.extend(discover_activities(module, "control"))
    return activities
