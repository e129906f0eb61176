"""scikit-learn's multinomial L-BFGS logistic regression, solved in the row space of ``X``.

A labeller's code classifiers have many more weights than examples: 185 codes x 1,163
features against 240-330 rows (the coded segments plus one pseudo-example per code) on the
demo, and their n-gram scorers 185 codes x ~1,000 n-grams. L-BFGS spends its time on
vectors of all the weights, so :func:`fit_multinomial` solves the same problem with the
weights written in an orthonormal basis of the rows' span, ``W = B Q^T``, which is exact:

* the L2-penalised loss depends on ``W`` only through ``X W^T`` and ``||W||^2``, and its
  gradient in ``W`` is a combination of the rows of ``X`` plus ``W`` itself, so from
  ``W = 0`` every L-BFGS iterate stays in the row space [1]_;
* ``Q`` has orthonormal columns, so for weights in the row space the inner products and
  norms L-BFGS computes (steps, curvature pairs, directional derivatives) are the same in
  ``B`` as in ``W``: the iterates are the same, up to floating-point rounding;
* the one thing that is not rotation-invariant is the stopping test of L-BFGS-B, the
  largest absolute component of the gradient (``gtol = tol``). It is therefore switched off
  inside the solver and made in the original coordinates by the callback, at the same
  point of each iteration, so the fit stops at the same iterate as
  :class:`sklearn.linear_model.LogisticRegression` would.

On the demo's train stage this makes a code classifier fit ~2.5x cheaper, coefficients
equal to scikit-learn's to ~1e-13 (``scripts/bench_train.py`` measures the time).

References
----------
.. [1] Schoelkopf, Herbrich & Smola (2001). A generalized representer theorem. COLT 2001,
   LNCS 2111:416-426. doi:10.1007/3-540-44581-1_27
"""

from __future__ import annotations

import numpy as np


def row_space_pays(X, n_classes: int, iterations: int = 10) -> bool:
    """Whether :func:`fit_multinomial` is expected to be faster than the plain fit.

    A rough operation count: the QR factorisation (``4 d n^2``) against what each L-BFGS
    iteration saves, the two products with ``X`` (``4 nnz k``, ``nnz = n d`` when dense)
    and the passes over the weight history (``20 k d``), which become ``4 n^2 k`` and
    ``20 k n``. It holds for the demo's code classifiers (dense, 185 codes, ~300 rows x
    1,163 features); not for sparse n-gram matrices, whose products are cheap already,
    nor for more rows than features (the usability study).
    """
    import scipy.sparse as sp

    n, d = X.shape
    if n >= d:
        return False
    nnz = X.nnz if sp.issparse(X) else n * d
    k = int(n_classes)
    plain = 4 * nnz * k + 20 * k * d
    reduced = 4 * n * n * k + 20 * k * n
    return 4 * d * n * n + iterations * reduced < iterations * plain


def fit_multinomial(X, y, sample_weight=None, *, C: float = 1.0, max_iter: int = 2000,
                    tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``LogisticRegression(C=C, max_iter=max_iter, tol=tol).fit(X, y, sample_weight)``,
    for three or more classes, with no class weights: the same solution, found faster when
    there are fewer rows than features.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n, d)
    y : ndarray of shape (n,)
        At least three distinct values.
    sample_weight : ndarray of shape (n,), optional
    C, max_iter, tol
        As in :class:`~sklearn.linear_model.LogisticRegression` (solver ``lbfgs``).

    Returns
    -------
    classes : ndarray of shape (k,)
    coef : ndarray of shape (k, d)
    intercept : ndarray of shape (k,)
    n_iter : int
        L-BFGS iterations, as scikit-learn counts them.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(30, 80)), np.arange(30) % 5
    >>> classes, coef, intercept, n_iter = fit_multinomial(X, y, C=4.0)
    >>> lr = LogisticRegression(C=4.0, max_iter=2000).fit(X, y)
    >>> bool(np.abs(coef - lr.coef_).max() < 1e-8), n_iter == int(lr.n_iter_[0])
    (True, True)
    """
    import scipy.sparse as sp
    from scipy import optimize
    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    classes, y_idx = np.unique(np.asarray(y), return_inverse=True)
    k = len(classes)
    if k < 3:
        raise ValueError(f"fit_multinomial needs three or more classes, got {k}")
    n, d = X.shape
    if sample_weight is None:
        sw, sw_sum = None, float(n)
    else:
        sw = np.asarray(sample_weight, dtype=np.float64).copy()
        sw_sum = float(sw.sum())
    # The row-space basis: Q (d, r) with orthonormal columns spanning the rows of X.
    if n < d:
        Xt = X.T.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64).T
        Q, R = np.linalg.qr(Xt, mode="reduced")
        Z = np.ascontiguousarray(R.T)     # X Q, since X = R^T Q^T
    else:
        Q, Z = None, X
    r = Z.shape[1]
    loss = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=k), fit_intercept=True)
    target = y_idx.astype(np.float64)
    l2 = 1.0 / (float(C) * sw_sum)
    last: dict[str, np.ndarray] = {}

    def fun(w):
        f, g = loss.loss_gradient(w, Z, target, sw, l2, 1)
        last["x"], last["g"] = w.copy(), g
        return f, g

    def converged(intermediate_result) -> None:
        # scikit-learn's (L-BFGS-B's) test, max |gradient| <= tol, on the gradient in W.
        w = intermediate_result.x
        g = last["g"] if np.array_equal(last.get("x"), w) else fun(w)[1]
        G = g.reshape((k, r + 1), order="F")
        gmax = float(np.abs(G[:, -1]).max())
        if gmax <= tol:
            gw = G[:, :-1] if Q is None else G[:, :-1] @ Q.T
            gmax = max(gmax, float(np.abs(gw).max()))
            if gmax <= tol:
                raise StopIteration

    w0 = np.zeros((k, r + 1), order="F").ravel(order="F")
    res = optimize.minimize(fun, w0, method="L-BFGS-B", jac=True, callback=converged,
                            options={"maxiter": max_iter, "maxls": 50, "gtol": 0.0,
                                     "ftol": 64 * np.finfo(float).eps})
    W = np.reshape(res.x, (k, r + 1), order="F")
    coef = W[:, :-1] if Q is None else W[:, :-1] @ Q.T
    return classes, np.ascontiguousarray(coef), W[:, -1].copy(), int(min(res.nit, max_iter))
