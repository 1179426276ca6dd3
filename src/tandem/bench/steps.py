"""The figures one variant asks for, measured one after the other against its running servers.

Each measurement starts from idle servers (``ServeRun.wait_idle``), so none inherits the tail of the one
before it, and a measurement that fails is recorded on its figure while the others go on.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Protocol

from tandem.bench.accounts import BenchLogin
from tandem.bench.figures import (
    DAPHNE_DIRECT,
    GUNICORN_DIRECT,
    PUBLIC,
    Summarised,
    VariantResult,
    target_label,
)
from tandem.bench.measure import Load, measure_conns, measure_echo, measure_fanout, measure_http
from tandem.bench.options import BenchOptions
from tandem.bench.server import Servers
from tandem.bench.variants import CONNS, DIRECT, ECHO, FANOUT, HTTP, Variant

Step = Callable[[], Summarised | None]


class Ui(Protocol):
    def begin(self, total: int) -> None: ...
    def step(self, text: str) -> None: ...
    def advance(self) -> None: ...
    def say(self, text: str) -> None: ...


class Measurer:
    def __init__(
        self, options: BenchOptions, skip: Mapping[str, str], login: BenchLogin | None, ui: Ui
    ) -> None:
        self.options = options
        self.skip = skip
        self.login = login
        self.ui = ui

    def _settle(self, run: Servers, result: VariantResult, what: str) -> None:
        if not run.wait_idle():
            result.notes.append(
                f"the servers were still busy 30 s after the previous measurement, before {what}"
            )

    def measure(self, variant: Variant, result: VariantResult, run: Servers, url: str, load: Load) -> None:
        """Every figure the variant asks for, one after the other, each from idle servers."""
        ui, options = self.ui, self.options
        direct: dict[str, str | None] = {}
        if DIRECT in variant.measure:
            for role in ("gunicorn", "daphne"):
                direct[role] = run.direct_url(role)  # the upstream its supervisor reports
        steps: list[tuple[str, Step]] = []
        if CONNS in variant.measure and CONNS not in self.skip:
            # First, on a fresh Daphne: later, memory freed by earlier measurements would be reused and
            # the growth per connection would read low.
            steps.append(
                (
                    f"opening up to {options.max_conns} idle WebSockets",
                    self._conns_step(result, run, url, load),
                )
            )
        if HTTP in variant.measure and HTTP not in self.skip and options.http_path is not None:
            tool = "wrk" if load.wrk else "python fallback"
            targets = [(PUBLIC, url)] + (
                [(GUNICORN_DIRECT, direct.get("gunicorn"))] if DIRECT in variant.measure else []
            )
            for target, base in targets:
                steps.append(
                    (f"HTTP {options.http_path} at {target_label(target)} ({tool}, {options.duration:g} s)",
                     self._http_step(result, target, base, load))
                )  # fmt: skip
        if ECHO in variant.measure and ECHO not in self.skip:
            targets = [(PUBLIC, url)] + (
                [(DAPHNE_DIRECT, direct.get("daphne"))] if DIRECT in variant.measure else []
            )
            for target, base in targets:
                steps.append(
                    (f"WebSocket echo at {target_label(target)} ({options.clients} clients, {options.duration:g} s)",
                     self._echo_step(result, target, base, load))
                )  # fmt: skip
        if (
            FANOUT in variant.measure
            and FANOUT not in self.skip
            and self.login is not None
            and options.fanout_path is not None
        ):
            room = f"bench-{secrets.token_hex(4)}"
            for clients in options.fanout:
                steps.append(
                    (f"fan-out to {clients} clients in room {room}",
                     self._fanout_step(result, url, options.fanout_path.format(room=room), clients, load))
                )  # fmt: skip
        for text, step in steps:
            ui.step(f"{variant.name}: {text}")
            self._settle(run, result, text)
            figure = step()
            if figure is not None:
                ui.say(f"{variant.name}: {figure.summary()}")
            ui.advance()

    def _http_step(self, result: VariantResult, target: str, base: str | None, load: Load) -> Step:
        def measure(server: str) -> Summarised:
            assert self.options.http_path is not None
            figure = measure_http(target, server, self.options.http_path, load)
            result.http.append(figure)
            return figure

        return self._load_step(result, target, base, measure)

    def _echo_step(self, result: VariantResult, target: str, base: str | None, load: Load) -> Step:
        def measure(server: str) -> Summarised:
            assert self.options.ws_path is not None
            figure = measure_echo(target, server, self.options.ws_path, load)
            result.echo.append(figure)
            return figure

        return self._load_step(result, target, base, measure)

    @staticmethod
    def _load_step(
        result: VariantResult, target: str, base: str | None, measure: Callable[[str], Summarised]
    ) -> Step:
        """A load measurement against ``base``, or a note when the server's direct port was not found."""

        def step() -> Summarised | None:
            if base is None:
                result.notes.append(f"{target}: its supervisor reports no TCP upstream for the server")
                return None
            return measure(base)

        return step

    def _fanout_step(self, result: VariantResult, url: str, path: str, clients: int, load: Load) -> Step:
        def step() -> Summarised | None:
            assert self.login is not None
            figure = measure_fanout(url, path, self.login.cookie, clients, load)
            result.fanout.append(figure)
            return figure

        return step

    def _conns_step(self, result: VariantResult, run: Servers, url: str, load: Load) -> Step:
        def step() -> Summarised | None:
            assert self.options.ws_path is not None
            result.conns = measure_conns(run, PUBLIC, url, self.options.ws_path, self.options.max_conns, load)
            return result.conns

        return step
