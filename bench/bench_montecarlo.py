"""Benchmark of the vectorised Monte Carlo deposition against naive per-particle loops.

Run: ``python bench/bench_montecarlo.py`` (about 10 s). Everything is measured
in this one run, with the same settings for every implementation: a
procedural 1280 x 890 defect map, the paper's parameters (1,500 particles,
1,000 steps, adsorption p = 0.1, no leaching, movement on pristine surface
only):

* the vectorised :func:`simulation.montecarlo.simulate_deposition`
  (goal: <= 1 s; best of 5);
* a naive loop over particles and steps with one ``numpy.random.Generator``
  call per random number (the direct translation of the model; goal: the
  vectorised code >= 100x faster);
* the same loop in plain Python (``random`` module, nested lists), the
  fastest form a per-particle loop takes without compiling.

The loops run once, for all 1,000 steps, so no per-step normalisation is
needed; times per particle-step are printed as well.
"""

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulation.defectmaps import generate_defect_map
from simulation.montecarlo import DepositionParams, simulate_deposition
from simulation.surface import surface_from_layers

SHAPE = (890, 1280)
PIXEL_SIZE_NM = 1.0
SEED = 0


def naive_numpy(surface: np.ndarray, params: DepositionParams, seed: int) -> np.ndarray:
    """Per-particle loop with numpy scalar draws; returns the final (N,) state."""
    rng = np.random.default_rng(seed)
    height, width = surface.shape
    p_adsorb = [params.approach_probability * p for p in params.adsorption_probability]
    n = params.n_particles
    x, y, kind, state = [0] * n, [0] * n, [0] * n, [0] * n
    for _ in range(params.n_steps):
        for i in range(n):
            if state[i] == 0:
                px, py = int(rng.integers(0, width)), int(rng.integers(0, height))
                t = int(surface[py, px])
                if rng.random() < p_adsorb[t]:
                    x[i], y[i], kind[i], state[i] = px, py, t, 1 if t == 0 else 2
            elif rng.random() < params.leaching_probability[kind[i]]:
                state[i] = 0
            elif rng.random() < params.movement_probability[kind[i]]:
                nx, ny = x[i] + int(rng.integers(-1, 2)), y[i] + int(rng.integers(-1, 2))
                if 0 <= nx < width and 0 <= ny < height:
                    t = int(surface[ny, nx])
                    x[i], y[i], kind[i], state[i] = nx, ny, t, 1 if t == 0 else 2
    return np.asarray(state)


def naive_python(surface: np.ndarray, params: DepositionParams, seed: int) -> np.ndarray:
    """Per-particle loop in plain Python (``random`` module, nested lists)."""
    rand = random.Random(seed)
    grid = surface.tolist()
    height, width = surface.shape
    p_adsorb = [params.approach_probability * p for p in params.adsorption_probability]
    p_leach, p_move = params.leaching_probability, params.movement_probability
    n = params.n_particles
    x, y, kind, state = [0] * n, [0] * n, [0] * n, [0] * n
    for _ in range(params.n_steps):
        for i in range(n):
            if state[i] == 0:
                px, py = rand.randrange(width), rand.randrange(height)
                t = grid[py][px]
                if rand.random() < p_adsorb[t]:
                    x[i], y[i], kind[i], state[i] = px, py, t, 1 if t == 0 else 2
            elif rand.random() < p_leach[kind[i]]:
                state[i] = 0
            elif rand.random() < p_move[kind[i]]:
                nx, ny = x[i] + rand.randrange(-1, 2), y[i] + rand.randrange(-1, 2)
                if 0 <= nx < width and 0 <= ny < height:
                    t = grid[ny][nx]
                    x[i], y[i], kind[i], state[i] = nx, ny, t, 1 if t == 0 else 2
    return np.asarray(state)


def best_time(function: Callable[[], object], repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls, seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    defect_map = generate_defect_map(SHAPE, PIXEL_SIZE_NM, np.random.default_rng(SEED))
    surface = surface_from_layers(defect_map.layers, PIXEL_SIZE_NM)
    params = DepositionParams.paper_defaults(ordered=True)
    particle_steps = params.n_particles * params.n_steps

    simulate_deposition(surface, params, SEED)  # warm caches
    t_vector = best_time(lambda: simulate_deposition(surface, params, SEED), repeats=5)
    t_numpy = best_time(lambda: naive_numpy(surface, params, SEED), repeats=1)
    t_python = best_time(lambda: naive_python(surface, params, SEED), repeats=1)

    def per_step(seconds: float) -> str:
        return f"{seconds / particle_steps * 1e9:.0f} ns/particle-step"

    print(
        f"{params.n_particles} particles x {params.n_steps} steps on {SHAPE[1]} x {SHAPE[0]} px, "
        "paper settings, same run for every implementation"
    )
    print(f"vectorised (numpy):        {t_vector:7.3f} s  {per_step(t_vector)}  (goal <= 1 s)")
    print(
        f"naive loop, numpy draws:   {t_numpy:7.3f} s  {per_step(t_numpy)}  "
        f"ratio {t_numpy / t_vector:.0f}x  (goal >= 100x)"
    )
    print(
        f"naive loop, plain Python:  {t_python:7.3f} s  {per_step(t_python)}  "
        f"ratio {t_python / t_vector:.0f}x"
    )


if __name__ == "__main__":
    main()
