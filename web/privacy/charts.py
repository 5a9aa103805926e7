"""Charts drawn by the app as inline SVG: no JavaScript, no library, nothing fetched.

Each chart is an ``<svg role="img">`` with an ``aria-label``, a ``<title>`` and a ``<desc>``
(what it shows, in a sentence); the page puts the same numbers in a table beside it, which is
what a screen reader user reads. Only presentation attributes and CSS classes (``vault.css``,
``.chart*``) style it: the CSP forbids ``style=`` attributes. Series colours are dark enough for
3:1 against white (WCAG 1.4.11) and lines also differ by dash, so colour is never the only cue.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

#: Blue, orange, green, purple: distinguishable with the common colour-vision deficiencies, and
#: each at least 4.5:1 against white.
PALETTE = ("#0b5cad", "#b54708", "#1e6b35", "#6b3fa0")
DASHES = ("", "6 4", "2 3", "8 3 2 3")
WIDTH = 480


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``: four grid steps of 1, 2 or 5 x 10^n each, so
    the grid lines of a chart of counts fall on whole numbers."""
    step, target = 1, max(value, 0) / 4
    while True:
        for factor in (1, 2, 5):
            if step * factor >= target:
                return 4 * step * factor
        step *= 10


def _short(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _open(chart_id: str, title: str, description: str, height: int) -> list[str]:
    t, d = escape(title), escape(description)
    return [f'<svg class="chart" id="{chart_id}" role="img" aria-label="{t}" aria-describedby="{chart_id}-desc" '
            f'viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">',
            f'<title>{t}</title><desc id="{chart_id}-desc">{d}</desc>']


def _legend(series: Sequence[Series], y: int, *, lines: bool) -> list[str]:
    out, x = [], 8
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        if lines:
            dash = DASHES[i % len(DASHES)]
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<line x1="{x}" y1="{y - 4}" x2="{x + 18}" y2="{y - 4}" stroke="{colour}" '
                       f'stroke-width="3"{dash_attr}/>')
        else:
            out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text class="chart-text" x="{x + 22}" y="{y}">{escape(_short(s.name, 28))}</text>')
        x += 36 + 7 * min(len(s.name), 28)
    return out


def bar_chart(chart_id: str, title: str, description: str, categories: Sequence[str], series: Sequence[Series],
              *, fmt: Callable[[float], str] = str) -> Markup:
    """Horizontal bars, one group per category (a row each: long names stay readable)."""
    label_w, right, bar_h, gap, top = 150, 40, 16, 10, 30
    group_h = bar_h * len(series) + gap
    height = top + max(len(categories), 1) * group_h + 8
    top_value = _nice_max(max((v for s in series for v in s.values), default=0))
    span = WIDTH - label_w - right
    out = _open(chart_id, title, description, height)
    out += _legend(series, 16, lines=False)
    out.append(f'<line class="chart-axis" x1="{label_w}" y1="{top - 4}" x2="{label_w}" y2="{height - 6}"/>')
    if not categories:
        out.append(f'<text class="chart-text" x="{label_w + 8}" y="{top + 14}">—</text>')
    for row, category in enumerate(categories):
        y0 = top + row * group_h
        out.append(f'<text class="chart-text" x="{label_w - 8}" y="{y0 + group_h / 2}" text-anchor="end" '
                   f'dominant-baseline="middle">{escape(_short(category))}</text>')
        for i, s in enumerate(series):
            value = s.values[row]
            w = span * value / top_value
            y = y0 + i * bar_h
            out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                       f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(category)}, {escape(s.name)}: '
                       f'{escape(fmt(value))}</title></rect>')
            out.append(f'<text class="chart-value" x="{label_w + w + 4:.1f}" y="{y + bar_h - 4}">'
                       f'{escape(fmt(value))}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def line_chart(chart_id: str, title: str, description: str, x_labels: Sequence[str], series: Sequence[Series],
               *, fmt: Callable[[float], str] = str) -> Markup:
    """A time series: one line per series over ``x_labels``, with a point (and tooltip) per value."""
    left, right, top, bottom, height = 40, 12, 32, 36, 240
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    top_value = _nice_max(max((v for s in series for v in s.values), default=0))
    n = max(len(x_labels), 1)

    def x_at(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y_at(v: float) -> float:
        return top + plot_h - plot_h * v / top_value

    out = _open(chart_id, title, description, height)
    out += _legend(series, 16, lines=True)
    for k in range(5):
        v = top_value * k / 4
        y = y_at(v)
        out.append(f'<line class="chart-grid" x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}"/>')
        out.append(f'<text class="chart-text" x="{left - 6}" y="{y:.1f}" text-anchor="end" '
                   f'dominant-baseline="middle">{escape(fmt(int(v)))}</text>')
    every = max(1, -(-len(x_labels) // 8))  # at most 8 labels fit under the axis
    for i, label in enumerate(x_labels):
        if i % every == 0:
            out.append(f'<text class="chart-text" x="{x_at(i):.1f}" y="{height - bottom + 18}" '
                       f'text-anchor="middle">{escape(label)}</text>')
    for si, s in enumerate(series):
        colour, dash = PALETTE[si % len(PALETTE)], DASHES[si % len(DASHES)]
        points = " ".join(f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in enumerate(s.values))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"{dash_attr}/>')
        for i, v in enumerate(s.values):
            out.append(f'<circle cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="3.5" fill="{colour}">'
                       f'<title>{escape(x_labels[i])}, {escape(s.name)}: {escape(fmt(v))}</title></circle>')
    out.append("</svg>")
    return Markup("".join(out))
