"""Property-versus-feature correlation over a lab's samples (Pearson r, pairwise complete).

The per-sample values are the sample export table's
(:func:`nanomark.exports.rows.sample_table`): its ``prop:`` columns (each
property's latest measurement) are the *properties*, and its means over the
current analyses of the sample's images (order score, particle statistics,
per-class defect statistics) are the *features*. A coefficient uses the
samples that have both values; fewer than :data:`MIN_PAIRS` give NaN.
"""

import math
from dataclasses import dataclass

import numpy as np

from nanomark.accounts.models import Lab
from nanomark.exports.rows import AGGREGATE_COLUMNS, ExportFilter, sample_table

#: Fewest samples with both values for a coefficient (two points always give r = ±1).
MIN_PAIRS = 3
#: Prefix of the sample table's property columns.
PROPERTY_PREFIX = "prop:"
#: Feature columns of the sample table: per-sample means of the current analyses.
FEATURE_COLUMNS = tuple(
    column.name for column in AGGREGATE_COLUMNS if column.name.endswith("_mean")
)


def pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Pearson's r of the pairs where both values are finite.

    Args:
        x: (S,) float, NaN where missing.
        y: (S,) float, NaN where missing.

    Returns:
        (r in -1..1, n pairs used); r is NaN when n < :data:`MIN_PAIRS` or
        either variable is constant over those pairs.

    Example:
        >>> pearson(np.array([1.0, 2.0, 3.0, np.nan]), np.array([2.0, 4.0, 6.5, 1.0]))[1]
        3
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"expected two (S,) arrays of the same length, got {x.shape}, {y.shape}")
    both = np.isfinite(x) & np.isfinite(y)
    n = int(both.sum())
    if n < MIN_PAIRS:
        return math.nan, n
    dx, dy = x[both] - x[both].mean(), y[both] - y[both].mean()
    norm = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if norm == 0:
        return math.nan, n
    return float(np.clip(dx @ dy / norm, -1.0, 1.0)), n


def correlation_matrix(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-complete Pearson r between the columns of ``values``.

    Args:
        values: (S, V) float, one row per sample, NaN where missing.

    Returns:
        (V, V) float64 r (symmetric; NaN as in :func:`pearson`) and (V, V) int64
        number of samples with both values (the diagonal counts each column's values).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected an (S, V) array, got shape {values.shape}")
    count = values.shape[1]
    r = np.full((count, count), math.nan)
    n = np.zeros((count, count), dtype=np.int64)
    for i in range(count):
        for j in range(i, count):
            r[i, j], n[i, j] = pearson(values[:, i], values[:, j])
            r[j, i], n[j, i] = r[i, j], n[i, j]
    return r, n


# Name parts of feature columns written as a reader expects them.
_READABLE = (("clark_evans_r", "Clark–Evans R"), ("_per_um2", " [µm⁻²]"), ("_nm", " [nm]"))


def label(column: str) -> str:
    """A readable name of a sample-table column: "BET area [m2/g]", "order score (mean)"."""
    if column.startswith(PROPERTY_PREFIX):
        return column.removeprefix(PROPERTY_PREFIX)
    name = column.removesuffix("_mean")
    for part, readable in _READABLE:
        name = name.replace(part, readable)
    return name.replace("_", " ") + " (mean)"


@dataclass(frozen=True)
class SampleValues:
    """The properties and features of a lab's samples, one row per sample.

    Attributes:
        sample_ids: (S,) primary keys, ascending.
        sample_codes: (S,) codes.
        properties: property column names (``prop:<name> [<unit>]``).
        features: feature column names with at least one value, in :data:`FEATURE_COLUMNS` order.
        values: (S, len(properties) + len(features)) float64, properties first, NaN missing.
    """

    sample_ids: list[int]
    sample_codes: list[str]
    properties: list[str]
    features: list[str]
    values: np.ndarray

    @property
    def columns(self) -> list[str]:
        """Column names of ``values``: the properties, then the features."""
        return [*self.properties, *self.features]

    def property_values(self, name: str) -> np.ndarray:
        """(S,) float64 values of property column ``name`` (NaN missing).

        Raises:
            ValueError: not a property of these samples (the message lists them).
        """
        return self._values(name, self.properties, "property")

    def feature_values(self, name: str) -> np.ndarray:
        """(S,) float64 values of feature column ``name`` (NaN missing).

        Raises:
            ValueError: not a feature with values (the message lists them).
        """
        return self._values(name, self.features, "feature")

    def _values(self, name: str, names: list[str], kind: str) -> np.ndarray:
        if name not in names:
            known = ", ".join(label(known) for known in names) or "none"
            raise ValueError(f"unknown {kind} {name!r}; these samples have: {known}")
        return self.values[:, self.columns.index(name)]


def sample_values(user, lab: Lab) -> SampleValues:
    """Properties and features of ``lab``'s samples, as ``user`` may see them.

    Reads the sample export table of the lab (a constant number of queries).
    """
    table = sample_table(user, ExportFilter(lab=lab.slug))
    names = [column.name for column in table.columns]
    properties = [name for name in names if name.startswith(PROPERTY_PREFIX)]
    wanted = [names.index(name) for name in (*properties, *FEATURE_COLUMNS)]
    id_index, code_index = names.index("sample_id"), names.index("sample_code")
    ids, codes, rows = [], [], []
    for row in table.rows:
        ids.append(row[id_index])
        codes.append(row[code_index])
        rows.append([math.nan if row[i] is None else float(row[i]) for i in wanted])
    values = np.array(rows, dtype=np.float64).reshape(len(rows), len(wanted))
    present = np.isfinite(values).any(axis=0)
    present[: len(properties)] = True
    features = [name for k, name in enumerate(FEATURE_COLUMNS) if present[len(properties) + k]]
    return SampleValues(ids, codes, properties, features, values[:, present])
