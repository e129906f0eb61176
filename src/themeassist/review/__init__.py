"""The review loop: a researcher codes and corrects pre-labels while the model learns.

- :mod:`themeassist.review.engine`: the in-loop model, the review queue, suggestions and
  the expected agreement of the whole coding (a pure core, no I/O);
- :mod:`themeassist.review.journal`: the decisions, stored in SQLite (pure storage);
- :mod:`themeassist.review.session`: one coder's session (journal, model, retraining,
  exports);
- :mod:`themeassist.review.app`: the local web app (Starlette, Jinja2 templates, one small
  script) and its security (token, cookie, CSRF, Origin, CSP);
- :mod:`themeassist.review.launch`: reading a project's inputs and serving the app;
  ``themeassist review`` (:mod:`themeassist.cli.review`) starts it on 127.0.0.1.
"""
