"""The progress curve of a review session as inline SVG, drawn on the server (no chart script).

Only numbers and fixed labels go into the drawing; it uses presentation attributes, never a
``style`` attribute, so the page's Content-Security-Policy (no inline style) holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

W, H = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 16, 44


def _finite(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def progress_svg(runs: Sequence[dict], n_segments: int) -> str:
    """SVG of expected agreement and cross-validated kappa against the share decided.

    Parameters
    ----------
    runs : sequence of dict
        One per trained model (:meth:`Journal.model_runs`), with ``decided_share``,
        ``expected_kappa``, ``cv_kappa``, ``cv_low``, ``cv_high``.
    n_segments : int
        Corpus size (for the axis title).

    Examples
    --------
    >>> svg = progress_svg([{"decided_share": 0.1, "expected_kappa": 0.6, "cv_kappa": 0.5,
    ...                      "cv_low": 0.4, "cv_high": 0.6}], 100)
    >>> svg.startswith("<svg") and "expected agreement" in svg
    True
    """
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(share: float) -> float:
        return LEFT + pw * min(max(share, 0.0), 1.0)

    def y(k: float) -> float:
        return TOP + ph * (1 - min(max(k, 0.0), 1.0))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" '
             f'width="{W}" height="{H}" role="img" aria-label="agreement over the session">']
    for k in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(k):.1f}" y2="{y(k):.1f}" '
                     f'stroke="#ddd" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y(k) + 4:.1f}" text-anchor="end" '
                     f'font-size="12" fill="#444">{k:.1f}</text>')
    for s in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<text x="{x(s):.1f}" y="{H - BOTTOM + 18}" text-anchor="middle" '
                     f'font-size="12" fill="#444">{100 * s:.0f}%</text>')
    parts.append(f'<text x="{LEFT + pw / 2:.1f}" y="{H - 6}" text-anchor="middle" '
                 f'font-size="12" fill="#222">share of the {int(n_segments)} segments '
                 f'decided</text>')
    parts.append(f'<text x="14" y="{TOP + ph / 2:.1f}" text-anchor="middle" font-size="12" '
                 f'fill="#222" transform="rotate(-90 14 {TOP + ph / 2:.1f})">kappa</text>')
    band = [r for r in runs if _finite(r.get("cv_low")) and _finite(r.get("cv_high"))]
    if len(band) >= 1:
        upper = " ".join(f"{x(r['decided_share']):.1f},{y(r['cv_high']):.1f}" for r in band)
        lower = " ".join(f"{x(r['decided_share']):.1f},{y(r['cv_low']):.1f}"
                         for r in reversed(band))
        parts.append(f'<polygon points="{upper} {lower}" fill="#9ecae1" fill-opacity="0.35" '
                     f'stroke="none"/>')
    for key, colour, dash in (("cv_kappa", "#3182bd", "4 3"), ("expected_kappa", "#d95f02", "")):
        pts = [r for r in runs if _finite(r.get(key))]
        if not pts:
            continue
        line = " ".join(f"{x(r['decided_share']):.1f},{y(r[key]):.1f}" for r in pts)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" '
                     f'stroke-width="2"{dash_attr}/>')
        for r in pts:
            parts.append(f'<circle cx="{x(r["decided_share"]):.1f}" cy="{y(r[key]):.1f}" r="3" '
                         f'fill="{colour}"/>')
    legend = (("#d95f02", "expected agreement of the whole coding if stopped now"),
              ("#3182bd", "model's cross-validated kappa (band: interval)"))
    for i, (colour, text) in enumerate(legend):
        ly = TOP + 14 + 18 * i
        parts.append(f'<rect x="{LEFT + 10}" y="{ly - 9}" width="14" height="4" '
                     f'fill="{colour}"/>')
        parts.append(f'<text x="{LEFT + 30}" y="{ly - 3}" font-size="12" fill="#222">'
                     f'{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)
