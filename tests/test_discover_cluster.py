"""The candidate clusterer (issue 17): scikit-learn's contract and the behaviour users rely on."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from themeassist.discover import CLUSTERERS, CandidateClusterer
from themeassist.errors import InputError


def blobs(n_per=25, k=4, d=16, spread=0.08, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(d)[:k]
    x = np.vstack([c + rng.normal(0, spread, (n_per, d)) for c in centres])
    return x, np.repeat(np.arange(k), n_per)


@pytest.fixture(scope="module")
def fitted():
    x, truth = blobs()
    return x, truth, CandidateClusterer(n_candidates=4, runs=3, seed=1).fit(x)


def test_parameters_are_stored_verbatim_and_clone_keeps_them():
    model = CandidateClusterer(6, min_cluster_size=4, n_neighbors=9, n_components=3,
                               algorithm="ward", runs=2, seed=7, min_similarity=0.2,
                               temperature=0.1)
    params = model.get_params()
    assert params == {"n_candidates": 6, "min_cluster_size": 4, "n_neighbors": 9,
                      "n_components": 3, "algorithm": "ward", "runs": 2, "seed": 7,
                      "min_similarity": 0.2, "temperature": 0.1}
    assert clone(model).get_params() == params
    assert model.set_params(runs=4, seed=8) is model
    assert (model.runs, model.seed) == (4, 8)
    # Nothing fitted until fit: the predicting attributes are absent.
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


def test_well_separated_blobs_are_found_and_stable(fitted):
    x, truth, model = fitted
    assert model.fit_predict(x) is not None  # ClusterMixin: fit then labels_
    assert adjusted_rand_score(truth, model.labels_) == 1.0
    assert model.n_candidates_ == 4 and model.stability_.shape == (4,)
    assert model.stability_.min() > 0.95
    assert len(model.ari_between_runs_) == 3 and min(model.ari_between_runs_) > 0.95
    # Numbered by size, largest first; every sample assigned with a probability.
    sizes = np.bincount(model.labels_)
    assert (np.diff(sizes) <= 0).all()
    assert model.probabilities_.shape == (len(x),) and (model.probabilities_ > 0.5).all()
    assert model.map_.shape == (len(x), 2) and np.isfinite(model.map_).all()
    assert model.sizes_ == {"n_candidates": 4, "n_neighbors": 5, "min_cluster_size": 3,
                            "n_components": 5}
    assert model.n_features_in_ == x.shape[1] and len(model.partitions_) == 3


def test_stability_is_lower_on_noise_than_on_blobs(fitted):
    # Structureless points: seeded runs cut them differently, and stability says so.
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(100, 16))
    model = CandidateClusterer(n_candidates=4, runs=3, seed=1).fit(noise)
    assert np.nanmean(model.stability_) < 0.9 < np.nanmean(fitted[2].stability_)
    assert np.mean(model.ari_between_runs_) < 0.9


def test_same_seed_same_labels_and_map_a_different_seed_another_map(fitted):
    x, _, model = fitted
    again = clone(model).fit(x)
    assert np.array_equal(again.labels_, model.labels_)
    assert np.array_equal(again.map_, model.map_)
    assert np.array_equal(again.probabilities_, model.probabilities_)
    other = clone(model).set_params(seed=2).fit(x)
    assert not np.allclose(other.map_, model.map_)  # the seed reaches UMAP


def test_one_run_measures_no_stability():
    x, truth = blobs()
    model = CandidateClusterer(n_candidates=4, runs=1).fit(x)
    assert adjusted_rand_score(truth, model.labels_) == 1.0
    assert np.isnan(model.stability_).all() and model.ari_between_runs_ == []


def test_far_outliers_stay_unassigned():
    # Two tight groups and points orthogonal to both: no centroid is near them.
    x, _ = blobs(n_per=20, k=2, d=12, spread=0.02)
    far = np.zeros((3, 12))
    far[:, 11] = 1.0
    far[:, 10] = [0.01, 0.02, 0.03]
    model = CandidateClusterer(n_candidates=3, min_cluster_size=5, runs=2,
                               min_similarity=0.5).fit(np.vstack([x, far]))
    assert (model.labels_[-3:] == -1).all() and (model.probabilities_[-3:] == 0).all()
    assert (model.consensus_labels_[-3:] == -1).all()


@pytest.mark.parametrize("algorithm", sorted(CLUSTERERS))
def test_every_algorithm_finds_the_blobs(algorithm):
    x, truth = blobs(n_per=30)
    model = CandidateClusterer(n_candidates=4, runs=2, algorithm=algorithm).fit(x)
    assert adjusted_rand_score(truth, model.labels_) > 0.9


@pytest.mark.parametrize(("params", "error", "match"), [
    ({"algorithm": "dbscan"}, InputError, "unknown clustering algorithm"),
    ({"runs": 0}, ValueError, "runs must be an int >= 1"),
    ({"n_components": 0}, ValueError, "n_components must be an int >= 1"),
    ({"temperature": 0.0}, ValueError, "temperature must be > 0"),
])
def test_bad_parameters_are_refused_at_fit(params, error, match):
    model = CandidateClusterer(**params)  # __init__ stores, fit validates
    with pytest.raises(error, match=match):
        model.fit(blobs()[0])


def test_too_few_samples_and_bad_values_are_refused():
    with pytest.raises(ValueError, match="minimum of 3 is required"):
        CandidateClusterer().fit(np.ones((2, 4)))
    x = blobs()[0]
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CandidateClusterer().fit(x)


@parametrize_with_checks([CandidateClusterer(runs=2)])
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)
