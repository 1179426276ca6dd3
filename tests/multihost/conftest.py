"""Several hosts on one machine: Linux network namespaces joined by veth pairs to a bridge, all made and
removed by the test (root only). Traffic goes only to addresses the test assigned inside namespaces it
created: ``Net.assert_ready`` checks each namespace, address and route before anything is sent."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

PREFIX = "10.231"  # the private test range; the third octet is picked per run among unused ones


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=check)


@dataclass
class Host:
    name: str  # the namespace
    address: str  # assigned by the test inside it


@dataclass
class Net:
    tag: str
    subnet: str  # "10.231.N"
    bridge: str
    hosts: dict[str, Host] = field(default_factory=dict)
    veths: list[str] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        return f"{self.subnet}.1"

    def add_host(self, label: str, last_octet: int) -> Host:
        ns = f"tandem-{self.tag}-{label}"
        root_end, ns_end = f"v{self.tag}{label}"[:15], f"w{self.tag}{label}"[:15]
        ip("netns", "add", ns)
        host = Host(ns, f"{self.subnet}.{last_octet}")
        self.hosts[label] = host
        ip("link", "add", root_end, "type", "veth", "peer", "name", ns_end)
        self.veths.append(root_end)
        ip("link", "set", ns_end, "netns", ns)
        ip("link", "set", root_end, "master", self.bridge)
        ip("link", "set", root_end, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "addr", "add", f"{host.address}/24", "dev", ns_end)
        ip("-n", ns, "link", "set", ns_end, "up")
        return host

    def assert_ready(self) -> None:
        """Before any traffic: every namespace exists, holds its address, and routes the test subnet
        there; the root namespace routes it through the bridge the test made. Otherwise nothing is sent."""
        namespaces = ip("netns", "list").stdout
        for host in self.hosts.values():
            assert host.name in namespaces, f"namespace {host.name} is missing"
            addrs = ip("-n", host.name, "-o", "addr", "show").stdout
            assert f"inet {host.address}/24" in addrs, f"{host.address} not assigned in {host.name}"
            routes = ip("-n", host.name, "route", "show").stdout
            assert f"{self.subnet}.0/24" in routes, f"no route to {self.subnet}.0/24 in {host.name}"
        route = ip("route", "get", next(iter(self.hosts.values())).address).stdout
        assert f"dev {self.bridge}" in route, (
            f"the root namespace does not route the test subnet via {self.bridge}"
        )

    def cleanup(self) -> None:
        for host in self.hosts.values():
            ip("netns", "delete", host.name, check=False)  # removes its veth end, and so the pair
        for veth in self.veths:
            ip("link", "delete", veth, check=False)
        ip("link", "delete", self.bridge, check=False)


def _free_subnet() -> str:
    used = ip("-o", "addr", "show").stdout + ip("route", "show").stdout
    choices = [n for n in range(100, 250) if f"{PREFIX}.{n}." not in used]
    assert choices, "no free 10.231.x.0/24 for the test network"
    return f"{PREFIX}.{random.choice(choices)}"


@contextlib.contextmanager
def make_net() -> Iterator[Net]:
    """A bridge on a free test subnet; every namespace, veth and the bridge removed on the way out, however
    the block ends. Also used by docs/bench/multihost.py."""
    tag = f"{os.getpid() % 1000:03d}{random.randrange(100):02d}"
    subnet = _free_subnet()
    network = Net(tag=tag, subnet=subnet, bridge=f"tb{tag}")
    try:
        ip("link", "add", network.bridge, "type", "bridge")
        ip("addr", "add", f"{network.gateway}/24", "dev", network.bridge)
        ip("link", "set", network.bridge, "up")
        yield network
    finally:
        network.cleanup()


@pytest.fixture
def net() -> Iterator[Net]:
    if os.geteuid() != 0:
        pytest.skip("multi-host tests create network namespaces: they need root")
    if shutil.which("ip") is None:
        pytest.skip("multi-host tests need iproute2's ip (make test installs it as root)")
    with make_net() as network:
        yield network
