"""Inline SVG charts drawn from an analytics answer's numbers (no script, no external style).

Every chart says how it maps values to pixels on its `<svg>` (`data-y-min`, `data-y-max`, `data-plot-top`,
`data-plot-height`: y = top + height * (1 - (value - min) / (max - min))), and every mark carries the value
it draws (`data-value`, `data-ts`, and a `<title>` people see on hover), so a browser test can check that
the picture is the data's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 36
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700")


@dataclass(frozen=True)
class Line:
    name: str
    points: Sequence[tuple[float, str, float | None]]  # (unix seconds, ISO time, value or None)
    colour: str = COLOURS[0]


@dataclass(frozen=True)
class Rule:
    """A horizontal line at a value: a budget, a threshold."""

    label: str
    value: float
    kind: str = "budget"  # the CSS class: budget | reference


def _num(value: float) -> str:
    """A number as a data attribute holds it: exact to what JSON carries (12 significant digits)."""
    return format(value, ".12g")


def _nice(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= value))


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.4g} %"
    if unit in ("ms", "s"):
        return f"{value:,.1f} {unit}"
    return f"{value:.4g}{(' ' + unit) if unit else ''}"


def line_chart(chart_id: str, title: str, unit: str, lines: Sequence[Line], rules: Sequence[Rule] = (),
               y_max: float | None = None) -> str:
    """A line chart over time of one or more series, with horizontal rules (the budget line)."""
    values = [v for line in lines for _, _, v in line.points if v is not None]
    top_value = y_max if y_max is not None else _nice(max([*values, *(r.value for r in rules), 0.0]) * 1.1)
    times = [t for line in lines for t, _, _ in line.points]
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    span = (t1 - t0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return round(LEFT + plot_w * (t - t0) / span, 2)

    def y(v: float) -> float:
        return round(TOP + plot_h * (1 - v / top_value), 2)

    out = [f'<svg class="chart" id="{escape(chart_id)}" data-chart="{escape(chart_id)}" role="img" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" data-y-min="0" '
           f'data-y-max="{_num(top_value)}" data-plot-top="{TOP}" data-plot-height="{plot_h}" '
           f'data-unit="{escape(unit)}">',
           f"<title>{escape(title)}</title>",
           f'<text class="chart-title" x="{LEFT}" y="16">{escape(title)}</text>']
    for tick in range(5):
        value = top_value * tick / 4
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value)}" y2="{y(value)}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{y(value) + 4}" text-anchor="end">'
                   f"{escape(_fmt(value, unit))}</text>")
    if times:
        first = next(iso for line in lines for t, iso, _ in line.points if t == t0)
        last = next(iso for line in lines for t, iso, _ in line.points if t == t1)
        out.append(f'<text class="tick" x="{LEFT}" y="{HEIGHT - 12}">{escape(first)}</text>')
        out.append(f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 12}" text-anchor="end">{escape(last)}</text>')
    for rule in rules:
        if rule.value <= top_value:
            out.append(f'<line class="{escape(rule.kind)}" data-value="{_num(rule.value)}" x1="{LEFT}" '
                       f'x2="{WIDTH - RIGHT}" y1="{y(rule.value)}" y2="{y(rule.value)}">'
                       f"<title>{escape(rule.label)}: {escape(_fmt(rule.value, unit))}</title></line>")
            out.append(f'<text class="rule-label" x="{WIDTH - RIGHT - 4}" y="{y(rule.value) - 4}" '
                       f'text-anchor="end">{escape(rule.label)} {escape(_fmt(rule.value, unit))}</text>')
    for index, line in enumerate(lines):
        segments: list[list[str]] = [[]]
        for t, _, v in line.points:
            if v is None:
                segments.append([])
            else:
                segments[-1].append(f"{x(t)},{y(v)}")
        for segment in segments:
            if len(segment) > 1:
                out.append(f'<polyline class="series" stroke="{line.colour}" points="{" ".join(segment)}"/>')
        for t, iso, v in line.points:
            if v is not None:
                out.append(f'<circle class="point" data-series="{escape(line.name)}" data-ts="{t:.3f}" '
                           f'data-value="{_num(v)}" cx="{x(t)}" cy="{y(v)}" r="3" fill="{line.colour}">'
                           f"<title>{escape(line.name)} {escape(_fmt(v, unit))} at {escape(iso)}</title></circle>")
        out.append(f'<text class="legend" x="{LEFT + 8 + 150 * index}" y="{TOP + 12}" fill="{line.colour}">'
                   f"{escape(line.name)}</text>")
    if not values:
        out.append(f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data in the range'
                   "</text>")
    out.append("</svg>")
    return "".join(out)


def bar_chart(chart_id: str, title: str, unit: str, bars: Sequence[tuple[str, str, float | None]],
              y_max: float | None = None) -> str:
    """Vertical bars: (group, series, value) each, grouped by group in order."""
    values = [v for _, _, v in bars if v is not None]
    top_value = y_max if y_max is not None else _nice(max([*values, 0.0]) * 1.1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    groups = list(dict.fromkeys(g for g, _, _ in bars))
    series = list(dict.fromkeys(s for _, s, _ in bars))
    slot = plot_w / max(1, len(groups))
    width = max(2.0, slot * 0.8 / max(1, len(series)))
    out = [f'<svg class="chart" id="{escape(chart_id)}" data-chart="{escape(chart_id)}" role="img" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" data-y-min="0" '
           f'data-y-max="{_num(top_value)}" data-plot-top="{TOP}" data-plot-height="{plot_h}" '
           f'data-unit="{escape(unit)}">',
           f"<title>{escape(title)}</title>", f'<text class="chart-title" x="{LEFT}" y="16">{escape(title)}</text>']
    for tick in range(5):
        value = top_value * tick / 4
        ty = round(TOP + plot_h * (1 - tick / 4), 2)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty}" y2="{ty}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{ty + 4}" text-anchor="end">'
                   f"{escape(_fmt(value, unit))}</text>")
    for gi, group in enumerate(groups):
        out.append(f'<text class="tick" x="{round(LEFT + slot * (gi + 0.5), 2)}" y="{HEIGHT - 12}" '
                   f'text-anchor="middle">{escape(group)}</text>')
    for g, s, v in bars:
        if v is None:
            continue
        gi, si = groups.index(g), series.index(s)
        height = round(plot_h * v / top_value, 2)
        bx = round(LEFT + slot * gi + slot * 0.1 + width * si, 2)
        out.append(f'<rect class="bar" data-group="{escape(g)}" data-series="{escape(s)}" data-value="{_num(v)}" '
                   f'x="{bx}" y="{round(TOP + plot_h - height, 2)}" width="{round(width, 2)}" height="{height}" '
                   f'fill="{COLOURS[si % len(COLOURS)]}"><title>{escape(g)} {escape(s)}: '
                   f"{escape(_fmt(v, unit))}</title></rect>")
    for si, s in enumerate(series):
        out.append(f'<text class="legend" x="{LEFT + 8 + 150 * si}" y="{TOP + 12}" '
                   f'fill="{COLOURS[si % len(COLOURS)]}">{escape(s)}</text>')
    if not values:
        out.append(f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data</text>')
    out.append("</svg>")
    return "".join(out)
