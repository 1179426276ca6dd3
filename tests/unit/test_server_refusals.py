"""Which server a configuration may run (tandem.servers.chosen), checked on the Config alone."""

from __future__ import annotations

import pytest

from tandem.config import resolve_config
from tandem.errors import UsageError
from tandem.servers import chosen


@pytest.mark.parametrize("name", ["gunicorn-asgi", "uvicorn"])
def test_an_app_host_may_run_any_unified_server_on_its_private_address(name: str) -> None:
    """An app host stands behind the edge's nginx, which bounds headers, so split mode's rules apply; its
    bind is a private, non-loopback address by nature (it used to be refused as a 'public port')."""
    app = resolve_config(
        {"role": "app", "mode": "unified", "server": name, "bind": "10.0.0.2", "edge_secret": "e" * 24},
        {},
        None,
    )
    assert chosen(app)[1].name == name
    alone = resolve_config({"mode": "unified", "server": name, "bind": "10.0.0.2"}, {}, None)
    with pytest.raises(UsageError, match="slow clients"):
        chosen(alone)
