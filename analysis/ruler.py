"""Rulers of SEM data bars: a line with ticks (a comb) or a row of ticks or dots alone.

A scale bar's length is measured between the centres of its end ticks,
brightness-weighted, so sub-pixel; :mod:`analysis.scalebar` divides its label
by that length. Inputs are a band's pixels and its connected ink components
(``cv2.connectedComponentsWithStats``), all in band pixels.
"""

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Ruler:
    """A ruler found in a band, in band pixels.

    Attributes:
        left_px: centre of the left end tick, px (sub-pixel).
        right_px: centre of the right end tick, px (sub-pixel).
        box: (x, y, width, height) of the ruler with its ticks, px.
        n_ticks: ticks found (Hitachi: 11).
        regular: whether the ticks are evenly spaced.
    """

    left_px: float
    right_px: float
    box: tuple[int, int, int, int]
    n_ticks: int
    regular: bool

    @property
    def length_px(self) -> float:
        """End tick to end tick, px."""
        return self.right_px - self.left_px


def find_ruler(
    band: np.ndarray, background: float, labels: np.ndarray, stats: np.ndarray
) -> tuple[tuple[int, ...], Ruler | None]:
    """((component index,), :class:`Ruler`) of the longest comb-shaped component, or ((), None).

    The line rows are those with ink over half the component's width; the
    ticks are the column runs of ink in the other rows, and each end tick's
    centre is the brightness-weighted mean column of its run.
    """
    width = band.shape[1]
    order = np.argsort(-stats[1:, cv2.CC_STAT_WIDTH]) + 1
    for index in order[:5]:
        x, y, w, h, _ = (int(v) for v in stats[index])
        if w < 0.05 * width or h < 3:
            break
        mask = labels[y : y + h, x : x + w] == index
        line_rows = mask.sum(axis=1) >= 0.5 * w
        if not line_rows.any() or line_rows.all():
            continue
        weight = np.where(mask, band[y : y + h, x : x + w] - np.float32(background), 0.0)
        profile = np.clip(weight[~line_rows], 0.0, None).sum(axis=0)
        ticks = _runs(profile > 0.3 * profile.max())
        if len(ticks) < 2:
            continue
        centres = [x + _centroid(profile, a, b) for a, b in ticks]
        spacing = np.diff(centres)
        regular = bool(spacing.std() <= 0.05 * spacing.mean() + 0.5)
        ruler = Ruler(centres[0], centres[-1], (x, y, w, h), len(ticks), regular)
        return (int(index),), ruler
    return (), None


def find_tick_row(
    band: np.ndarray, background: float, labels: np.ndarray, stats: np.ndarray
) -> tuple[tuple[int, ...], Ruler | None]:
    """A ruler drawn as separate ticks (no line joining them): ((indices), :class:`Ruler`).

    Ticks are upright strokes or dots (at least 2 px tall, no wider than
    tall or 3 px) on one baseline with one height (± 1 px); the longest
    evenly spaced run of at least 6 spanning 5 % of the band's width is the
    ruler, measured between the brightness-weighted centres of its end ticks.
    """
    ticks = [
        k
        for k in range(1, len(stats))
        if stats[k, cv2.CC_STAT_HEIGHT] >= 2
        and stats[k, cv2.CC_STAT_WIDTH] <= max(3, stats[k, cv2.CC_STAT_HEIGHT])
    ]
    best: tuple[tuple[int, ...], Ruler | None] = ((), None)
    groups: dict[tuple[int, int], list[int]] = {}
    for k in ticks:
        bottom = int(stats[k, cv2.CC_STAT_TOP] + stats[k, cv2.CC_STAT_HEIGHT])
        groups.setdefault((bottom // 2, int(stats[k, cv2.CC_STAT_HEIGHT]) // 2), []).append(k)
    for members in groups.values():
        if len(members) < 6:
            continue
        centres = []
        for k in members:
            x, y, w, h, _ = (int(v) for v in stats[k])
            weight = np.where(labels[y : y + h, x : x + w] == k, band[y : y + h, x : x + w], 0.0)
            profile = np.clip(weight - np.float32(background), 0.0, None).sum(axis=0)
            centres.append(x + _centroid(profile, 0, w))
        order = np.argsort(centres)
        run = _even_run(np.asarray(centres)[order])
        if run is None:
            continue
        start, stop = run
        centres_sorted = np.asarray(centres)[order][start:stop]
        if centres_sorted[-1] - centres_sorted[0] < 0.05 * band.shape[1]:
            continue
        parts = tuple(int(members[i]) for i in order[start:stop])
        x0 = int(min(stats[k, cv2.CC_STAT_LEFT] for k in parts))
        x1 = int(max(stats[k, cv2.CC_STAT_LEFT] + stats[k, cv2.CC_STAT_WIDTH] for k in parts))
        y0 = int(min(stats[k, cv2.CC_STAT_TOP] for k in parts))
        y1 = int(max(stats[k, cv2.CC_STAT_TOP] + stats[k, cv2.CC_STAT_HEIGHT] for k in parts))
        ruler = Ruler(
            float(centres_sorted[0]),
            float(centres_sorted[-1]),
            (x0, y0, x1 - x0, y1 - y0),
            len(parts),
            True,
        )
        if best[1] is None or ruler.length_px > best[1].length_px:
            best = (parts, ruler)
    return best


def _even_run(centres: np.ndarray, least: int = 6) -> tuple[int, int] | None:
    """[start, stop) of the longest run of sorted ``centres`` evenly spaced (± 10 % + 0.75 px).

    Other marks on the same baseline (the periods of ``10.0kV``) fall outside the run.
    """
    best = None
    start = 0
    while start + 1 < len(centres):
        step = centres[start + 1] - centres[start]
        stop = start + 2
        while stop < len(centres) and abs(centres[stop] - centres[stop - 1] - step) <= (
            0.1 * step + 0.75
        ):
            stop += 1
        if stop - start >= least and (best is None or stop - start > best[1] - best[0]):
            best = (start, stop)
        start = stop - 1
    return best


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of the runs of True in a 1-D array."""
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _centroid(profile: np.ndarray, start: int, end: int) -> float:
    """Weighted mean position (pixel centres at integers) of ``profile[start:end]``."""
    weights = profile[start:end]
    return float((np.arange(start, end) * weights).sum() / weights.sum())
