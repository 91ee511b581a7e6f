"""Particle detection: the fixed contrast threshold against the adaptive default, F1 per scene.

Run: ``python bench/bench_particles.py`` (about a minute on 2 cores). Renders
held-out scenes (:func:`simulation.particlescene.render_particle_scene`,
384 x 384 px at 1 nm/px, 80 particles of which 20 % in touching pairs plus 3
agglomerates) for each background and median particle size, and scores
:func:`analysis.particles.detect_particles` with ``threshold=0.1`` (the old
fixed floors) and with the default ``threshold=None`` (adaptive), in the same
run. Prints F1 (precision / recall) per background x size, pooled over the
seeds by counts, then the median run time of each on a 1280 x 960 textured
image and their ratio. Goal: F1 >= 0.85 everywhere; ratio <= 2.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from timing import paired_times  # noqa: E402

from analysis.particles import detect_particles  # noqa: E402
from analysis.particlescore import pooled, score_particles  # noqa: E402
from simulation.particlescene import BACKGROUNDS, SizeDistribution, render_particle_scene  # noqa: E402

SIZES_PX = (2.5, 4.0, 6.0, 10.0, 16.0)
SETTINGS = {"fixed 0.1": {"threshold": 0.1}, "adaptive": {}}


def score_table(seeds: list[int], contrast: float | None) -> None:
    """Print F1 (P/R) per background x median size for each setting."""
    print(f"{'background':14}{'setting':11}" + "".join(f"{s:>17.1f}" for s in SIZES_PX))
    for background in BACKGROUNDS:
        for name, kwargs in SETTINGS.items():
            cells = []
            for median_px in SIZES_PX:
                scores = []
                for seed in seeds:
                    scene = render_particle_scene(
                        shape=(384, 384),
                        diameters=SizeDistribution(median_px, 0.15, 2.0, 20.0),
                        background=background,
                        n_particles=80,
                        seed=seed,
                        background_contrast=contrast,
                    )
                    found = detect_particles(scene.image, 1.0, max_diameter_nm=24.0, **kwargs)
                    scores.append(
                        score_particles(
                            found.positions_xy,
                            found.diameters_nm,
                            scene.particles_xy,
                            scene.diameters_px,
                        )
                    )
                precision, recall, f1 = pooled(scores)
                cells.append(f"{f1:.2f} ({precision:.2f}/{recall:.2f})")
            print(f"{background:14}{name:11}" + "".join(f"{c:>17}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[901, 902, 903], help="scene seeds")
    parser.add_argument(
        "--contrast", type=float, default=None, help="background contrast (scene default)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each (5)")
    args = parser.parse_args()
    score_table(args.seeds, args.contrast)
    scene = render_particle_scene(
        shape=(960, 1280),
        background="textured",
        n_particles=400,
        seed=7,
        diameters=SizeDistribution(5.0, 0.3),
    )
    fixed, adaptive = paired_times(
        lambda: detect_particles(scene.image, 1.0, threshold=0.1),
        lambda: detect_particles(scene.image, 1.0),
        args.repeats,
    )
    print(
        f"1280 x 960: fixed {fixed:.3f} s, adaptive {adaptive:.3f} s, ratio {adaptive / fixed:.2f}"
    )


if __name__ == "__main__":
    main()
