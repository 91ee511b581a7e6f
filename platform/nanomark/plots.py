"""Plotly figures as HTML fragments for templates, the same way on every page.

Pages load plotly.js once from NanoMark itself (``{% url 'plotly-js' %}``; no
CDN: lab servers are often offline), so fragments leave it out.
"""

import plotly.graph_objects as go


def figure_html(figure: go.Figure) -> str:
    """``figure`` as a responsive HTML fragment without plotly.js."""
    return figure.to_html(full_html=False, include_plotlyjs=False, config={"responsive": True})
