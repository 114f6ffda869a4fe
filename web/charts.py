"""Bar charts drawn on the server as inline SVG, for any module's reports: the geometry is
worked out here (each bar as long as its value against the chart's largest) and the macro
``bars`` of ``web/templates/charts.html`` draws it; no chart script reaches the browser.
The table under a chart carries the numbers; the chart is named for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

LABEL_MAX = 18  # a chart's row label is cut beyond this (the table has it whole)
#: Where the bars start and how much of the width they may take (percent of the chart).
BARS_AT, BARS_WIDTH = Decimal(32), Decimal(52)


@dataclass(frozen=True, slots=True)
class Bar:
    series: str  # "a" or "b": the stylesheet gives each its colour
    width: Decimal  # percent of the chart's width
    end: Decimal  # where its value is written, percent of the width
    text: str


@dataclass(frozen=True, slots=True)
class ChartRow:
    label: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    label: str  # what it shows, for the picture's accessible name
    rows: tuple[ChartRow, ...]
    legend: tuple[tuple[str, str], ...] = ()  # (series, label) when there are two

    @property
    def row_height(self) -> int:
        return 6 + 16 * max((len(row.bars) for row in self.rows), default=1)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX else f"{label[: LABEL_MAX - 1]}…"


def chart(
    label: str,
    rows: Sequence[tuple[str, Sequence[tuple[str, Decimal | int, str]]]],
    legend: tuple[tuple[str, str], ...] = (),
) -> Chart:
    """Horizontal bars: per row a label and its bars (series, value, the value as shown),
    each as long as its value against the chart's largest."""
    top = max((Decimal(v) for _, bars in rows for _, v, _ in bars), default=Decimal(0))
    tenth = Decimal("0.1")

    def bar(series: str, value: Decimal | int, text: str) -> Bar:
        width = (BARS_WIDTH * Decimal(value) / top).quantize(tenth, ROUND_HALF_UP) if top else 0
        return Bar(series, Decimal(width), BARS_AT + Decimal(width) + 1, text)

    return Chart(
        label,
        tuple(ChartRow(_short(name), tuple(bar(*b) for b in bars)) for name, bars in rows),
        legend,
    )
