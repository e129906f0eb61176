"""The review loop: a local browser app in which a researcher codes segments and reviews the
machine's labels most doubtful first, while the model retrains on their decisions.

- :mod:`~themeassist.review.journal`: the decisions, stored in SQLite (pure storage);
- :mod:`~themeassist.review.engine`: the in-loop model (pure: tables and arrays in, out);
- :mod:`~themeassist.review.session`: one coder's session (journal + model + retraining);
- :mod:`~themeassist.review.app`: the web app (Starlette, Jinja2 templates, one small script)
  and its security (token, cookie, CSRF, CSP);
- ``themeassist review`` (:mod:`themeassist.cli.review`) starts it on 127.0.0.1.
"""
