"""The review loop: a researcher codes and corrects pre-labels while the model learns.

- :mod:`themeassist.review.engine`: the in-loop model, the review queue, suggestions and
  the expected agreement of the whole coding (a pure core, no I/O);
- the local web app and its decision journal live beside it.
"""
