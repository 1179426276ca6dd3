"""The example project served for real, in each topology: the first things a user tries."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TandemRunner


@pytest.mark.parametrize("mode", ["unified", "split"])
def test_healthz_and_static(mode: str, example_project, tandem: TandemRunner, request) -> None:  # type: ignore[no-untyped-def]
    if mode == "split":
        request.getfixturevalue("nginx_bin")
    run = tandem.serve(example_project, "--mode", mode)
    assert httpx.get(run.url + "healthz", timeout=10).json() == {"status": "ok"}
    css = httpx.get(run.url + "static/chat/chat.css", timeout=10)
    assert css.status_code == 200
    assert "text/css" in css.headers["content-type"]
    assert run.stop() == 0
    assert run.alive_descendants() == []
