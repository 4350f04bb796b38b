"""Charts as inline SVG text, for the HTML report (``uploader.reconcile._html``).

Generated here rather than drawn by a JavaScript library: the page then holds no third-party
code to vendor, audit and inline; it renders with scripting off, prints, and works offline by
construction; the output is deterministic text that tests can read. Hover text is SVG's own
``<title>`` (a tooltip without JavaScript).

Every function returns one ``<svg data-chart="NAME">`` element; every text that goes in is
escaped (ids, reasons and messages come from input files and from Target).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

__all__ = [
    "COLOURS",
    "bar_list",
    "histogram",
    "line_chart",
    "nice_step",
    "stacked_bars",
    "time_axis",
]

#: one colour per kind of thing, the same in every chart
COLOURS = {
    "ok": "#2e7d32",
    "throttled": "#c62828",
    "retry": "#ef6c00",
    "fail": "#6a1b9a",
    "stop": "#37474f",
    "halt": "#37474f",
    "line": "#1565c0",
    "bar": "#1565c0",
    "limit": "#212121",
}
_WIDTH, _HEIGHT = 560, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 28, 44
_FONT = 'font-family="system-ui,sans-serif" font-size="11"'
_CHAR = 7  # px: wider than a character of _FONT, for room a label needs


def nice_step(span: float, count: int = 5) -> float:
    """A round step (1, 2 or 5 × 10ⁿ) that cuts ``span`` into about ``count`` parts."""
    if span <= 0:
        return 1.0
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _ticks(high: float, count: int = 5) -> list[float]:
    step = nice_step(high, count)
    return [i * step for i in range(int(high / step + 1e-9) + 1)]


def _significant(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, never in exponent form (9.18667 → 9.19)."""
    return f"{float(f'{value:.{digits}g}'):g}"


def time_axis(span: float) -> tuple[float, Callable[[float], str]]:
    """A time axis of ``span`` seconds: its unit (seconds, minutes or hours, as seconds per
    unit: the ticks are round numbers of it) and the text of a time in that unit ("9.19 min")."""
    scale, unit = (1.0, "s") if span < 120 else (60.0, "min") if span < 7200 else (3600.0, "h")
    return scale, lambda seconds: f"{_significant(seconds / scale)} {unit}"


def _number(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.0f}k"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2g}"


@dataclass(frozen=True, slots=True)
class _Plot:
    """The plot area of one chart: data coordinates to SVG ones."""

    x_high: float
    y_high: float
    x_scale: float = 1.0  # x ticks are round numbers of this (seconds per minute: 60)

    def x(self, value: float) -> float:
        return _LEFT + value / (self.x_high or 1) * (_WIDTH - _LEFT - _RIGHT)

    def y(self, value: float) -> float:
        return _HEIGHT - _BOTTOM - value / (self.y_high or 1) * (_HEIGHT - _TOP - _BOTTOM)

    def axes(self, x_label: str, y_label: str, x_text: Callable[[float], str]) -> list[str]:
        out = [
            f'<line x1="{_LEFT}" y1="{self.y(0):.1f}" x2="{_WIDTH - _RIGHT}" '
            f'y2="{self.y(0):.1f}" stroke="#555"/>',
            f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{self.y(0):.1f}" stroke="#555"/>',
        ]
        for tick in _ticks(self.y_high):
            y = self.y(tick)
            out.append(
                f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}" '
                f'stroke="#ddd"/><text x="{_LEFT - 6}" y="{y + 4:.1f}" '
                f'text-anchor="end">{_number(tick)}</text>'
            )
        for tick in _ticks(self.x_high / self.x_scale, 6):
            x, text = self.x(tick * self.x_scale), x_text(tick * self.x_scale)
            anchor = "middle"
            if x + _CHAR * len(text) / 2 > _WIDTH:  # would be cut off: ends at the edge
                x, anchor = _WIDTH - 2, "end"
            out.append(
                f'<text x="{x:.1f}" y="{self.y(0) + 16:.1f}" text-anchor="{anchor}">'
                f"{escape(text)}</text>"
            )
        out.append(
            f'<text x="{(_LEFT + _WIDTH - _RIGHT) / 2}" y="{_HEIGHT - 6}" '
            f'text-anchor="middle">{escape(x_label)}</text>'
            f'<text x="14" y="{(_TOP + _HEIGHT - _BOTTOM) / 2}" text-anchor="middle" '
            f'transform="rotate(-90 14 {(_TOP + _HEIGHT - _BOTTOM) / 2})">{escape(y_label)}</text>'
        )
        return out


def _svg(chart: str, title: str, body: Sequence[str], height: int = _HEIGHT) -> str:
    return (
        f'<svg data-chart="{escape(chart)}" role="img" '
        f'width="{_WIDTH}" height="{height}" viewBox="0 0 {_WIDTH} {height}" {_FONT}>'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _legend(items: Sequence[tuple[str, str]]) -> str:
    out, x = [], _LEFT
    for label, colour in items:
        out.append(
            f'<rect x="{x}" y="8" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="17">{escape(label)}</text>'
        )
        x += 24 + 7 * len(label)
    return "".join(out)


def line_chart(
    chart: str,
    title: str,
    points: Sequence[tuple[float, float]],
    *,
    x_label: str,
    y_label: str,
    x_text: Callable[[float], str],
    x_scale: float = 1.0,
) -> str:
    """A step line through ``points`` (x ascending, from x = 0): a running total.
    ``x_scale``: the x axis's unit (``time_axis``), its ticks round numbers of it."""
    plot = _Plot(
        max((x for x, _ in points), default=0) or 1,
        max((y for _, y in points), default=0) or 1,
        x_scale,
    )
    path, previous = [f"M{plot.x(0):.1f},{plot.y(0):.1f}"], 0.0
    for x, y in points:
        path.append(f"L{plot.x(x):.1f},{plot.y(previous):.1f}L{plot.x(x):.1f},{plot.y(y):.1f}")
        previous = y
    dots = [
        f'<circle cx="{plot.x(x):.1f}" cy="{plot.y(y):.1f}" r="2.5" fill="{COLOURS["line"]}">'
        f"<title>{escape(x_text(x))}: {y:,.0f}</title></circle>"
        for x, y in points
    ]
    return _svg(
        chart,
        title,
        [
            *plot.axes(x_label, y_label, x_text),
            f'<path d="{"".join(path)}" fill="none" stroke="{COLOURS["line"]}" stroke-width="2"/>',
            *dots,
        ],
    )


def histogram(chart: str, title: str, values: Sequence[float], *, x_label: str, unit: str) -> str:
    """How ``values`` are spread: counts in about 20 round-width bins from 0."""
    top = max(values, default=0.0) or 1.0
    width = nice_step(top, 20)
    counts = [0] * (int(top / width) + 1)
    for value in values:
        counts[min(int(value / width), len(counts) - 1)] += 1
    plot = _Plot(len(counts) * width, max(counts) or 1)
    bars = []
    for i, count in enumerate(counts):
        if count:
            x0, x1 = plot.x(i * width), plot.x((i + 1) * width)
            bars.append(
                f'<rect x="{x0 + 0.5:.1f}" y="{plot.y(count):.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
                f'height="{plot.y(0) - plot.y(count):.1f}" fill="{COLOURS["bar"]}">'
                f"<title>{i * width:g}–{(i + 1) * width:g} {escape(unit)}: {count:,}</title></rect>"
            )
    return _svg(chart, title, [*plot.axes(x_label, "calls", lambda v: f"{v:g}"), *bars])


def stacked_bars(
    chart: str,
    title: str,
    buckets: Sequence[Mapping[str, int]],
    *,
    bucket_seconds: float,
    series: Sequence[tuple[str, str]],
    limit: float | None,
    limit_label: str,
    x_label: str,
    x_text: Callable[[float], str],
    x_scale: float = 1.0,
) -> str:
    """One bar per time bucket (``bucket_seconds`` wide, from 0), stacked by ``series``
    (key, label); ``limit``: a horizontal line (the most a bucket may hold); ``x_scale``:
    the x axis's unit (``time_axis``)."""
    heights = [sum(bucket.get(key, 0) for key, _ in series) for bucket in buckets]
    plot = _Plot(
        len(buckets) * bucket_seconds or 1, max([*heights, limit or 0]) * 1.1 or 1, x_scale
    )
    out = [*plot.axes(x_label, "calls", x_text)]
    for i, bucket in enumerate(buckets):
        x0, x1 = plot.x(i * bucket_seconds), plot.x((i + 1) * bucket_seconds)
        base = 0
        tip = ", ".join(f"{bucket.get(key, 0):,} {label}" for key, label in series)
        for key, _ in series:
            count = bucket.get(key, 0)
            if count:
                out.append(
                    f'<rect x="{x0 + 0.5:.1f}" y="{plot.y(base + count):.1f}" '
                    f'width="{max(x1 - x0 - 1, 1):.1f}" '
                    f'height="{plot.y(base) - plot.y(base + count):.1f}" fill="{COLOURS[key]}">'
                    f"<title>{escape(x_text(i * bucket_seconds))}: {escape(tip)}</title></rect>"
                )
                base += count
    legend = [(label, COLOURS[key]) for key, label in series]
    if limit is not None:
        y = plot.y(limit)
        out.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}" '
            f'stroke="{COLOURS["limit"]}" stroke-dasharray="6 4" stroke-width="1.5">'
            f"<title>{escape(limit_label)}</title></line>"
        )
        legend.append((limit_label, COLOURS["limit"]))
    out.append(_legend(legend))
    return _svg(chart, title, out)


def bar_list(chart: str, title: str, items: Sequence[tuple[str, int]], *, unit: str) -> str:
    """One horizontal bar per (label, count), labelled with both."""
    row, label_width = 22, 220
    height = _TOP + row * max(len(items), 1) + 8
    top = max((count for _, count in items), default=0) or 1
    room = _WIDTH - label_width - 90
    out = []
    for i, (label, count) in enumerate(items):
        y = _TOP + i * row
        shown = label if len(label) <= 34 else label[:33] + "…"
        out.append(
            f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end">{escape(shown)}'
            f"<title>{escape(label)}</title></text>"
            f'<rect x="{label_width}" y="{y + 3}" width="{max(count / top * room, 1 if count else 0):.1f}" '
            f'height="{row - 8}" fill="{COLOURS["bar"]}"><title>{escape(label)}: {count:,} '
            f"{escape(unit)}</title></rect>"
            f'<text x="{label_width + count / top * room + 6:.1f}" y="{y + 14}">{count:,}</text>'
        )
    return _svg(chart, title, out, height)
