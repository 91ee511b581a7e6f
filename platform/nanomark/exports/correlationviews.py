"""The correlation page: a property against a feature over the current lab's samples.

A scatter of the chosen pair with Pearson's r and n, the correlation matrix
of every property and feature with enough values, and the per-sample table.
The values come from :mod:`nanomark.exports.correlation`, the coefficients
from :mod:`analysis.correlation`; an unknown choice is a message on the page
(400), never an error page.
"""

import math

import numpy as np
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from analysis.correlation import MIN_PAIRS, correlation_matrix, pearson
from nanomark.accounts.labcontext import current_lab
from nanomark.exports.correlation import SampleValues, label, sample_values
from nanomark.exports.figures import correlation_heatmap, property_scatter

#: The feature shown first: the paper's degree of order.
DEFAULT_FEATURE = "order_score_mean"
#: Features always shown in the per-sample table (with the chosen one).
TABLE_FEATURES = (DEFAULT_FEATURE, "particle_density_per_um2_mean", "particle_clark_evans_r_mean")
#: Samples per page of the per-sample table.
TABLE_PAGE_SIZE = 50


def _matrix(data: SampleValues) -> str:
    """The heatmap of every column with at least MIN_PAIRS values ('' if fewer than 2)."""
    keep = np.isfinite(data.values).sum(axis=0) >= MIN_PAIRS
    names = [name for name, kept in zip(data.columns, keep, strict=True) if kept]
    if len(names) < 2:
        return ""
    r, n = correlation_matrix(data.values[:, keep])
    return correlation_heatmap(names, r, n)


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
                scatter_plot=property_scatter(data, x, y, feature, prop),
            )
    return render(request, "exports/correlation.html", context, status=status)
