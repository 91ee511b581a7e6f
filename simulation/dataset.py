"""Labelled synthetic SEM data sets: Monte Carlo deposition rendered as images.

An ordered image is particles deposited on a procedural defect map, a
disordered one particles deposited on a smooth surface (Boiko et al. 2021:
order means defects). Every image comes with its ground truth. For a folder,
:func:`write_dataset` writes, per image, with names like the paper's data set
(``532-S1-A50-50k-ordered.tif``):

* ``{stem}.tif``: single-page grayscale image, 8-bit (12- and 16-bit, in
  16-bit files, in the wide variety);
* ``{stem}.txt``: Hitachi ``[SemImageFile]`` sidecar with the pixel size;
* ``{stem}.mask.{defect_class}.png``: one 0/255 layer per defect class, the
  defects the image shows (:func:`simulation.visibility.visible_layers`:
  grain boundaries and bends only where particles decorate them);
* ``{stem}.particles.csv``: particles on the surface, one a row
  (``x_px,y_px,state,diameter_px``: centre in px, pixel centres at integers;
  state as :class:`simulation.montecarlo.ParticleState`; apparent diameter,
  the FWHM drawn, px); particles in solution are not listed;
* ``{stem}.particles.png``: 0/255 particle mask, 255 within diameter_px / 2
  of a particle's centre (:func:`analysis.particlelabels.disc_mask`);

and one ``manifest.json`` listing the set's variety and every item with its
class, pixel size, magnification, bit depth, seed and Monte Carlo parameters.

The variety (:mod:`simulation.variety`) is ``"paper"`` (the default: the
images as they always were) or ``"wide"`` (toward real micrographs: dark to
bright and textured supports, 2-10 nm particles, agglomerates, gapped
chains, charging, scan-line faults, defocus, 8/12/16 bits); its look is
drawn apart from the class.

Command line: ``python -m simulation.dataset OUT_DIR --n 20 --seed 0 [--variety wide]``.
"""

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile
from tqdm import tqdm

from analysis.defects import DEFECT_CLASSES
from analysis.hitachi import format_hitachi_text
from simulation.databar import DATABAR_HEIGHT_PX, pixel_size_for_magnification
from simulation.defectmaps import DefectMap, generate_defect_map, smooth_defect_map
from simulation.montecarlo import DepositionParams, simulate_deposition
from simulation.render import draw_diameters_nm, jitter_positions, render_sem_with_truth
from simulation.surface import surface_from_layers
from simulation.variety import VARIETIES, add_agglomerates, decoration_gaps, draw_look
from simulation.visibility import DECORATION_REACH_NM, visible_layers

#: Magnifications drawn for images, as on a Hitachi SU8000 at 1280 px.
MAGNIFICATIONS = (50_000, 70_000, 100_000, 150_000)
#: Range of Monte Carlo steps per image (decoration time), drawn uniformly.
DECORATION_STEPS = (2000, 5000)
#: Images per sample set in the file names (``S{set}-A{area}``).
AREAS_PER_SET = 10

_ACCELERATING_VOLTAGE_V = 10_000
_WORKING_DISTANCE_UM = 8_100
_FIRST_ACQUISITION = datetime(2021, 3, 1, 9, 0, 0)


@dataclass(frozen=True)
class SyntheticImage:
    """One rendered image and its ground truth.

    Attributes:
        image: (H, W) uint8 image (uint16 for 12 and 16 bits), or (H + 70, W)
            with a data bar.
        defect_map: the surface; ``defect_map.layers`` holds every defect,
            hidden ones too (:attr:`labels` is what the image shows).
        positions_px: (M, 2) float64 x, y of the particles on the surface, as drawn.
        state: (M,) int8 :class:`simulation.montecarlo.ParticleState` (1 pristine, 2 defect).
        diameters_px: (M,) float64 apparent diameters as drawn (FWHM), px.
        particle_mask: (H, W) bool, True within diameter / 2 of a particle's centre.
        ordered: True for a defect surface, False for a smooth one.
        pixel_size_nm: nm per pixel.
        magnification: Hitachi magnification.
        params: Monte Carlo parameters.
        seed: seed the image was made from.
        variety: one of :data:`simulation.variety.VARIETIES`.
        bit_depth: significant bits of ``image`` (8, 12 or 16).
    """

    image: np.ndarray
    defect_map: DefectMap
    positions_px: np.ndarray
    state: np.ndarray
    diameters_px: np.ndarray
    particle_mask: np.ndarray
    ordered: bool
    pixel_size_nm: float
    magnification: float
    params: DepositionParams
    seed: int
    variety: str
    bit_depth: int

    @property
    def label(self) -> str:
        """``"ordered"`` or ``"disordered"``."""
        return "ordered" if self.ordered else "disordered"

    @property
    def labels(self) -> np.ndarray:
        """(4, H, W) bool labels of what the image shows (:func:`visible_layers`)."""
        return visible_layers(
            self.defect_map.layers, self.positions_px, self.state, self.pixel_size_nm
        )


@dataclass(frozen=True)
class DatasetItem:
    """Files (relative to the folder) and labels of one image written by :func:`write_dataset`."""

    id: int
    image: str
    sidecar: str
    masks: dict[str, str]
    particles: str
    particle_mask: str
    label: str
    pixel_size_nm: float
    magnification: float
    bit_depth: int
    seed: int
    mc_params: dict[str, Any]
    n_particles_on_surface: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, as in ``manifest.json``."""
        return {
            "id": self.id,
            "image": self.image,
            "sidecar": self.sidecar,
            "masks": self.masks,
            "particles": self.particles,
            "particle_mask": self.particle_mask,
            "class": self.label,
            "pixel_size_nm": self.pixel_size_nm,
            "magnification": self.magnification,
            "bit_depth": self.bit_depth,
            "seed": self.seed,
            "mc_params": self.mc_params,
            "n_particles_on_surface": self.n_particles_on_surface,
        }


def synthesize_image(
    seed: int,
    ordered: bool,
    *,
    magnification: float = 100_000,
    shape: tuple[int, int] = (890, 1280),
    n_steps: int | None = None,
    databar: bool = False,
    variety: str = "paper",
) -> SyntheticImage:
    """Simulate and render one labelled image; the same arguments give the same image.

    The look (:func:`simulation.variety.draw_look`) comes from a generator of
    its own: one seed gives an ordered and a disordered image the same look.

    Args:
        seed: seed of everything random in the image.
        ordered: defect surface (True) or smooth surface (False).
        magnification: Hitachi magnification; sets the pixel size.
        shape: (H, W) of the field, px.
        n_steps: Monte Carlo steps; drawn from :data:`DECORATION_STEPS` when ``None``.
        databar: append a Hitachi data bar under the field.
        variety: ``"paper"`` or ``"wide"`` (:data:`simulation.variety.VARIETIES`).

    Returns:
        :class:`SyntheticImage`.
    """
    # A fourth child leaves the first three, and so the paper's images, as they were.
    map_seq, mc_seq, render_seq, look_seq = np.random.SeedSequence(seed).spawn(4)
    map_rng, render_rng = np.random.default_rng(map_seq), np.random.default_rng(render_seq)
    look = draw_look(variety, np.random.default_rng(look_seq))
    pixel_size_nm = pixel_size_for_magnification(magnification, shape[1])
    if ordered:
        defect_map = generate_defect_map(shape, pixel_size_nm, map_rng)
    else:
        defect_map = smooth_defect_map(shape, pixel_size_nm)
    if n_steps is None:
        n_steps = int(map_rng.integers(DECORATION_STEPS[0], DECORATION_STEPS[1] + 1))
    params = replace(DepositionParams.paper_defaults(ordered), n_steps=n_steps)
    n_particles = look.particles_for(shape)
    if n_particles is not None:
        params = replace(params, n_particles=n_particles)
    surface = surface_from_layers(defect_map.layers, pixel_size_nm)
    surface = decoration_gaps(surface, look.gap_fraction, pixel_size_nm, map_rng)
    result = simulate_deposition(surface, params, int(mc_seq.generate_state(1)[0]))

    on_surface = result.state > 0
    grid_positions, state = add_agglomerates(
        result.positions[on_surface], result.state[on_surface], look.agglomerates, render_rng
    )
    diameters_nm = draw_diameters_nm(
        state.size, render_rng, look.median_nm, look.spread, look.range_nm
    )
    positions = jitter_positions(grid_positions, diameters_nm, pixel_size_nm, render_rng, shape)
    rendered = render_sem_with_truth(
        positions,
        pixel_size_nm,
        render_rng,
        defect_map=defect_map,
        diameters_nm=diameters_nm,
        style=look.style,
        databar=databar,
        magnification=magnification,
        dtype=look.dtype,
        bit_depth=look.bit_depth,
    )
    return SyntheticImage(
        image=rendered.image,
        defect_map=defect_map,
        positions_px=rendered.particles_xy,
        state=state,
        diameters_px=rendered.diameters_px,
        particle_mask=rendered.mask,
        ordered=ordered,
        pixel_size_nm=pixel_size_nm,
        magnification=float(magnification),
        params=params,
        seed=seed,
        variety=variety,
        bit_depth=look.bit_depth,
    )


def write_dataset(
    out_dir: str | Path,
    n_images: int,
    seed: int,
    ordered_fraction: float = 0.75,
    *,
    shape: tuple[int, int] = (890, 1280),
    magnifications: Sequence[float] = MAGNIFICATIONS,
    databar: bool = False,
    variety: str = "paper",
    progress: bool = False,
) -> list[DatasetItem]:
    """Write ``n_images`` labelled images and a ``manifest.json`` to ``out_dir``.

    The class of each image is fixed by shuffling round(n_images *
    ordered_fraction) ordered labels; each image has its own seed drawn from
    ``seed``, so the same arguments write the same files.

    Args:
        out_dir: folder, created if missing.
        n_images: number of images.
        seed: seed of the whole set.
        ordered_fraction: share of ordered images, in [0, 1] (the paper's set: 0.75).
        shape: (H, W) of the field, px.
        magnifications: drawn uniformly per image.
        databar: append a Hitachi data bar (the masks stay (H, W)).
        variety: ``"paper"`` or ``"wide"`` (:data:`simulation.variety.VARIETIES`).
        progress: show a tqdm progress bar.

    Returns:
        One :class:`DatasetItem` per image, in order.
    """
    if n_images < 0 or not 0.0 <= ordered_fraction <= 1.0:
        raise ValueError("n_images must be >= 0 and ordered_fraction in [0, 1]")
    if variety not in VARIETIES:
        raise ValueError(f"unknown variety {variety!r}; expected one of {VARIETIES}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_ordered = round(n_images * ordered_fraction)
    classes = rng.permutation(np.arange(n_images) < n_ordered)
    image_seeds = rng.integers(0, 2**31 - 1, n_images)
    chosen_magnifications = rng.choice(np.asarray(magnifications, float), n_images)
    minutes = np.cumsum(rng.integers(3, 40, n_images))

    items = []
    for i in tqdm(range(n_images), desc="synthetic SEM", disable=not progress):
        synthetic = synthesize_image(
            int(image_seeds[i]),
            bool(classes[i]),
            magnification=float(chosen_magnifications[i]),
            shape=shape,
            databar=databar,
            variety=variety,
        )
        acquired_at = _FIRST_ACQUISITION + timedelta(minutes=int(minutes[i]))
        items.append(_write_item(out, i + 1, synthetic, acquired_at))

    manifest = {
        "generator": "simulation.dataset",
        "seed": seed,
        "variety": variety,
        "n_images": n_images,
        "ordered_fraction": ordered_fraction,
        "shape": list(shape),
        "databar_height_px": DATABAR_HEIGHT_PX if databar else 0,
        "defect_classes": list(DEFECT_CLASSES),
        "decoration_reach_nm": DECORATION_REACH_NM,
        "items": [item.to_dict() for item in items],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return items


def _write_item(
    out: Path, image_id: int, synthetic: SyntheticImage, acquired_at: datetime
) -> DatasetItem:
    set_number, area = divmod(image_id - 1, AREAS_PER_SET)
    stem = (
        f"{image_id}-S{set_number + 1}-A{area + 1}-"
        f"{round(synthetic.magnification / 1000)}k-{synthetic.label}"
    )
    image_name = f"{stem}.tif"
    tifffile.imwrite(out / image_name, synthetic.image, photometric="minisblack")

    height, width = synthetic.image.shape
    sidecar = format_hitachi_text(
        {
            "InstructName": "SU8000",
            "Date": acquired_at.strftime("%m/%d/%Y"),
            "Time": acquired_at.strftime("%H:%M:%S"),
            "SampleName": f"S{set_number + 1}",
            "ImageName": image_name,
            "DataSize": f"{width}x{height}",
            "PixelSize": f"{synthetic.pixel_size_nm:.6g}",
            "SignalName": "SE(U)",
            "AcceleratingVoltage": f"{_ACCELERATING_VOLTAGE_V} Volt",
            "Magnification": f"{synthetic.magnification:.0f}",
            "WorkingDistance": f"{_WORKING_DISTANCE_UM} um",
        }
    )
    (out / f"{stem}.txt").write_text(sidecar, encoding="ascii", newline="")

    masks = {}
    for name, layer in zip(DEFECT_CLASSES, synthetic.labels, strict=True):
        masks[name] = f"{stem}.mask.{name}.png"
        cv2.imwrite(str(out / masks[name]), layer.astype(np.uint8) * 255)

    particles = f"{stem}.particles.csv"
    table = np.column_stack([synthetic.positions_px, synthetic.state, synthetic.diameters_px])
    np.savetxt(
        out / particles,
        table,
        fmt=["%.2f", "%.2f", "%d", "%.2f"],
        delimiter=",",
        header="x_px,y_px,state,diameter_px",
        comments="",
    )
    particle_mask = f"{stem}.particles.png"
    cv2.imwrite(str(out / particle_mask), synthetic.particle_mask.astype(np.uint8) * 255)
    return DatasetItem(
        id=image_id,
        image=image_name,
        sidecar=f"{stem}.txt",
        masks=masks,
        particles=particles,
        particle_mask=particle_mask,
        label=synthetic.label,
        pixel_size_nm=synthetic.pixel_size_nm,
        magnification=synthetic.magnification,
        bit_depth=synthetic.bit_depth,
        seed=synthetic.seed,
        mc_params=synthetic.params.to_dict(),
        n_particles_on_surface=int(synthetic.state.size),
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: write a labelled synthetic data set to a folder."""
    parser = argparse.ArgumentParser(
        prog="python -m simulation.dataset",
        description="Write labelled synthetic SEM images: TIFF, Hitachi sidecar, masks, particles.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write to (created if missing)")
    parser.add_argument("--n", type=int, default=20, help="number of images (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the set (default 0)")
    parser.add_argument(
        "--ordered-fraction", type=float, default=0.75, help="share of ordered images (0.75)"
    )
    parser.add_argument("--databar", action="store_true", help="append a Hitachi data bar")
    parser.add_argument(
        "--variety",
        choices=VARIETIES,
        default="paper",
        help="look of the images: the paper's, or wide toward real micrographs (paper)",
    )
    args = parser.parse_args(argv)
    items = write_dataset(
        args.out_dir,
        args.n,
        args.seed,
        args.ordered_fraction,
        databar=args.databar,
        variety=args.variety,
        progress=True,
    )
    n_ordered = sum(item.label == "ordered" for item in items)
    print(f"wrote {len(items)} images ({n_ordered} ordered) and manifest.json to {args.out_dir}")


if __name__ == "__main__":
    main()
