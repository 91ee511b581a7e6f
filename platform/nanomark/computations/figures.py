"""Plotly figures of computational records, returned as HTML fragments for templates.

The page loads plotly.js once from NanoMark itself (no CDN: lab servers are
often offline), so fragments are made with ``include_plotlyjs=False``.
"""

import numpy as np
import plotly.graph_objects as go

from nanomark.computations.models import MonteCarloRun, XtbCalculation
from nanomark.plots import figure_html
from simulation.adsorption import HARTREE_TO_KCAL_MOL

_STATE_NAMES = ("in solution", "on pristine surface", "on defects")
_STATE_COLOURS = ("#7f8c8d", "#2e86de", "#e67e22")


def kinetics_figure(run: MonteCarloRun) -> str:
    """Particles in solution, on pristine surface and on defects per step, with the fit."""
    counts = np.asarray(run.kinetics["counts"])
    steps = np.arange(counts.shape[0])
    figure = go.Figure()
    for column, (name, colour) in enumerate(zip(_STATE_NAMES, _STATE_COLOURS, strict=True)):
        figure.add_scatter(x=steps, y=counts[:, column], name=name, line={"color": colour})
    fit = run.kinetics.get("fit")
    if fit:
        model = fit["n_inf"] + (fit["n0"] - fit["n_inf"]) * np.exp(-fit["rate_per_step"] * steps)
        figure.add_scatter(
            x=steps,
            y=model,
            name=(
                f"first-order fit, k = {fit['rate_per_step']:.4f}/step, R² = {fit['r_squared']:.4f}"
            ),
            line={"color": "black", "dash": "dot"},
        )
    figure.update_layout(
        xaxis_title="Monte Carlo step",
        yaxis_title="particles",
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 50, "r": 10, "t": 10, "b": 10},
        height=380,
    )
    return figure_html(figure)


def overlay_figure(
    run: MonteCarloRun, preview_url: str, positions: np.ndarray, state: np.ndarray
) -> str:
    """Final particle positions over the source image's preview (the paper's Fig. 5 overlay).

    Args:
        run: the finished run (its image gives the pixel grid).
        preview_url: URL of the source image's preview PNG (the browser fetches it).
        positions: (N, 2) final (x, y) in pixels of the source image.
        state: (N,) final particle state (0 solution, 1 pristine, 2 defect).
    """
    image = run.source_image
    figure = go.Figure()
    figure.add_layout_image(
        source=preview_url,
        xref="x",
        yref="y",
        x=0,
        y=0,
        sizex=image.width_px,
        sizey=image.height_px,
        sizing="stretch",
        layer="below",
    )
    for value in (1, 2):
        points = positions[state == value]
        figure.add_scattergl(
            x=points[:, 0],
            y=points[:, 1],
            mode="markers",
            name=_STATE_NAMES[value],
            marker={"size": 4, "color": _STATE_COLOURS[value], "opacity": 0.8},
        )
    figure.update_xaxes(range=[0, image.width_px], visible=False)
    figure.update_yaxes(range=[image.height_px, 0], visible=False, scaleanchor="x", scaleratio=1)
    figure.update_layout(
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        legend={"orientation": "h", "y": -0.05},
        height=560,
    )
    return figure_html(figure)


def _profile_figure(x: np.ndarray, y: np.ndarray, x_title: str, y_title: str, mode: str) -> str:
    figure = go.Figure(go.Scatter(x=x, y=y, mode=mode))
    figure.update_layout(
        xaxis_title=x_title,
        yaxis_title=y_title,
        margin={"l": 50, "r": 10, "t": 10, "b": 40},
        height=360,
    )
    return figure_html(figure)


def scan_figure(calc: XtbCalculation) -> str:
    """Relaxed-scan energy profile, relative to its lowest point, in kcal/mol vs distance in Å."""
    profile = np.asarray(calc.output["scan_profile"], dtype=float)
    relative = (profile[:, 1] - profile[:, 1].min()) * HARTREE_TO_KCAL_MOL
    return _profile_figure(
        profile[:, 0],
        relative,
        "scanned distance (Å)",
        "relative energy (kcal/mol)",
        "lines+markers",
    )


def md_figure(calc: XtbCalculation) -> str:
    """Distance from the cluster to the nearest flake edge over the MD run (the paper's Fig. 6)."""
    md = calc.output["md"]
    times_ps = np.asarray(md["times_fs"]) / 1000.0
    return _profile_figure(
        times_ps,
        np.asarray(md["edge_distance_a"]),
        "time (ps)",
        "cluster to nearest edge (Å)",
        "lines",
    )
