"""The correlation page: a property against a feature over the current lab's samples.

A scatter of the chosen pair with Pearson's r and n, the correlation matrix
of every property and feature with enough values, and the per-sample table.
The numbers come from :mod:`nanomark.exports.correlation`; an unknown choice
is a message on the page (400), never an error page.
"""

import math

import numpy as np
import plotly.graph_objects as go
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from nanomark.accounts.labcontext import current_lab
from nanomark.exports.correlation import (
    MIN_PAIRS,
    SampleValues,
    correlation_matrix,
    label,
    pearson,
    sample_values,
)
from nanomark.plots import figure_html

#: The feature shown first: the paper's degree of order.
DEFAULT_FEATURE = "order_score_mean"
#: Features always shown in the per-sample table (with the chosen one).
TABLE_FEATURES = (DEFAULT_FEATURE, "particle_density_per_um2_mean", "particle_clark_evans_r_mean")
#: Samples per page of the per-sample table.
TABLE_PAGE_SIZE = 50
#: Largest matrix whose cells are annotated with their r (larger ones show it on hover).
ANNOTATED_MATRIX_SIZE = 12


def _scatter(data: SampleValues, x: np.ndarray, y: np.ndarray, feature: str, prop: str) -> str:
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


def _heatmap(names: list[str], r: np.ndarray, n: np.ndarray) -> str:
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


def _matrix(data: SampleValues) -> str:
    """The heatmap of every column with at least MIN_PAIRS values ('' if fewer than 2)."""
    keep = np.isfinite(data.values).sum(axis=0) >= MIN_PAIRS
    names = [name for name, kept in zip(data.columns, keep, strict=True) if kept]
    if len(names) < 2:
        return ""
    r, n = correlation_matrix(data.values[:, keep])
    return _heatmap(names, r, n)


def _table(request: HttpRequest, data: SampleValues, feature: str) -> dict:
    features = [name for name in TABLE_FEATURES if name in data.features]
    if feature in data.features and feature not in features:
        features.append(feature)
    columns = [*data.properties, *features]
    indexes = [data.columns.index(name) for name in columns]
    page = Paginator(range(len(data.sample_ids)), TABLE_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        (
            data.sample_ids[i],
            data.sample_codes[i],
            [None if math.isnan(v) else v for v in data.values[i, indexes]],
        )
        for i in page.object_list
    ]
    return {"table_columns": [label(name) for name in columns], "table_rows": rows, "page": page}


@login_required
@require_GET
def correlation(request: HttpRequest) -> HttpResponse:
    """Scatter of ``?property=`` against ``?feature=`` (sample-table column names), the matrix,
    and the per-sample table (``?page=``) of the current lab."""
    lab = current_lab(request)
    if lab is None:
        return render(request, "exports/correlation.html", {"lab": None})
    data = sample_values(request.user, lab)
    default_feature = DEFAULT_FEATURE if DEFAULT_FEATURE in data.features else ""
    prop = request.GET.get("property") or (data.properties[0] if data.properties else "")
    feature = request.GET.get("feature") or default_feature or next(iter(data.features), "")
    context = {
        "lab": lab,
        "data": data,
        "property_choices": [(name, label(name)) for name in data.properties],
        "feature_choices": [(name, label(name)) for name in data.features],
        "chosen_property": prop,
        "chosen_feature": feature,
        "min_pairs": MIN_PAIRS,
        "matrix_plot": _matrix(data),
        **_table(request, data, feature),
    }
    status = 200
    if prop and feature:
        try:
            x, y = data.feature_values(feature), data.property_values(prop)
        except ValueError as error:
            context["error"] = str(error)
            status = 400
        else:
            r, n = pearson(x, y)
            context.update(
                r=None if math.isnan(r) else r,
                n=n,
                pair_label=f"{label(prop)} vs {label(feature)}",
                scatter_plot=_scatter(data, x, y, feature, prop),
            )
    return render(request, "exports/correlation.html", context, status=status)
