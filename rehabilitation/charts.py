"""Bar charts as inline SVG, drawn on the server: no JavaScript, no external service.

A chart is accessible on its own (`role="img"`, a `<title>` and a `<desc>` naming every bar
and its value, visible text labels) and the pages show its data as a table under it too.
Colours and sizes are SVG presentation attributes, not `style` attributes.

A bar may be a withheld count (`disclosure.Cell` not shown): it is drawn without a bar, its
text says "< 10" or "withheld", and no length or value in the picture gives it away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator, slugify

from .disclosure import Cell

#: Drawing sizes in SVG user units; the picture scales with the page width.
WIDTH = 720
LABEL_WIDTH = 240
VALUE_WIDTH = 70
ROW_HEIGHT = 30
BAR_HEIGHT = 18
PADDING = 10
FONT_SIZE = 14
#: Long labels are cut to this many characters in the picture (the table has them whole).
LABEL_CHARS = 30

BAR_COLOUR = "#0b5394"
TEXT_COLOUR = "#1d2430"
AXIS_COLOUR = "#d8dde5"


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label, its value (None: withheld) and the text of its value."""

    label: str
    value: int | None
    text: str

    @property
    def shown(self) -> bool:
        return self.value is not None


@dataclass(frozen=True, slots=True)
class Chart:
    """A horizontal bar chart: a title, bars, and the header of the value column."""

    key: str
    title: str
    bars: tuple[Bar, ...]
    value_label: str = ""

    @property
    def dom_id(self) -> str:
        return f"chart-{slugify(self.key)}"

    @property
    def svg(self) -> SafeString:
        return bar_chart_svg(self)


def _bar(label: str, value: int | Cell) -> Bar:
    cell = value if isinstance(value, Cell) else Cell(int(value))
    return Bar(str(label), cell.value, cell.text)


def bar_chart(
    *, key: str, title: str, bars: Sequence[tuple[str, int | Cell]], value_label: str = ""
) -> Chart:
    """A chart of `bars` ((label, count or cell) pairs, drawn in that order)."""
    return Chart(
        key=key,
        title=title,
        bars=tuple(_bar(label, value) for label, value in bars),
        value_label=value_label,
    )


def bar_chart_svg(chart: Chart) -> SafeString:
    """The chart as an `<svg>` element; every text is escaped."""
    top = max((bar.value for bar in chart.bars if bar.value is not None), default=0)
    area = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 2 * PADDING
    height = max(len(chart.bars), 1) * ROW_HEIGHT + 2 * PADDING
    title_id, desc_id = f"{chart.dom_id}-title", f"{chart.dom_id}-desc"
    description = "; ".join(f"{bar.label}: {bar.text}" for bar in chart.bars)
    rows = []
    for index, bar in enumerate(chart.bars):
        y = PADDING + index * ROW_HEIGHT
        length = round(area * bar.value / top) if top and bar.value is not None else 0
        text_y = y + ROW_HEIGHT // 2 + FONT_SIZE // 3
        rows.append(
            (
                f"{bar.label}: {bar.text}",
                LABEL_WIDTH - PADDING,
                text_y,
                Truncator(bar.label).chars(LABEL_CHARS),
                LABEL_WIDTH,
                y + (ROW_HEIGHT - BAR_HEIGHT) // 2,
                length,
                BAR_HEIGHT,
                LABEL_WIDTH + length + 6,
                text_y,
                bar.text,
            )
        )
    bars = format_html_join(
        "",
        '<g><title>{}</title><text x="{}" y="{}" text-anchor="end">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="{}" fill="' + BAR_COLOUR + '"></rect>'
        '<text x="{}" y="{}">{}</text></g>',
        rows,
    )
    return format_html(
        '<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'aria-labelledby="{title_id} {desc_id}" font-family="system-ui, sans-serif" '
        'font-size="{font}" fill="{ink}">'
        '<title id="{title_id}">{title}</title><desc id="{desc_id}">{desc}</desc>'
        '<line x1="{axis}" y1="{pad}" x2="{axis}" y2="{bottom}" stroke="{line}"></line>'
        "{bars}</svg>",
        width=WIDTH,
        height=height,
        title_id=title_id,
        desc_id=desc_id,
        font=FONT_SIZE,
        ink=TEXT_COLOUR,
        title=chart.title,
        desc=description,
        axis=LABEL_WIDTH,
        pad=PADDING,
        bottom=height - PADDING,
        line=AXIS_COLOUR,
        bars=bars,
    )
