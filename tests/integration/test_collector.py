"""The app servers' garbage collector (tandem.runtime.collector), read from inside each server's process.

A view and a consumer report ``gc.get_threshold()`` and ``gc.get_freeze_count()`` from the process that
answers them: every server tandem runs, on either side, must have frozen what the import left alive and
raised generation 0's threshold to ``--gc-threshold`` (7,000 unless given), and ``--gc-threshold 700``
(Python's own) must reach them too.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import TandemRunner, importorskip_server
from tests.integration.test_split import websocket
from tests.small_projects import ASGI_WS_PREFIX, write_served_project

VIEWS = """\
import gc
import json

from django.http import HttpResponse


def status(request):
    return HttpResponse(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""

CONSUMERS = """\
import gc
import json

from channels.generic.websocket import AsyncWebsocketConsumer


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""

# (serve arguments, the Python module the view's answer must come from: both sides are checked)
VARIANTS = {
    "unified-daphne": (),
    "unified-uvicorn": ("--server", "uvicorn"),
    "unified-gunicorn-asgi": ("--server", "gunicorn-asgi"),
    "split-gunicorn-daphne": ("--mode", "split"),
    "split-granian-uvicorn": ("--mode", "split", "--http-server", "granian", "--ws-server", "uvicorn"),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_served_project(tmp_path / "proj", views=VIEWS, consumers=CONSUMERS, asgi=ASGI_WS_PREFIX)


def collector_state(url: str) -> tuple[dict[str, object], dict[str, object]]:
    http = httpx.get(url + "status/", timeout=15)
    assert http.status_code == 200, http.text
    with websocket(url, "/ws/echo/") as ws:
        ws.send("?")
        ws_answer = json.loads(ws.recv(timeout=15))
    return http.json(), ws_answer


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_server_freezes_and_raises_the_threshold(
    variant: str, project: Path, tandem: TandemRunner, request: pytest.FixtureRequest
) -> None:
    args = VARIANTS[variant]
    if variant.startswith("split"):
        request.getfixturevalue("nginx_bin")
    for name in ("uvicorn", "granian", "gunicorn-asgi"):
        if name in variant:
            importorskip_server(name)
    run = tandem.serve(project, *args, "--no-access-log")
    for answer in collector_state(run.url):
        threshold, frozen = answer["threshold"], answer["frozen"]
        assert isinstance(threshold, list) and threshold[0] == 7000, answer
        # Django, the settings and the URL patterns at the least: tens of thousands of objects.
        assert isinstance(frozen, int) and frozen > 10_000, answer
    assert run.stop() == 0


def test_python_default_threshold_reaches_both_sides(
    project: Path, tandem: TandemRunner, nginx_bin: str
) -> None:
    run = tandem.serve(project, "--mode", "split", "--gc-threshold", "700", "--no-access-log")
    for answer in collector_state(run.url):
        assert answer["threshold"][0] == 700, answer  # type: ignore[index]
    assert run.stop() == 0
