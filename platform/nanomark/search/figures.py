"""Plotly figures of the search app: the embedding map, as an HTML fragment for its page."""

import numpy as np
import plotly.graph_objects as go

from nanomark.imaging.choices import OrderClass
from nanomark.plots import figure_html
from nanomark.search.embeddingmap import UNLABELLED, EmbeddingMap

#: Map colours of the order classes (Okabe–Ito).
ORDER_COLOURS = {
    OrderClass.ORDERED.value: "#0072b2",
    OrderClass.DISORDERED.value: "#d55e00",
    UNLABELLED: "#999999",
}
#: What the map's points may be coloured by, with their legend titles.
MAP_COLOURINGS = {"order": "order class", "sample": "sample"}


def embedding_map_figure(points: EmbeddingMap, colour_by: str) -> str:
    """Scatter of the embedding map's points on its first two principal axes, as HTML.

    Args:
        points: the map (:func:`nanomark.search.embeddingmap.embedding_map`).
        colour_by: a key of :data:`MAP_COLOURINGS` (``order`` or ``sample``).
    """
    projection = points.projection
    groups = np.array(points.sample_codes if colour_by == "sample" else points.order_classes)
    hover = np.array(
        [
            f"{code} · {name}"
            for code, name in zip(points.sample_codes, points.image_names, strict=True)
        ]
    )
    figure = go.Figure()
    names = ORDER_COLOURS if colour_by == "order" else sorted(set(groups.tolist()))
    for name in names:
        chosen = groups == name
        if not chosen.any():
            continue
        marker = {"size": 4, "opacity": 0.7}
        if colour_by == "order":
            marker["color"] = ORDER_COLOURS[name]
        figure.add_trace(
            go.Scattergl(
                x=projection.coordinates[chosen, 0],
                y=projection.coordinates[chosen, 1],
                mode="markers",
                name=str(name),
                text=hover[chosen],
                hovertemplate="%{text}<extra>%{fullData.name}</extra>",
                marker=marker,
            )
        )
    ratio = projection.explained_variance_ratio
    figure.update_layout(
        xaxis_title=f"PC 1 ({ratio[0]:.1%} of the variance)",
        yaxis_title=f"PC 2 ({ratio[1]:.1%} of the variance)",
        legend_title_text=MAP_COLOURINGS[colour_by],
        margin={"l": 60, "r": 10, "t": 10, "b": 50},
        height=640,
    )
    return figure_html(figure)
