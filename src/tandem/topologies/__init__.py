"""Topologies, chosen by name: each declares the sockets it needs and builds a Plan from a Context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tandem.config import Config
from tandem.plan import Address, Context, Plan, topology_name
from tandem.topologies import roles, split, unified


@dataclass(frozen=True)
class Topology:
    name: str
    sockets: Callable[[Config, Path], dict[str, Address]]
    build: Callable[[Context], Plan]
    needs_routes: bool


TOPOLOGIES: dict[str, Topology] = {
    "unified": Topology("unified", unified.sockets, unified.build, needs_routes=False),
    "split": Topology("split", split.sockets, split.build, needs_routes=True),
    # Past one machine: the app servers alone on a private address, and nginx alone in front of them.
    "app": Topology("app", roles.app_sockets, roles.app_build, needs_routes=False),
    "edge": Topology("edge", roles.edge_sockets, roles.edge_build, needs_routes=True),
}


def topology(name: str) -> Topology:
    return TOPOLOGIES[name]


def topology_for(config: Config) -> Topology:
    """The topology ``config`` runs: its --mode, or its --role app / edge."""
    return TOPOLOGIES[topology_name(config)]
