"""The Daphne/Twisted/autobahn internals tandem relies on: all present at the tested versions, and a missing
one stops a Daphne child at start, loudly, naming it (a renamed hook would otherwise never be called)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tandem.runtime import internals


def test_every_internal_is_present_at_the_tested_versions() -> None:
    assert internals.missing() == []


def test_an_assigned_attribute_is_found_in_the_class_code() -> None:
    class Base:
        def start(self) -> None:
            self._state = 1

    class Child(Base):
        pass

    assert internals._assigns(Child, "_state")
    assert not internals._assigns(Child, "_stat")
    assert not internals._assigns(Child, "state")


def run_child(patch: str) -> subprocess.CompletedProcess[str]:
    """Runs tandem's Daphne entry point in a fresh interpreter after ``patch`` removed an internal (as a
    newer release renaming it would)."""
    code = textwrap.dedent(
        f"""
        import daphne.server, twisted.web.http, autobahn.websocket.protocol
        {patch}
        from tandem.runtime.daphne import main
        main(["-b", "127.0.0.1", "-p", "0", "tandem.runtime.asgi:application"])
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("patch", "named"),
    [
        # A hook tandem overrides: renamed, the override would never run (no shared socket, no limits).
        ("del daphne.server.Server.listen_success", "daphne.server.Server.listen_success"),
        ("del daphne.server.Server.kill_all_applications", "daphne.server.Server.kill_all_applications"),
        # Attributes tandem writes: renamed, the write would change nothing.
        ("del twisted.web.http.HTTPChannel._savedTimeOut", "twisted.web.http.HTTPChannel._savedTimeOut"),
        (
            "del autobahn.websocket.protocol.WebSocketProtocol.processData",
            "autobahn.websocket.protocol.WebSocketProtocol.processData",
        ),
        (
            "twisted.web.http._GenericHTTPChannelProtocol = type('G', (), {})",
            "twisted.web.http._GenericHTTPChannelProtocol._channel",
        ),
    ],
)
def test_a_missing_internal_stops_the_child_at_start(patch: str, named: str) -> None:
    result = run_child(patch)
    assert result.returncode == internals.EXIT_MISSING_INTERNAL, result.stderr
    assert f"missing internal {named}" in result.stderr, result.stderr
    assert "tandem is tested with daphne" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr  # one clear line, not a stack
