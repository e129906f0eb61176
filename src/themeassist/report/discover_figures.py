"""Figures of discovery: candidate sizes (matplotlib) and an interactive map (one HTML file).

The map is a hand-written inline SVG with a few lines of JavaScript: no CDN, no library,
a few hundred kilobytes for thousands of segments (plotly's self-contained HTML is about
5 MB). Hovering a point shows its candidate and text; clicking a candidate in the legend
highlights its members. The file is deterministic: same inputs, same bytes.
"""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd

from themeassist.report.style import MINOR_COLOUR, PALETTE, figure_style, new_figure

#: More colours than the Okabe-Ito eight, for maps with many candidates (tab20-like).
MAP_COLOURS = PALETTE[:7] + ["#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD",
                             "#8C564B", "#E377C2", "#7F7F7F", "#BCBD22", "#17BECF",
                             "#AEC7E8", "#FFBB78", "#98DF8A", "#FF9896", "#C5B0D5"]


def size_chart(candidates: pd.DataFrame, *, top: int = 30):
    """Horizontal bars of candidate sizes, largest on top; new candidates highlighted.

    Parameters
    ----------
    candidates : DataFrame
        ``label``, ``size`` and optionally ``is_new`` and ``stability``.
    top : int, default 30
        Show at most this many (the largest).

    Returns
    -------
    matplotlib Figure
    """
    df = candidates.sort_values(["size", "candidate_id"], ascending=[False, True]).head(top)
    with figure_style():
        fig, ax = new_figure(7.0, max(2.0, 0.28 * len(df) + 1.0))
        labels = [f"{c}: {lab}" for c, lab in zip(df["candidate_id"], df["label"])]
        is_new = df["is_new"].astype(bool).to_numpy() if "is_new" in df else np.zeros(len(df), bool)
        colours = [PALETTE[3] if n else PALETTE[0] for n in is_new]
        y = np.arange(len(df))[::-1]
        ax.barh(y, df["size"].to_numpy(), color=colours)
        ax.set_yticks(y, labels)
        ax.set_xlabel("segments" + (" (grey: stability over runs, 0-1)"
                                     if "stability" in df and df["stability"].notna().any() else ""))
        title = "Candidate subthemes by size"
        if is_new.any():
            title += " (orange: far from every codebook entry)"
        ax.set_title(title)
        if "stability" in df and df["stability"].notna().any():
            for yi, (s, st) in enumerate(zip(df["size"], df["stability"])):
                if pd.notna(st):
                    ax.text(s, y[yi], f" {st:.2f}", va="center", fontsize=7, color=MINOR_COLOUR)
    return fig


def _colour(cid: int) -> str:
    return MINOR_COLOUR if cid < 0 else MAP_COLOURS[cid % len(MAP_COLOURS)]


def map_html(candidates: pd.DataFrame, assignments: pd.DataFrame, segments: pd.DataFrame,
             *, title: str = "Candidate subthemes", width: int = 900, height: int = 640,
             max_chars: int = 300) -> str:
    """A self-contained HTML page: segments as points coloured by candidate, with a legend.

    Parameters
    ----------
    candidates : DataFrame
        ``candidate_id``, ``label``, ``size`` (and ``nearest_subtheme``, ``is_new`` if known).
    assignments : DataFrame
        ``segment_id``, ``candidate_id``, ``x``, ``y`` (segments without coordinates, i.e.
        set aside, are not drawn).
    segments : DataFrame
        ``segment_id`` and ``text`` (for the hover text), ``speaker`` and ``question`` if any.
    max_chars : int, default 300
        Hover texts are cut to this length.

    Returns
    -------
    str
        The HTML document.
    """
    a = assignments.dropna(subset=["x", "y"])
    a = a.merge(segments[["segment_id", "text"] + [c for c in ("speaker", "question")
                                                    if c in segments.columns]],
                on="segment_id", how="left")
    if len(a):
        x0, x1 = float(a["x"].min()), float(a["x"].max())
        y0, y1 = float(a["y"].min()), float(a["y"].max())
    else:
        x0 = y0 = 0.0
        x1 = y1 = 1.0
    pad = 20
    sx = (width - 2 * pad) / ((x1 - x0) or 1.0)
    sy = (height - 2 * pad) / ((y1 - y0) or 1.0)
    labels = dict(zip(candidates["candidate_id"].astype(int), candidates["label"].astype(str)))
    circles = []
    for row in a.itertuples(index=False):
        cid = int(row.candidate_id)
        cx = pad + (float(row.x) - x0) * sx
        cy = height - pad - (float(row.y) - y0) * sy
        text = " ".join(str(row.text).split())
        if len(text) > max_chars:
            text = text[:max_chars - 1] + "\u2026"
        who = " ".join(p for p in (f"Q{getattr(row, 'question', '')}" if getattr(row, "question", "") else "",
                                   str(getattr(row, "speaker", "") or "")) if p)
        tip = f"[{cid}] {labels.get(cid, 'unassigned')}" + (f" ({who})" if who else "") + f"\n{text}"
        circles.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{_colour(cid)}" '
                       f'data-c="{cid}"><title>{html.escape(tip)}</title></circle>')
    legend = []
    for row in candidates.sort_values("candidate_id").itertuples(index=False):
        cid = int(row.candidate_id)
        extra = ""
        if getattr(row, "nearest_subtheme", ""):
            extra = (" \u2014 new" if bool(getattr(row, "is_new", False))
                     else f" \u2014 near \u201c{row.nearest_subtheme}\u201d")
        legend.append(
            f'<li data-c="{cid}"><span style="background:{_colour(cid)}"></span>'
            f'{cid}: {html.escape(str(row.label))} ({int(row.size)}){html.escape(extra)}</li>')
    stats = {"segments": len(a), "candidates": len(candidates)}
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:16px;color:#222}}
.wrap{{display:flex;gap:16px;align-items:flex-start}}
svg{{border:1px solid #ddd;background:#fff}}
circle{{opacity:.75;cursor:pointer}} svg.sel circle{{opacity:.08}} svg.sel circle.on{{opacity:1}}
ul{{list-style:none;padding:0;margin:0;max-height:{height}px;overflow:auto;min-width:260px}}
li{{cursor:pointer;padding:2px 4px}} li:hover,li.on{{background:#eef}}
li span{{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:50%}}
</style></head><body>
<h1 style="font-size:18px">{html.escape(title)}</h1>
<p>{stats['segments']} segments, {stats['candidates']} candidates. Hover a point to read it;
click a candidate to highlight its members (click again to clear). Position shows
similarity only roughly (a 2-D view of the clustering space).</p>
<div class="wrap">
<svg id="map" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">
{chr(10).join(circles)}
</svg>
<ul id="legend">
{chr(10).join(legend)}
</ul></div>
<script>
(function(){{
  var svg=document.getElementById('map'), cur=null;
  document.getElementById('legend').addEventListener('click',function(e){{
    var li=e.target.closest('li'); if(!li) return;
    var c=li.getAttribute('data-c');
    cur = (cur===c) ? null : c;
    svg.classList.toggle('sel', cur!==null);
    svg.querySelectorAll('circle').forEach(function(p){{
      p.classList.toggle('on', p.getAttribute('data-c')===cur);}});
    document.querySelectorAll('#legend li').forEach(function(l){{
      l.classList.toggle('on', l.getAttribute('data-c')===cur);}});
  }});
}})();
</script>
<script type="application/json" id="meta">{html.escape(json.dumps(stats, sort_keys=True))}</script>
</body></html>
"""


def candidates_markdown(candidates: pd.DataFrame, diagnostics: dict | None = None,
                        *, quotes: int = 3) -> str:
    """A readable summary of the candidates: one section each, with quotes and where found.

    Examples
    --------
    >>> c = pd.DataFrame({"candidate_id": [0], "label": ["export: file"], "size": [12],
    ...                   "keywords": ["export, file"], "quotes": ['["Export was easy."]'],
    ...                   "stability": [0.9]})
    >>> print(candidates_markdown(c).splitlines()[2])
    ## 0. export: file (12 segments)
    """
    lines = ["# Candidate subthemes", ""]
    d = diagnostics or {}
    if d:
        aside = ", ".join(f"{v} {k}" for k, v in d.get("set_aside", {}).items() if v)
        from themeassist.discover import headline

        numbers = headline(d)
        ari = numbers["ari_mean"]
        lines += [f"{d.get('n_clustered')} of {d.get('n_segments')} segments clustered"
                  + (f" (set aside: {aside})" if aside else "")
                  + f"; {100 * (numbers['outlier_share'] or 0):.1f}% left unassigned"
                  + (f"; adjusted Rand index between runs {ari:.2f}" if ari is not None else "")
                  + ".", ""]
    for row in candidates.itertuples(index=False):
        r = row._asdict()
        lines.append(f"## {r['candidate_id']}. {r['label']} ({r['size']} segments)")
        lines.append("")
        facts = [f"keywords: {r.get('keywords', '')}"]
        if pd.notna(r.get("stability", np.nan)):
            facts.append(f"stability {r['stability']:.2f}")
        if r.get("nearest_subtheme"):
            near = f"nearest codebook entry: {r['nearest_subtheme']}"
            if r.get("nearest_theme") and r["nearest_theme"] != r["nearest_subtheme"]:
                near += f" ({r['nearest_theme']}" + (f", {r['nearest_valence']})"
                                                     if r.get("nearest_valence") else ")")
            near += f", similarity {r['similarity']:.2f}"
            if r.get("is_new"):
                near += " **(looks new)**"
            facts.append(near)
        if r.get("questions"):
            facts.append(f"questions: {r['questions']}")
        if r.get("groups"):
            facts.append(f"groups: {r['groups']}")
        if r.get("speakers"):
            facts.append(f"{r['speakers']} speakers"
                         + (" **(mostly one speaker)**" if r.get("flagged_single_speaker") else ""))
        lines += [f"- {f}" for f in facts]
        try:
            qs = json.loads(r.get("quotes") or "[]")
        except (TypeError, ValueError):
            qs = []
        lines += [""] + [f"> {q}" for q in qs[:quotes]] + [""]
    return "\n".join(lines)
