"""SEM scenes for evaluation only, made independently of :mod:`simulation.render`.

A classifier trained on :mod:`simulation.dataset` images may learn the quirks
of that renderer. This module is a second generator, written separately and
by design importing nothing from ``render``, ``montecarlo``, ``defectmaps``,
``surface`` or ``particlescene``: its own placement and its own imaging model.
It is never used for training; a classifier trained on the renderer is scored
on it (``bench/bench_generalisation.py``), and the difference is the
generalisation gap.

Placement (px, x = column, y = row, pixel centres at integers):

* ordered: chains along a line network, sheet borders (the visible rims of
  flake outlines) and grain boundaries (bowed edges of a Voronoi tessellation,
  invisible without particles), with a pitch of 1-2 particle diameters, gaps,
  and 15-50 % of the particles scattered off the lines;
* disordered: hard-core Poisson scatter (random sequential adsorption).

Everything but the positions is drawn from generators that do not see the
class: the particle count (150-1,200 per µm²), the diameters (2-10 nm), the
support (dark and smooth to brighter and textured, with faint flake steps and
wrinkles in both classes, decorated only in ordered scenes) and the
microscope (edge-bright particles, probe blur with a halo, charging tails and
streaks, per-line scan offsets and jitter, Poisson-Gaussian noise, auto
contrast, 8- or 16-bit output). One seed gives an ordered and a disordered
scene that differ only in where the particles lie.

:func:`write_eval_set` writes a folder the platform and
:func:`ml.data.read_folder` read: ``{stem}.tif``, a Hitachi ``{stem}.txt``
sidecar and a ``manifest.json`` with :func:`simulation.dataset.write_dataset`'s
keys for class and pixel size.

Command line: ``python -m simulation.evalscenes OUT_DIR --n 20 --seed 0``.
"""

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from scipy.spatial import Voronoi

from analysis.hitachi import format_hitachi_text
from analysis.magnification import pixel_size_for_magnification
from simulation.evalimaging import microscope, particle_image, support_image, to_pixels

#: Magnifications drawn (1280 px wide: 2.0-0.5 nm/px), some the renderer never uses.
EVAL_MAGNIFICATIONS = (50_000, 60_000, 80_000, 100_000, 120_000, 150_000, 200_000)
#: Particles per µm² of field, drawn log-uniformly for both classes.
DENSITY_PER_UM2 = (150.0, 1200.0)
#: Smallest and largest particle diameter, nm.
DIAMETER_RANGE_NM = (2.0, 10.0)
# Densified polylines have points at most this far apart, px.
_DENSE_STEP_PX = 1.0


@dataclass(frozen=True)
class EvalScene:
    """One evaluation image and its truth.

    Attributes:
        image: (H, W) uint8 or uint16 pixels.
        ordered: True for chains on a line network, False for scatter.
        pixel_size_nm: nm per pixel.
        magnification: Hitachi magnification at a 1280 px wide field.
        seed: seed the scene was made from.
        positions_px: (N, 2) float64 particle centres x, y, px.
        diameters_px: (N,) float64 particle diameters, px.
        on_network: (N,) bool, True for particles placed on the line network.
        network: the decorated lines, each a (K, 2) float64 polyline x, y in px
            (empty for disordered scenes).
    """

    image: np.ndarray
    ordered: bool
    pixel_size_nm: float
    magnification: float
    seed: int
    positions_px: np.ndarray
    diameters_px: np.ndarray
    on_network: np.ndarray
    network: tuple[np.ndarray, ...]

    @property
    def label(self) -> str:
        """``"ordered"`` or ``"disordered"``."""
        return "ordered" if self.ordered else "disordered"


def eval_scene(
    seed: int,
    ordered: bool,
    *,
    magnification: float | None = None,
    shape: tuple[int, int] = (890, 1280),
) -> EvalScene:
    """Make one evaluation scene; the same arguments give the same scene.

    Args:
        seed: seed of everything random in the scene.
        ordered: chains on a line network (True) or hard-core scatter (False).
        magnification: Hitachi magnification (pixel size at 1280 px wide);
            drawn from :data:`EVAL_MAGNIFICATIONS` when ``None``.
        shape: (H, W) of the field, px.

    Returns:
        :class:`EvalScene`.
    """
    # Poisson draws use a varying number of random bits, so each stage has its own
    # generator: only placement (and the noise it lands in) sees the class.
    count_rng, place_rng, support_rng, optics_rng, output_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    if magnification is None:
        magnification = float(count_rng.choice(EVAL_MAGNIFICATIONS))
    pixel_size_nm = pixel_size_for_magnification(magnification)
    area_um2 = shape[0] * shape[1] * (pixel_size_nm * 1e-3) ** 2
    density = np.exp(count_rng.uniform(*np.log(DENSITY_PER_UM2)))
    n_particles = max(int(count_rng.poisson(density * area_um2)), 20)
    diameters_px = particle_diameters_nm(n_particles, count_rng) / pixel_size_nm
    amplitude = count_rng.uniform(0.4, 1.0)
    flakes = flake_outlines(shape, support_rng)

    if ordered:
        positions, on_network, network = _chains_and_scatter(
            shape, pixel_size_nm, diameters_px, flakes, place_rng
        )
    else:
        positions = hard_core_scatter(diameters_px, shape, place_rng)
        on_network, network = np.zeros(n_particles, bool), ()

    support = support_image(shape, pixel_size_nm, flakes, support_rng)
    ideal = support + particle_image(shape, positions, diameters_px, amplitude, optics_rng)
    signal = microscope(ideal, pixel_size_nm, optics_rng)
    image = to_pixels(signal, support, amplitude, output_rng)
    return EvalScene(
        image=image,
        ordered=ordered,
        pixel_size_nm=pixel_size_nm,
        magnification=float(magnification),
        seed=seed,
        positions_px=positions,
        diameters_px=diameters_px,
        on_network=on_network,
        network=network,
    )


def particle_diameters_nm(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) diameters, nm: log-normal around a median of 2.5-7 nm, spread 15-35 %, clipped
    to :data:`DIAMETER_RANGE_NM`."""
    median = rng.uniform(2.5, 7.0)
    spread = rng.uniform(0.15, 0.35)
    return np.clip(median * np.exp(spread * rng.standard_normal(n)), *DIAMETER_RANGE_NM)


def flake_outlines(shape: tuple[int, int], rng: np.random.Generator) -> list[np.ndarray]:
    """0-3 closed flake outlines, each (K, 2) float64 x, y in px, centred anywhere near the field.

    A flake is star-shaped: radius R (0.3-1 field widths) times 1 plus a few
    low harmonics, so that its rim crosses the field as a gently curved line.
    """
    height, width = shape
    theta = np.linspace(0.0, 2.0 * np.pi, 720, endpoint=False)
    outlines = []
    for _ in range(int(rng.integers(0, 4))):
        centre = rng.uniform([-0.5 * width, -0.5 * height], [1.5 * width, 1.5 * height])
        radius = rng.uniform(0.3, 1.0) * max(shape)
        harmonics = np.arange(2, 7)
        amplitudes = rng.normal(0.0, 0.08 / harmonics)
        phases = rng.uniform(0.0, 2.0 * np.pi, harmonics.size)
        r = radius * (1.0 + (amplitudes * np.cos(np.outer(theta, harmonics) + phases)).sum(1))
        outlines.append(centre + np.column_stack([np.cos(theta), np.sin(theta)]) * r[:, None])
    return outlines


def grain_boundaries(
    shape: tuple[int, int], cell_px: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """Bowed Voronoi edges inside the field, nearest to a random point first.

    Args:
        shape: (H, W) of the field, px.
        cell_px: mean grain size, px.
        rng: random generator.

    Returns:
        Polylines, each (K, 2) float64 x, y in px, points <= 1 px apart; taken in
        order they grow one connected patch of grains.
    """
    height, width = shape
    low, high = np.array([-cell_px, -cell_px]), np.array([width + cell_px, height + cell_px])
    n_seeds = int(np.ceil(np.prod(high - low) / cell_px**2)) + 4
    tessellation = Voronoi(rng.uniform(low, high, (n_seeds, 2)))
    edges = []
    for ridge in tessellation.ridge_vertices:
        if -1 in ridge:
            continue
        start, end = tessellation.vertices[ridge]
        length = float(np.hypot(*(end - start)))
        t = np.linspace(0.0, 1.0, max(int(np.ceil(length / _DENSE_STEP_PX)), 1) + 1)[:, None]
        normal = np.array([start[1] - end[1], end[0] - start[0]]) / max(length, 1e-9)
        bow = rng.normal(0.0, 0.1 * length) * np.sin(np.pi * t)
        edges.extend(inside_runs(start + t * (end - start) + bow * normal, shape))
    origin = rng.uniform([0.0, 0.0], [width, height])
    return sorted(edges, key=lambda edge: float(np.hypot(*(edge.mean(0) - origin))))


def inside_runs(polyline: np.ndarray, shape: tuple[int, int]) -> list[np.ndarray]:
    """The parts of a (K, 2) x, y polyline inside the (H, W) field, densified to <= 1 px steps."""
    polyline = _densified(polyline)
    height, width = shape
    x, y = polyline[:, 0], polyline[:, 1]
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(np.int8), [0]])))
    return [polyline[a:b] for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 2]


def _densified(polyline: np.ndarray) -> np.ndarray:
    steps = np.hypot(*np.diff(polyline, axis=0).T)
    arclength = np.concatenate([[0.0], np.cumsum(steps)])
    samples = np.linspace(0.0, arclength[-1], max(int(np.ceil(arclength[-1])), 1) + 1)
    return np.column_stack([np.interp(samples, arclength, polyline[:, i]) for i in (0, 1)])


def _chains_and_scatter(
    shape: tuple[int, int],
    pixel_size_nm: float,
    diameters_px: np.ndarray,
    flakes: list[np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Ordered placement: positions (N, 2), on-network flags (N,) and the decorated lines."""
    n_chain = round(float(rng.uniform(0.5, 0.85)) * diameters_px.size)
    pitch_px = rng.uniform(1.0, 2.0) * float(diameters_px.mean())
    gap_probability, gap_pitches = rng.uniform(0.05, 0.25), rng.uniform(3.0, 10.0)
    rims = [run for outline in flakes for run in inside_runs(outline, shape)]
    rng.shuffle(rims)
    lines = rims + grain_boundaries(shape, rng.uniform(60.0, 250.0) / pixel_size_nm, rng)
    chain, n_lines = chain_positions(lines, n_chain, pitch_px, gap_probability, gap_pitches, rng)
    chain = np.clip(chain, 0.0, [shape[1] - 1.0, shape[0] - 1.0])
    # Whatever the network could not hold is scattered, so the count stays the class's.
    n_on = chain.shape[0]
    scatter = hard_core_scatter(diameters_px[n_on:], shape, rng, fixed=(chain, diameters_px[:n_on]))
    on_network = np.arange(diameters_px.size) < n_on
    return np.concatenate([chain, scatter]), on_network, tuple(lines[:n_lines])


def chain_positions(
    lines: Sequence[np.ndarray],
    n: int,
    pitch_px: float,
    gap_probability: float,
    gap_pitches: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """Up to ``n`` particle centres walked along ``lines`` in order, until ``n`` are placed.

    Steps are gamma-distributed around ``pitch_px`` (shape 8); after each
    particle a gap of exponential length (mean ``gap_pitches`` pitches) follows
    with ``gap_probability``; centres sit a normal 0.25 pitch off the line.

    Args:
        lines: densified polylines (points <= 1 px apart), each (K, 2) x, y in px.
        n: most particles to place.
        pitch_px: mean centre-to-centre step along a line, px.
        gap_probability: chance of a gap after a particle, in [0, 1].
        gap_pitches: mean gap length in pitches.
        rng: random generator.

    Returns:
        (M, 2) float64 centres x, y in px (M <= n; fewer when the lines run
        out) and the number of lines walked (the first ones of ``lines``).
    """
    placed: list[np.ndarray] = []
    walked = 0
    for line in lines:
        if len(placed) >= n:
            break
        walked += 1
        steps = np.hypot(*np.diff(line, axis=0).T)
        arclength = np.concatenate([[0.0], np.cumsum(steps)])
        along = [rng.uniform(0.0, pitch_px)]
        while along[-1] <= arclength[-1] and len(placed) + len(along) < n:
            step = pitch_px * rng.gamma(8.0, 1.0 / 8.0)
            if rng.random() < gap_probability:
                step += pitch_px * rng.exponential(gap_pitches)
            along.append(along[-1] + step)
        s = np.array([a for a in along if a <= arclength[-1]])
        if s.size == 0:
            continue
        index = np.clip(np.searchsorted(arclength, s, side="right") - 1, 0, line.shape[0] - 2)
        tangent = (line[index + 1] - line[index]) / np.maximum(steps[index], 1e-9)[:, None]
        normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
        centre = np.column_stack([np.interp(s, arclength, line[:, i]) for i in (0, 1)])
        placed.extend(centre + normal * rng.normal(0.0, 0.25 * pitch_px, (s.size, 1)))
    return np.array(placed[:n], np.float64).reshape(-1, 2), walked


def hard_core_scatter(
    diameters_px: np.ndarray,
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    fixed: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Random sequential adsorption: uniform centres, no two closer than their mean diameter.

    Args:
        diameters_px: (N,) diameters of the particles to place, px.
        shape: (H, W) of the field, px; centres lie in [0, W - 1] x [0, H - 1].
        rng: random generator.
        fixed: (M, 2) centres and (M,) diameters already placed, which new ones avoid.

    Returns:
        (N, 2) float64 x, y, px, in the order of ``diameters_px``.

    Raises:
        RuntimeError: the field is too crowded (200 tries per particle failed).
    """
    height, width = shape
    old_xy, old_d = fixed if fixed is not None else (np.empty((0, 2)), np.empty(0))
    cell = max(float(np.max(diameters_px, initial=1.0)), float(np.max(old_d, initial=1.0)))
    grid: dict[tuple[int, int], list[tuple[float, float, float]]] = {}

    def add(x: float, y: float, d: float) -> None:
        grid.setdefault((int(x // cell), int(y // cell)), []).append((x, y, d))

    def free(x: float, y: float, d: float) -> bool:
        cx, cy = int(x // cell), int(y // cell)
        for key in ((cx + i, cy + j) for i in (-1, 0, 1) for j in (-1, 0, 1)):
            for ox, oy, od in grid.get(key, ()):
                if (x - ox) ** 2 + (y - oy) ** 2 < (0.5 * (d + od)) ** 2:
                    return False
        return True

    for (x, y), d in zip(old_xy, old_d, strict=True):
        add(float(x), float(y), float(d))
    out = np.empty((diameters_px.size, 2))
    for i, d in enumerate(diameters_px.astype(float)):
        for _ in range(200):
            x, y = rng.uniform(0.0, width - 1.0), rng.uniform(0.0, height - 1.0)
            if free(x, y, d):
                break
        else:
            raise RuntimeError("field too crowded for hard-core scatter")
        add(x, y, d)
        out[i] = x, y
    return out


def write_eval_set(
    out_dir: str | Path,
    n_images: int,
    seed: int,
    ordered_fraction: float = 0.5,
    *,
    shape: tuple[int, int] = (890, 1280),
) -> list[dict[str, Any]]:
    """Write ``n_images`` scenes as TIFF + Hitachi sidecar and a ``manifest.json``.

    Classes are shuffled round(n_images * ordered_fraction) ordered labels;
    each image has its own seed drawn from ``seed``. The manifest has
    :func:`simulation.dataset.write_dataset`'s ``shape``, ``databar_height_px``
    and, per item, ``image``, ``sidecar``, ``class``, ``pixel_size_nm``,
    ``magnification`` and ``seed``, so :func:`ml.data.read_folder` reads it.

    Args:
        out_dir: folder, created if missing.
        n_images: number of images.
        seed: seed of the whole set.
        ordered_fraction: share of ordered images, in [0, 1].
        shape: (H, W) of the field, px.

    Returns:
        The manifest's items, in order.
    """
    if n_images < 0 or not 0.0 <= ordered_fraction <= 1.0:
        raise ValueError("n_images must be >= 0 and ordered_fraction in [0, 1]")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.arange(n_images) < round(n_images * ordered_fraction))
    seeds = rng.integers(0, 2**31 - 1, n_images)
    items = [
        _write_item(out, i + 1, eval_scene(int(seeds[i]), bool(classes[i]), shape=shape))
        for i in range(n_images)
    ]
    manifest = {
        "generator": "simulation.evalscenes",
        "seed": seed,
        "n_images": n_images,
        "ordered_fraction": ordered_fraction,
        "shape": list(shape),
        "databar_height_px": 0,
        "items": items,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return items


def _write_item(out: Path, image_id: int, scene: EvalScene) -> dict[str, Any]:
    stem = f"{image_id}-E1-A{image_id}-{round(scene.magnification / 1000)}k-{scene.label}"
    tifffile.imwrite(out / f"{stem}.tif", scene.image, photometric="minisblack")
    height, width = scene.image.shape
    sidecar = format_hitachi_text(
        {
            "InstructName": "SU8230",
            "ImageName": f"{stem}.tif",
            "DataSize": f"{width}x{height}",
            "PixelSize": f"{scene.pixel_size_nm:.6g}",
            "SignalName": "SE(U)",
            "AcceleratingVoltage": "15000 Volt",
            "Magnification": f"{scene.magnification:.0f}",
            "WorkingDistance": "9500 um",
        }
    )
    (out / f"{stem}.txt").write_text(sidecar, encoding="ascii", newline="")
    return {
        "id": image_id,
        "image": f"{stem}.tif",
        "sidecar": f"{stem}.txt",
        "class": scene.label,
        "pixel_size_nm": scene.pixel_size_nm,
        "magnification": scene.magnification,
        "seed": scene.seed,
        "bit_depth": scene.image.dtype.itemsize * 8,
        "n_particles": int(scene.positions_px.shape[0]),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: write an evaluation set to a folder."""
    parser = argparse.ArgumentParser(
        prog="python -m simulation.evalscenes",
        description="Write evaluation-only SEM scenes: TIFF, Hitachi sidecar, manifest.json.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write to (created if missing)")
    parser.add_argument("--n", type=int, default=20, help="number of images (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the set (default 0)")
    args = parser.parse_args(argv)
    items = write_eval_set(args.out_dir, args.n, args.seed)
    n_ordered = sum(item["class"] == "ordered" for item in items)
    print(f"wrote {len(items)} images ({n_ordered} ordered) and manifest.json to {args.out_dir}")


if __name__ == "__main__":
    main()
