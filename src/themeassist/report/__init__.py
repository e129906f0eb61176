"""Figures and the HTML report.

One module per stage builds that stage's figures as matplotlib ``Figure`` objects (no I/O);
the CLI saves them through :meth:`themeassist.io.OutputDir.figure` as PNG and SVG.
"""
