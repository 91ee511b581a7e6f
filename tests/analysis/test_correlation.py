"""Pearson r and the pairwise-complete correlation matrix against numpy's corrcoef."""

import math

import numpy as np
import pytest

from analysis.correlation import MIN_PAIRS, correlation_matrix, pearson


def _table(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=40)
    return np.column_stack([x, 2 * x + rng.normal(size=40), rng.normal(size=40), -x])


def test_on_complete_data_it_equals_corrcoef():
    values = _table()
    r, n = correlation_matrix(values)
    assert r == pytest.approx(np.corrcoef(values.T), abs=1e-12)
    assert (n == 40).all()
    assert pearson(values[:, 0], values[:, 3]) == pytest.approx((-1.0, 40))


def test_with_missing_values_each_pair_uses_the_rows_it_has():
    values = _table(1)
    values[[0, 5, 9], 1] = np.nan
    values[[5, 6], 2] = np.nan
    values[11, 0] = np.inf  # not finite: as missing
    r, n = correlation_matrix(values)
    for i in range(4):
        for j in range(4):
            both = np.isfinite(values[:, i]) & np.isfinite(values[:, j])
            assert n[i, j] == both.sum()
            expected = np.corrcoef(values[both][:, [i, j]].T)[0, 1]
            assert r[i, j] == pytest.approx(expected, abs=1e-12)
    assert n[1, 2] == 40 - 4
    assert (r == r.T).all()


def test_too_few_pairs_or_a_constant_give_nan():
    x = np.array([1.0, 2.0, 3.0, np.nan, np.nan])
    y = np.array([2.0, 1.0, np.nan, 4.0, 5.0])
    r, n = pearson(x, y)
    assert (math.isnan(r), n) == (True, 2)
    assert n < MIN_PAIRS
    r, n = pearson(np.full(4, 7.0), np.arange(4.0))
    assert (math.isnan(r), n) == (True, 4)
    matrix, counts = correlation_matrix(np.column_stack([np.full(4, 7.0), np.arange(4.0)]))
    assert math.isnan(matrix[0, 0])
    assert math.isnan(matrix[0, 1])
    assert matrix[1, 1] == 1.0
    assert counts.tolist() == [[4, 4], [4, 4]]


def test_it_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same length"):
        pearson(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="same length"):
        pearson(np.zeros((3, 1)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"\(S, V\)"):
        correlation_matrix(np.zeros(3))
