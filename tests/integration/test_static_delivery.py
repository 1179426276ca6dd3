"""Static delivery end to end (issue 14 item 4), behind the real nginx, the real Caddy, and in unified mode
(servestatic in Daphne): the .gz/.br siblings tandem writes after collectstatic are what a client that
accepts them gets, with the file's own Content-Type, Vary and nosniff; Django's hashed names
(ManifestStaticFilesStorage, for real) are cached a year as immutable, other names an hour; and an app
server that dies under a request gives the proxy's "restarting" page, not its default one.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from tandem.precompress import brotli_available
from tandem.staticheaders import IMMUTABLE, SHORT
from tests.conftest import Tandem, TandemRunner, wait_for
from tests.small_projects import SERVED_SETTINGS, STATUS_URLS, VIEWS, write, write_served_project

SETTINGS = (
    SERVED_SETTINGS.replace("INSTALLED_APPS = []", 'INSTALLED_APPS = ["django.contrib.staticfiles"]')
    + """
STATICFILES_DIRS = [BASE_DIR / "assets"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
"""
)

SLOW_VIEWS = (
    VIEWS
    + """

import time
from django.conf import settings


def slow(request):
    (settings.BASE_DIR / "slow-started").write_text("in the view")
    time.sleep(30)  # wait-ok: the view under test is slow on purpose (the test kills its worker)
    return HttpResponse("too late")
"""
)
SLOW_URLS = STATUS_URLS.replace(
    'urlpatterns = [path("status/", views.status)]',
    'urlpatterns = [path("status/", views.status), path("slow/", views.slow)]',
)

CSS = "".join(f".rule-{i} {{ color: #{i:06x}; margin: {i % 7}px auto; }}\n" for i in range(300))
JS = "".join(f"function handler{i}(event) {{ return event.target.value + {i}; }}\n" for i in range(300))

VARIANTS = ["nginx", "caddy", "unified"]


def static_project(root: Path) -> Path:
    project = write_served_project(root, settings=SETTINGS, views=SLOW_VIEWS, urls=SLOW_URLS)
    write(project / "assets" / "site.css", CSS)
    write(project / "assets" / "app.js", JS)
    return project


def mode_args(variant: str) -> tuple[str, ...]:
    if variant == "unified":
        return ("--mode", "unified")
    return ("--mode", "split", "--proxy", variant)


@pytest.fixture(params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> str:
    """Each proxy where it is installed (skipped with the install hint otherwise), and unified mode."""
    if request.param != "unified":
        request.getfixturevalue("nginx_bin" if request.param == "nginx" else "caddy_bin")
    return str(request.param)


def get(url: str, accept: str) -> httpx.Response:
    # httpx decodes the body it is sent; the headers (Content-Encoding, Content-Length) stay as sent.
    return httpx.get(url, headers={"Accept-Encoding": accept}, timeout=15)


def test_precompressed_files_and_caching(variant: str, tmp_path: Path, tandem: TandemRunner) -> None:
    project = static_project(tmp_path / "proj")
    run = tandem.serve(project, *mode_args(variant), "--workers", "1")
    run.wait_for_line(r"tandem\s*\| wrote \d+ precompressed static file\(s\) \(\.(br, \.)?gz\)", 5)
    root = project / "staticfiles"
    hashed_css = json.loads((root / "staticfiles.json").read_text())["paths"]["site.css"]
    assert hashed_css != "site.css"  # ManifestStaticFilesStorage named it after its content

    for name in ("site.css", hashed_css):
        on_disk = root / name
        gz = get(run.url + "static/" + name, "gzip")
        assert gz.status_code == 200
        assert gz.headers["content-encoding"] == "gzip"
        # The bytes of the sibling tandem wrote, not a compression made for this request.
        assert int(gz.headers["content-length"]) == (root / f"{name}.gz").stat().st_size
        assert gz.content == on_disk.read_bytes() == CSS.encode()
        assert gz.headers["content-type"].startswith("text/css")
        assert "accept-encoding" in gz.headers["vary"].lower()
        assert gz.headers["x-content-type-options"] == "nosniff"
        cache = gz.headers["cache-control"]
        assert _same_cache(cache, hashed=name == hashed_css), cache

        plain = get(run.url + "static/" + name, "identity")
        assert "content-encoding" not in plain.headers
        assert plain.content == CSS.encode()
        assert plain.headers["x-content-type-options"] == "nosniff"

        br = get(run.url + "static/" + name, "br")
        if variant == "nginx" or not brotli_available():
            assert "content-encoding" not in br.headers  # Debian's nginx has no brotli module
        else:
            assert br.headers["content-encoding"] == "br"
            assert int(br.headers["content-length"]) == (root / f"{name}.br").stat().st_size
        assert br.content == CSS.encode()

    # A file not (yet) collected, e.g. on a host a rolling deploy has not reached: its 404 must not be
    # cached, least of all for a year under a hashed name.
    for missing in ("site.0123456789ab.css", "nothere.css"):
        gone = get(run.url + "static/" + missing, "gzip")
        assert gone.status_code == 404
        assert "max-age" not in gone.headers.get("cache-control", ""), gone.headers

    js = get(run.url + "static/app.js", "gzip")
    assert js.headers["content-encoding"] == "gzip"
    assert js.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
    assert js.content == JS.encode()
    assert run.stop() == 0
    assert run.alive_descendants() == []


def _same_cache(header: str, *, hashed: bool) -> bool:
    """The same directives as tandem's rule, whatever order the server writes them in (servestatic
    writes its own order)."""
    wanted = {d.strip() for d in (IMMUTABLE if hashed else SHORT).split(",")}
    return {d.strip() for d in header.split(",")} == wanted


def gunicorn_workers(run: Tandem) -> list[psutil.Process]:
    """The Gunicorn workers of this run: children of its Gunicorn master, found in its own process tree."""
    workers = []
    for proc in psutil.Process(run.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            parent = proc.parent()
            if "gunicorn" in " ".join(proc.cmdline()) and parent is not None and parent.pid != run.proc.pid:
                workers.append(proc)
    return workers


@pytest.mark.parametrize("proxy", ["nginx", "caddy"])
def test_an_app_server_that_dies_under_a_request_gets_the_unavailable_page(
    proxy: str, tmp_path: Path, tandem: TandemRunner, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue("nginx_bin" if proxy == "nginx" else "caddy_bin")
    project = static_project(tmp_path / "proj")
    run = tandem.serve(project, "--mode", "split", "--proxy", proxy, "--workers", "1")
    answers: list[httpx.Response] = []
    failures: list[BaseException] = []

    def call() -> None:  # a failure is kept for the assertion, not lost in the thread
        try:
            answers.append(httpx.get(run.url + "slow/", timeout=60))
        except BaseException as exc:
            failures.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    wait_for(lambda: (project / "slow-started").exists(), timeout=20, message="the request in the view")
    workers = gunicorn_workers(run)
    assert len(workers) == 1, workers
    workers[0].send_signal(signal.SIGKILL)  # the worker dies with the request in it
    caller.join(timeout=30)
    assert not failures, f"the request failed instead of getting the unavailable page: {failures[0]!r}"
    assert answers, "no answer within 30 s"
    page = answers[0]
    assert page.status_code == 502
    assert page.headers["content-type"].startswith("text/html")
    assert "restarting" in page.text and "try again" in page.text
    assert page.headers["retry-after"] == "5"
    assert page.headers["cache-control"] == "no-store"
    # Gunicorn replaces its worker: the site answers again.
    wait_for(
        lambda: _status(run.url + "status/") == 200, timeout=30, message="a new worker answering /status/"
    )
    assert run.stop() == 0
    assert run.alive_descendants() == []


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return 0
