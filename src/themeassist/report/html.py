"""The HTML report: one self-contained file (inline CSS and images, no script from any host).

:func:`render_report` is pure: it takes a :class:`Report` (sections of headings, paragraphs,
tables and figures already rendered to bytes) and returns the HTML text. The project runner
(:mod:`themeassist.pipeline`) gathers the sections from a run's outputs.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

import pandas as pd

CSS = """
:root { --ink:#1d2430; --muted:#5b6573; --rule:#d9dee5; --accent:#0072B2; --warn:#D55E00;
        --ok:#009E73; --bg:#ffffff; --panel:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: var(--bg); margin: 0; }
header.top { background: #102a43; color: #fff; padding: 28px 40px 22px; }
header.top h1 { margin: 0 0 6px; font-size: 26px; }
header.top p { margin: 0; color: #c8d3df; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--rule);
      padding: 8px 40px; z-index: 2; font-size: 14px; }
nav a { color: var(--accent); margin-right: 16px; text-decoration: none; }
main { padding: 10px 40px 60px; max-width: 1200px; }
section { border-bottom: 1px solid var(--rule); padding: 18px 0 26px; }
h2 { font-size: 21px; margin: 10px 0 10px; }
h3 { font-size: 17px; margin: 20px 0 8px; }
p.note { color: var(--muted); font-size: 14px; }
p.skipped { color: var(--warn); font-style: italic; }
p.verdict { font-size: 17px; font-weight: 600; background: var(--panel); padding: 10px 14px;
            border-left: 4px solid var(--accent); }
div.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 12px; }
div.card { background: var(--panel); border: 1px solid var(--rule); border-radius: 6px;
           padding: 10px 16px; min-width: 140px; }
div.card .v { font-size: 24px; font-weight: 700; }
div.card .k { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13.5px; }
th, td { border-bottom: 1px solid var(--rule); padding: 4px 10px; text-align: left;
         vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
div.scroll { max-height: 480px; overflow: auto; border: 1px solid var(--rule); margin: 8px 0; }
div.scroll table { margin: 0; }
figure { margin: 10px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
div.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr));
           gap: 14px; }
blockquote { margin: 6px 0; padding: 4px 12px; border-left: 3px solid var(--rule);
             color: #333; }
pre.methods { white-space: pre-wrap; background: var(--panel); padding: 12px 16px;
              border: 1px solid var(--rule); font: 14px/1.5 Georgia, serif; }
footer { color: var(--muted); font-size: 13px; padding: 20px 40px; }
"""


@dataclass
class Block:
    """One piece of a section: ``kind`` is heading, text, note, verdict, table, figure,
    cards, quotes, pre or html (trusted markup built by this module only)."""

    kind: str
    content: object
    caption: str = ""


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    skipped: str | None = None  # why the section is empty

    def add(self, kind: str, content: object, caption: str = "") -> Section:
        self.blocks.append(Block(kind, content, caption))
        return self


@dataclass
class Report:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    footer: str = ""


def _table(df: pd.DataFrame, max_rows: int = 200, floatfmt: str = "{:.3f}") -> str:
    shown = df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for row in shown.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append("<td class=num>" + ("" if pd.isna(v) else floatfmt.format(v)) + "</td>")
            elif isinstance(v, (int,)) and not isinstance(v, bool):
                cells.append(f"<td class=num>{v}</td>")
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (f"<p class=note>{len(df) - max_rows} more rows in the CSV file.</p>"
            if len(df) > max_rows else "")
    body = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    if len(shown) > 15:
        body = f"<div class=scroll>{body}</div>"
    return body + more


def _figure(data: bytes | str, caption: str) -> str:
    if isinstance(data, str):  # inline SVG markup
        img = data
    else:
        b64 = base64.b64encode(data).decode("ascii")
        img = f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f"<figure>{img}{cap}</figure>"


def _block(b: Block) -> str:
    k, c = b.kind, b.content
    if k == "heading":
        return f"<h3>{html.escape(str(c))}</h3>"
    if k == "text":
        return f"<p>{html.escape(str(c))}</p>"
    if k == "note":
        return f"<p class=note>{html.escape(str(c))}</p>"
    if k == "verdict":
        return f"<p class=verdict>{html.escape(str(c))}</p>"
    if k == "table":
        cap = f"<p class=note>{html.escape(b.caption)}</p>" if b.caption else ""
        return cap + _table(c)  # type: ignore[arg-type]
    if k == "figure":
        return _figure(c, b.caption)  # type: ignore[arg-type]
    if k == "figures":
        return "<div class=figs>" + "".join(_figure(d, cap) for d, cap in c) + "</div>"  # type: ignore[union-attr]
    if k == "cards":
        return "<div class=cards>" + "".join(
            f"<div class=card><div class=v>{html.escape(str(v))}</div>"
            f"<div class=k>{html.escape(str(key))}</div></div>" for key, v in c.items()) + "</div>"  # type: ignore[union-attr]
    if k == "quotes":
        return "".join(f"<blockquote>{html.escape(str(q))}</blockquote>" for q in c)  # type: ignore[union-attr]
    if k == "pre":
        return f"<pre class=methods>{html.escape(str(c))}</pre>"
    if k == "html":
        return str(c)
    raise ValueError(f"unknown block kind {k!r}")


def render_report(report: Report) -> str:
    """Render a :class:`Report` to one self-contained HTML page.

    Examples
    --------
    >>> r = Report("Demo", sections=[Section("a", "At a glance").add("text", "Hello <b>")])
    >>> page = render_report(r)
    >>> "Hello &lt;b&gt;" in page and "http" not in page.split("<body>")[1]
    True
    """
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in report.sections)
    parts = []
    for s in report.sections:
        inner = (f"<p class=skipped>Not run: {html.escape(s.skipped)}</p>" if s.skipped
                 else "".join(_block(b) for b in s.blocks))
        parts.append(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>{inner}</section>')
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        # No request may leave the page: forbid every remote source.
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{html.escape(report.title)}</title><style>{CSS}</style></head><body>"
        f"<header class=top><h1>{html.escape(report.title)}</h1>"
        f"<p>{html.escape(report.subtitle)}</p></header><nav>{nav}</nav>"
        f"<main>{''.join(parts)}</main>"
        f"<footer>{html.escape(report.footer)}</footer></body></html>\n"
    )
