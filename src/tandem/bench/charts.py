"""Horizontal grouped bar charts as plain geometry (pure); the HTML template draws them as inline SVG.

No charting library and no script: the report is one self-contained file that opens anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f")
LABEL_WIDTH = 230
PLOT_WIDTH = 420
VALUE_WIDTH = 90
BAR_HEIGHT = 16
BAR_GAP = 3
GROUP_GAP = 12
TOP = 30
LEGEND_HEIGHT = 22
LEGEND_STEP = 110


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    tooltip: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "start"  # SVG text-anchor
    muted: bool = False


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    rects: tuple[Rect, ...]
    labels: tuple[Label, ...]
    legend: tuple[tuple[float, float, str, str], ...]  # (x, y, colour, series name), above the bars

    @property
    def empty(self) -> bool:
        return not self.rects


def grouped_bars(
    title: str,
    groups: Sequence[tuple[str, Sequence[float | None]]],
    series: Sequence[str],
    fmt: Callable[[float], str],
    *,
    legend: bool | None = None,
) -> Chart:
    """One group of bars per (label, values); ``values[i]`` belongs to ``series[i]``; None draws nothing.

    Bars share one linear scale starting at zero, so lengths compare honestly across groups. The legend
    is drawn when there is more than one series, or when ``legend`` asks for it.
    """
    show_legend = len(series) > 1 if legend is None else legend
    values = [v for _, vs in groups for v in vs if v is not None]
    top = max(values) if values else 0.0
    scale = PLOT_WIDTH / top if top > 0 else 0.0
    rects: list[Rect] = []
    labels: list[Label] = []
    width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH
    per_row = max(1, (width - LABEL_WIDTH) // LEGEND_STEP)
    keys = tuple(
        (
            LABEL_WIDTH + (i % per_row) * LEGEND_STEP,
            TOP - 4 + (i // per_row) * LEGEND_HEIGHT,
            PALETTE[i % len(PALETTE)],
            s,
        )
        for i, s in enumerate(series if show_legend else ())
    )
    y = TOP + (-(-len(keys) // per_row)) * LEGEND_HEIGHT
    for name, row in groups:
        group_height = len(series) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
        labels.append(Label(LABEL_WIDTH - 8, y + group_height / 2 + 4, name, anchor="end"))
        for index, value in enumerate(row):
            if value is not None:
                length = max(1.0, value * scale)
                colour = PALETTE[index % len(PALETTE)]
                rects.append(
                    Rect(LABEL_WIDTH, y, length, BAR_HEIGHT, colour, f"{name} {series[index]}: {fmt(value)}")
                )
                labels.append(Label(LABEL_WIDTH + length + 6, y + BAR_HEIGHT - 4, fmt(value), muted=True))
            y += BAR_HEIGHT + BAR_GAP
        y += GROUP_GAP - BAR_GAP
    return Chart(
        title=title,
        width=width,
        height=int(y + 8),
        rects=tuple(rects),
        labels=tuple(labels),
        legend=keys,
    )


def number(value: float) -> str:
    return f"{value:,.0f}"


def millis(value: float) -> str:
    return f"{value:.1f} ms"
