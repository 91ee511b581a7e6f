"""Plotly figures of the correlation page, as HTML fragments (plotly.js is loaded once)."""

import numpy as np
import plotly.graph_objects as go

from nanomark.exports.correlation import SampleValues, label
from nanomark.plots import figure_html

#: Largest matrix whose cells are annotated with their r (larger ones show it on hover).
ANNOTATED_MATRIX_SIZE = 12


def property_scatter(
    data: SampleValues, x: np.ndarray, y: np.ndarray, feature: str, prop: str
) -> str:
    """Scatter of a property (y) against a feature (x), one point per sample with both.

    Args:
        data: the lab's sample values (for the sample codes shown on hover).
        x, y: (S,) float64 values of ``feature`` and ``prop`` per sample, NaN where missing.
        feature, prop: column names, labelled on the axes.
    """
    both = np.isfinite(x) & np.isfinite(y)
    codes = [code for code, keep in zip(data.sample_codes, both, strict=True) if keep]
    figure = go.Figure(
        go.Scatter(
            x=x[both],
            y=y[both],
            mode="markers",
            text=codes,
            hovertemplate="%{text}<br>%{x:.4g}, %{y:.4g}<extra></extra>",
            marker={"color": "#2e86de", "size": 9},
        )
    )
    figure.update_layout(
        xaxis_title=label(feature),
        yaxis_title=label(prop),
        margin={"l": 60, "r": 10, "t": 10, "b": 50},
        height=420,
    )
    return figure_html(figure)


def correlation_heatmap(names: list[str], r: np.ndarray, n: np.ndarray) -> str:
    """The correlation matrix as a heatmap, r in −1..1 (cells annotated up to 12 columns).

    Args:
        names: the V column names, labelled on both axes.
        r: (V, V) float64 Pearson r, NaN where undefined.
        n: (V, V) int64 pairs behind each r.
    """
    labels = [label(name) for name in names]
    heatmap = go.Heatmap(
        z=np.where(np.isfinite(r), r, None),
        x=labels,
        y=labels,
        customdata=n,
        zmin=-1,
        zmax=1,
        colorscale="RdBu",
        reversescale=True,
        colorbar={"title": "r"},
        hovertemplate="%{y}<br>vs %{x}<br>r = %{z:.2f}, n = %{customdata}<extra></extra>",
    )
    if len(names) <= ANNOTATED_MATRIX_SIZE:
        heatmap.update(texttemplate="%{z:.2f}<br>n=%{customdata}", textfont={"size": 10})
    figure = go.Figure(heatmap)
    side = max(420, 40 * len(names) + 200)
    figure.update_layout(
        yaxis={"autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=side,
    )
    return figure_html(figure)
