"""The parameters of :class:`~themeassist.classify.CodebookLabeller`, without scikit-learn.

The train settings of a project (:class:`themeassist.config.TrainSettings`) are derived
from these parameters, and every command reads the project file before it knows whether
any stage will run: a no-change re-run enters none (issue 17). Declaring the parameters
here, in a module that imports nothing heavy, lets the settings be defined by the
estimator without importing scikit-learn and SciPy (about 1.4 s) on every run.
:class:`CodebookLabeller` inherits this ``__init__``, so ``get_params`` and
``set_params`` see exactly these names; its class docstring documents them.
"""

from __future__ import annotations

from typing import Literal

#: Values of the ``calibration`` parameter.
CALIBRATIONS = ("code-set", "weighted")
#: Values of the ``scope`` parameter.
SCOPES = ("auto", "codebook", "learnt", "none")

Scope = Literal["auto", "codebook", "learnt", "none"]
Calibration = Literal["code-set", "weighted"]


class LabellerParameters:
    """``__init__`` of :class:`~themeassist.classify.CodebookLabeller` (see its docstring)."""

    def __init__(self, *, name: str = "classify", context: bool = True,
                 categorical: tuple[str, ...] = ("question", "role"),
                 optional_categorical: tuple[str, ...] = ("prompt", "kind"),
                 C: float = 4.0, codable_C: float = 1.0, class_weight: str | None = None,
                 neighbour_weight: float = 0.5, prior_weight: float = 1.0,
                 prior_strength: float = 50.0, prior_pull_grid: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
                 folds: int = 5, backoff: float = 0.0,
                 min_support: int = 2, second_code: float = 0.35, target_kappa: float = 0.8,
                 min_codings: int = 50, zero_shot_scale: float = 20.0,
                 smoothing_grid: tuple[float, ...] = (0.0,),
                 zero_shot_codable_rate: float | None = None, scope: Scope = "auto",
                 scope_weight_grid: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 8.0),
                 max_iter: int = 2000, ngram_C: float = 4.0, ngram_codable_C: float = 16.0,
                 ngram_weight: float = 1.0,
                 ngram_weight_grid: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0),
                 ngram_range: tuple[int, int] = (1, 2), ngram_min_df: int = 2,
                 calibration: Calibration = "code-set", seed: int = 0):
        # scikit-learn's contract: store the parameters verbatim, validate them in fit
        self.name = name
        self.context = context
        self.categorical = categorical
        self.optional_categorical = optional_categorical
        self.C = C
        self.codable_C = codable_C
        self.class_weight = class_weight
        self.neighbour_weight = neighbour_weight
        self.prior_weight = prior_weight
        self.prior_strength = prior_strength
        self.prior_pull_grid = prior_pull_grid
        self.folds = folds
        self.backoff = backoff
        self.min_support = min_support
        self.second_code = second_code
        self.target_kappa = target_kappa
        self.min_codings = min_codings
        self.zero_shot_scale = zero_shot_scale
        self.smoothing_grid = smoothing_grid
        self.zero_shot_codable_rate = zero_shot_codable_rate
        self.scope = scope
        self.scope_weight_grid = scope_weight_grid
        self.max_iter = max_iter
        self.ngram_C = ngram_C
        self.ngram_codable_C = ngram_codable_C
        self.ngram_weight = ngram_weight
        self.ngram_weight_grid = ngram_weight_grid
        self.ngram_range = ngram_range
        self.ngram_min_df = ngram_min_df
        self.calibration = calibration
        self.seed = seed
