"""Plotly figures of a sample's analysed images, as HTML fragments for the sample page.

The page loads plotly.js once from NanoMark itself (no CDN), so fragments are made
with ``include_plotlyjs=False``.
"""

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from analysis.defects import DEFECT_LABELS, LINE_CLASSES
from nanomark.plots import figure_html

#: Width of the order-score histogram's bins (scores lie in 0..1).
SCORE_BIN_WIDTH = 0.05


def order_score_histogram(scores: Sequence[float]) -> str:
    """Histogram of the images' current order scores S in 0..1, in bins of 0.05.

    Args:
        scores: one current order score per analysed image.
    """
    figure = go.Figure(
        go.Histogram(
            x=list(scores),
            xbins={"start": 0.0, "end": 1.0, "size": SCORE_BIN_WIDTH},
            marker={"color": "#2e86de"},
        )
    )
    figure.update_layout(
        xaxis={"title": "order score S (current analysis)", "range": [0, 1]},
        yaxis_title="images",
        bargap=0.05,
        margin={"l": 50, "r": 10, "t": 10, "b": 40},
        height=320,
    )
    return figure_html(figure)


def skeleton_length_figure(lengths_nm: Mapping[str, Sequence[float]]) -> str:
    """Box plot, with every image as a point, of the defect skeleton length per line class.

    Args:
        lengths_nm: defect class name (one of :data:`LINE_CLASSES`) -> skeleton length
            in nm of each analysed image; classes without values are left out.
    """
    figure = go.Figure()
    for name in LINE_CLASSES:
        values = list(lengths_nm.get(name, ()))
        if values:
            figure.add_box(y=values, name=DEFECT_LABELS[name], boxpoints="all", jitter=0.3)
    figure.update_layout(
        yaxis_title="skeleton length per image (nm)",
        showlegend=False,
        margin={"l": 60, "r": 10, "t": 10, "b": 40},
        height=320,
    )
    return figure_html(figure)
