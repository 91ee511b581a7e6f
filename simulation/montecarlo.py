"""Monte Carlo deposition of nanoparticles on a surface-type map (Boiko et al. 2021).

Every particle is in solution, on pristine surface, or on a defect. Each step
applies every move to every particle, all particles at once (numpy):

* a particle in solution approaches a uniformly random pixel and adsorbs there
  with P(a|g) = P(a|g, c) * P(c), g being the surface type of that pixel;
* a particle on the surface leaches back into solution with P(l|g);
* a particle that stays on the surface moves with P(m|g) by a random shift drawn uniformly
  from the (2s + 1)^2 square ``(±s, ±s)`` (s = 1 in the paper); a shift that
  would leave the field is not made; the particle's surface type (and so its
  state) is that of its new pixel.

Moves in one step use the state at the start of the step, so a particle makes
at most one transition per step. Particles do not interact, and adsorption
trials are independent from step to step, so the step at which a particle in
solution adsorbs is drawn at once (geometric, with the field-averaged
probability) and its pixel is drawn weighted by P(a|g): the same process as
trying every step, without touching waiting particles.

The paper's settings (:meth:`DepositionParams.paper_defaults`) are: all
particles in solution at the start, adsorption p = 0.1 on every surface type,
no leaching, movement every step on pristine surface and never on defects.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from simulation.surface import N_SURFACE_TYPES, SurfaceType

#: Molar gas constant, kcal/(mol K).
GAS_CONSTANT_KCAL_MOL_K = 1.987204259e-3

_PER_TYPE_FIELDS = ("adsorption_probability", "leaching_probability", "movement_probability")


class ParticleState(IntEnum):
    """Where a particle is; also the column of :attr:`DepositionResult.counts`."""

    SOLUTION = 0
    PRISTINE = 1
    DEFECT = 2


def _per_type(pristine: float, defect: float) -> tuple[float, ...]:
    return (pristine,) + (defect,) * (N_SURFACE_TYPES - 1)


def boltzmann_probability(delta_energy_kcal_mol: float, temperature_k: float) -> float:
    """Probability of a move that changes the energy by ``delta_energy_kcal_mol``.

    The paper's quasi-equilibrium form, P = e^(-(E0 + ΔE)/RT) / Q_total, with
    Q_total summed over the two outcomes of the move (stay at E0, move to
    E0 + ΔE); E0 cancels, leaving 1 / (1 + e^(ΔE/RT)). 10 kcal/mol at 350 K
    is a factor of about 10^6, as the paper notes.

    Args:
        delta_energy_kcal_mol: energy after the move minus energy before, kcal/mol.
        temperature_k: temperature, K (> 0).
    """
    if temperature_k <= 0:
        raise ValueError("temperature_k must be positive")
    exponent = delta_energy_kcal_mol / (GAS_CONSTANT_KCAL_MOL_K * temperature_k)
    # exp overflows past ~709; the probability is 0 to double precision there anyway.
    return 0.0 if exponent > 700 else float(1.0 / (1.0 + np.exp(exponent)))


@dataclass(frozen=True)
class DepositionParams:
    """Parameters of one deposition run.

    Per-type probabilities are 5-tuples indexed by :class:`SurfaceType`
    (pristine, sheet border, grain boundary, topological defect, point defect);
    any sequence of 5 numbers (or a mapping ``{type key: value}``) is accepted.

    Attributes:
        n_particles: particles, all in solution at step 0.
        n_steps: Monte Carlo steps.
        approach_probability: P(c), probability per step that a particle in
            solution comes close to the surface.
        adsorption_probability: P(a|g, c) per surface type, given an approach.
        leaching_probability: P(l|g) per surface type, per step.
        movement_probability: P(m|g) per surface type, per step.
        max_shift_px: half-width s of the shift square, pixels.
    """

    n_particles: int = 1500
    n_steps: int = 1000
    approach_probability: float = 0.1
    adsorption_probability: tuple[float, ...] = _per_type(1.0, 1.0)
    leaching_probability: tuple[float, ...] = _per_type(0.0, 0.0)
    movement_probability: tuple[float, ...] = _per_type(1.0, 0.0)
    max_shift_px: int = 1

    def __post_init__(self) -> None:
        for name in _PER_TYPE_FIELDS:
            object.__setattr__(self, name, _as_per_type(name, getattr(self, name)))
        if self.n_particles < 0 or self.n_steps < 0 or self.max_shift_px < 1:
            raise ValueError("n_particles, n_steps must be >= 0 and max_shift_px >= 1")
        if not 0.0 <= self.approach_probability <= 1.0:
            raise ValueError("approach_probability must be in [0, 1]")

    @classmethod
    def paper_defaults(cls, ordered: bool, n_steps: int = 1000) -> "DepositionParams":
        """The Methods settings: 1,500 particles on a defect map, 1,000 on a smooth one.

        The paper gives no step count ("converges at hundreds or thousands of
        iterations"); a walk of n steps covers about 0.8 sqrt(n) px per axis,
        so sparse defect maps need more than the default 1,000.
        """
        return cls(n_particles=1500 if ordered else 1000, n_steps=n_steps)

    @classmethod
    def from_energies(
        cls,
        adsorption_energy_kcal_mol: Sequence[float] | Mapping[str, float],
        solution_energy_kcal_mol: float,
        temperature_k: float,
        *,
        migration_barrier_kcal_mol: float = 0.0,
        n_particles: int = 1500,
        n_steps: int = 1000,
        approach_probability: float = 0.1,
        max_shift_px: int = 1,
    ) -> "DepositionParams":
        """Derive the per-type probabilities from energies with :func:`boltzmann_probability`.

        * adsorption onto g, given an approach: ΔE = E_a(g) - E_stab;
        * leaching from g: ΔE = E_stab - E_a(g) (the paper's equation);
        * movement from g: ΔE = migration barrier + E_a(pristine) - E_a(g),
          because a particle that leaves a defect lands on pristine surface
          and loses the extra binding.

        With the paper's GFN2-xTB energies (basal plane -91.9, armchair edge
        -191.0, zigzag edge -248.9 kcal/mol) this gives no leaching, adsorption
        ≈ approach_probability, and no movement off defects.

        Args:
            adsorption_energy_kcal_mol: E_a per surface type, kcal/mol
                (negative = bound), 5 values in :class:`SurfaceType` order or
                a mapping by type key.
            solution_energy_kcal_mol: E_stab, energy of a particle stabilised
                in solution, kcal/mol, on the same scale.
            temperature_k: temperature, K.
            migration_barrier_kcal_mol: barrier of one shift on the surface, kcal/mol.
            n_particles: particles, all in solution at step 0.
            n_steps: Monte Carlo steps.
            approach_probability: P(c) per step.
            max_shift_px: half-width of the shift square, pixels.
        """
        energies = _as_per_type("adsorption_energy_kcal_mol", adsorption_energy_kcal_mol)
        pristine = energies[SurfaceType.PRISTINE]
        return cls(
            n_particles=n_particles,
            n_steps=n_steps,
            approach_probability=approach_probability,
            adsorption_probability=tuple(
                boltzmann_probability(e - solution_energy_kcal_mol, temperature_k) for e in energies
            ),
            leaching_probability=tuple(
                boltzmann_probability(solution_energy_kcal_mol - e, temperature_k) for e in energies
            ),
            movement_probability=tuple(
                boltzmann_probability(migration_barrier_kcal_mol + pristine - e, temperature_k)
                for e in energies
            ),
            max_shift_px=max_shift_px,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form; per-type values keyed by :attr:`SurfaceType.key`."""
        out: dict[str, Any] = {
            "n_particles": self.n_particles,
            "n_steps": self.n_steps,
            "approach_probability": self.approach_probability,
            "max_shift_px": self.max_shift_px,
        }
        for name in _PER_TYPE_FIELDS:
            out[name] = {
                t.key: value for t, value in zip(SurfaceType, getattr(self, name), strict=True)
            }
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DepositionParams":
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def _as_per_type(name: str, values: Sequence[float] | Mapping[str, float]) -> tuple[float, ...]:
    if isinstance(values, Mapping):
        unknown = set(values) - {t.key for t in SurfaceType}
        if unknown or len(values) != N_SURFACE_TYPES:
            raise ValueError(f"{name} needs one value per type: {[t.key for t in SurfaceType]}")
        values = [values[t.key] for t in SurfaceType]
    out = tuple(float(v) for v in values)
    if len(out) != N_SURFACE_TYPES:
        raise ValueError(f"{name} needs {N_SURFACE_TYPES} values, got {len(out)}")
    if name.endswith("_probability") and not all(0.0 <= v <= 1.0 for v in out):
        raise ValueError(f"{name} values must be in [0, 1]")
    return out


@dataclass(frozen=True)
class Snapshot:
    """Particles at one step: positions (N, 2) x, y in px (NaN in solution), state (N,) int8."""

    step: int
    positions: np.ndarray
    state: np.ndarray


@dataclass(frozen=True)
class DepositionResult:
    """Outcome of :func:`simulate_deposition`.

    Attributes:
        counts: (n_steps + 1, 3) int64 particles in solution / on pristine /
            on defect after each step (row 0 = start).
        positions: (N, 2) float64 final (x, y) in pixels; NaN for particles
            in solution.
        state: (N,) int8 final :class:`ParticleState`.
        surface_type: (N,) uint8 :class:`SurfaceType` under each particle
            (meaningless for particles in solution).
        snapshots: states every ``snapshot_every`` steps (empty if not asked).
        params: the parameters of the run.
        seed: the seed of the run.
    """

    counts: np.ndarray
    positions: np.ndarray
    state: np.ndarray
    surface_type: np.ndarray
    snapshots: list[Snapshot] = field(default_factory=list)
    params: DepositionParams = field(default_factory=DepositionParams)
    seed: int = 0


def simulate_deposition(
    surface: np.ndarray,
    params: DepositionParams,
    seed: int,
    snapshot_every: int | None = None,
) -> DepositionResult:
    """Run the deposition model on a surface map; the same seed gives the same result.

    Args:
        surface: (H, W) integer map of :class:`SurfaceType` values.
        params: probabilities and sizes.
        seed: seed of the run's ``numpy.random.Generator``.
        snapshot_every: keep a :class:`Snapshot` every this many steps
            (step 0 and the last step included); ``None`` keeps none.

    Returns:
        :class:`DepositionResult`.

    Example:
        >>> surface = np.zeros((50, 50), np.uint8)
        >>> result = simulate_deposition(surface, DepositionParams(n_particles=10, n_steps=5), 0)
        >>> result.counts.shape, int(result.counts[-1].sum())
        ((6, 3), 10)
    """
    surface = np.asarray(surface)
    if surface.dtype.kind not in "iub":
        raise ValueError(f"surface must hold integer SurfaceType values, got {surface.dtype}")
    if surface.ndim != 2 or surface.size == 0:
        raise ValueError(f"surface must be a non-empty (H, W) array, got {surface.shape}")
    if surface.min() < 0 or surface.max() >= N_SURFACE_TYPES:
        raise ValueError("surface values must be SurfaceType values (0-4)")
    if snapshot_every is not None and snapshot_every < 1:
        raise ValueError("snapshot_every must be >= 1")
    return _Deposition(surface, params, seed).run(snapshot_every)


class _Deposition:
    """State of one run, advanced with whole-array operations.

    Particles on the surface that can still leach or move form a compact pool
    (ids, flat index into a wall-padded copy of the surface, surface type)
    updated every step: a shift is one add and one lookup, and only particles
    that hit the wall or change type need more work.
    Particles in solution wait for an adsorption step drawn when they enter
    the solution, and particles trapped on a type they can neither leave nor
    move off drop out; neither costs anything per step.
    """

    def __init__(self, surface: np.ndarray, params: DepositionParams, seed: int) -> None:
        self.params = params
        self.seed = seed
        self.height, self.width = surface.shape
        self.flat_surface = np.ascontiguousarray(surface, dtype=np.uint8).ravel()
        self.rng = np.random.default_rng(seed)
        n = params.n_particles
        self.x = np.zeros(n, np.int64)
        self.y = np.zeros(n, np.int64)
        self.kind = np.zeros(n, np.uint8)
        self.state = np.zeros(n, np.int8)
        self.n_in_state = np.array([n, 0, 0], np.int64)

        self.p_leach = np.asarray(params.leaching_probability)
        self.p_move = np.asarray(params.movement_probability)
        self.mobile = (self.p_leach > 0.0) | (self.p_move > 0.0)
        # The paper's case (no leaching, every mobile particle moves each step)
        # needs no per-particle decision draw.
        self.always_moves = bool(
            np.all((self.p_leach[self.mobile] == 0.0) & (self.p_move[self.mobile] == 1.0))
        )
        pad = params.max_shift_px
        self.pad = pad
        self.padded_width = self.width + 2 * pad
        padded = np.full((self.height + 2 * pad, self.padded_width), _WALL, np.uint8)
        padded[pad : pad + self.height, pad : pad + self.width] = surface
        self.padded_surface = padded.ravel()
        shifts = np.arange(-pad, pad + 1)
        self.shift_x = np.tile(shifts, shifts.size)
        self.shift_y = np.repeat(shifts, shifts.size)
        self.offset = self.shift_y * self.padded_width + self.shift_x
        self.no_shift = self.shift_x.size // 2
        self.direction_dtype = np.uint8 if self.offset.size <= 256 else np.int64

        # Adsorption trials are independent from step to step, so the wait in
        # solution is geometric with the field-averaged probability, and the
        # pixel of the successful trial is uniform weighted by P(a|g).
        p_adsorb = params.approach_probability * np.asarray(params.adsorption_probability)
        fractions = np.array(
            [np.count_nonzero(self.flat_surface == t) for t in range(N_SURFACE_TYPES)]
        ) / float(surface.size)
        self.p_adsorb_per_step = float(fractions @ p_adsorb)
        present = fractions > 0
        self.p_accept = p_adsorb / max(float(p_adsorb[present].max()), 1e-300)
        self.uniform_adsorption = bool(np.all(self.p_accept[present] == 1.0))
        self.arrivals: dict[int, list[np.ndarray]] = {}

        self.pool_ids = np.empty(0, np.int64)
        self.pool_p = np.empty(0, np.int64)
        self.pool_kind = np.empty(0, np.uint8)
        self._schedule(np.arange(n), step=0)

    def run(self, snapshot_every: int | None) -> DepositionResult:
        n_steps = self.params.n_steps
        counts = np.zeros((n_steps + 1, 3), np.int64)
        counts[0] = self.n_in_state
        snapshots = [self._snapshot(0)] if snapshot_every else []
        for step in range(1, n_steps + 1):
            self._move_pool(step)
            arriving = self.arrivals.pop(step, None)
            if arriving:
                self._adsorb(np.concatenate(arriving))
            counts[step] = self.n_in_state
            if snapshot_every and (step % snapshot_every == 0 or step == n_steps):
                snapshots.append(self._snapshot(step))
        positions, state = self._current()
        return DepositionResult(
            counts=counts,
            positions=positions,
            state=state,
            surface_type=self.kind.copy(),
            snapshots=snapshots,
            params=self.params,
            seed=self.seed,
        )

    def _schedule(self, ids: np.ndarray, step: int) -> None:
        """Draw the adsorption step of particles that enter the solution at ``step``."""
        if ids.size == 0 or self.p_adsorb_per_step == 0.0:
            return
        arrival = step + self.rng.geometric(self.p_adsorb_per_step, ids.size)
        order = np.argsort(arrival, kind="stable")
        arrival, ids = arrival[order], ids[order]
        last = np.searchsorted(arrival, self.params.n_steps, side="right")
        if last == 0:
            return
        steps, starts = np.unique(arrival[:last], return_index=True)
        for arrival_step, group in zip(
            steps.tolist(), np.split(ids[:last], starts[1:]), strict=True
        ):
            self.arrivals.setdefault(arrival_step, []).append(group)

    def _adsorb(self, ids: np.ndarray) -> None:
        pixel = self._adsorption_pixels(ids.size)
        kind = self.flat_surface[pixel]
        y, x = np.divmod(pixel, self.width)
        state = _state_of(kind)
        self.x[ids], self.y[ids], self.kind[ids], self.state[ids] = x, y, kind, state
        self.n_in_state += np.bincount(state, minlength=3)
        self.n_in_state[0] -= ids.size  # all of them came from the solution
        joins = self.mobile[kind]
        if joins.any():
            self.pool_ids = np.concatenate([self.pool_ids, ids[joins]])
            padded_index = (y[joins] + self.pad) * self.padded_width + x[joins] + self.pad
            self.pool_p = np.concatenate([self.pool_p, padded_index])
            self.pool_kind = np.concatenate([self.pool_kind, kind[joins]])

    def _adsorption_pixels(self, n: int) -> np.ndarray:
        """Flat pixel indices, uniform weighted by P(a|g) (rejection sampling)."""
        pixel = self.rng.integers(0, self.flat_surface.size, n)
        if self.uniform_adsorption:
            return pixel
        rejected = self.rng.random(n) >= self.p_accept[self.flat_surface[pixel]]
        while rejected.any():
            redo = np.flatnonzero(rejected)
            pixel[redo] = self.rng.integers(0, self.flat_surface.size, redo.size)
            rejected[redo] = (
                self.rng.random(redo.size) >= self.p_accept[self.flat_surface[pixel[redo]]]
            )
        return pixel

    def _move_pool(self, step: int) -> None:
        n = self.pool_ids.size
        if n == 0:
            return
        kind = self.pool_kind
        direction = self.rng.integers(0, self.offset.size, n, dtype=self.direction_dtype)
        leached = None
        if not self.always_moves:
            u = self.rng.random(n)
            p_leach = self.p_leach[kind]
            leached = u < p_leach
            # Given no leaching, (u - p_leach) / (1 - p_leach) is again uniform
            # on [0, 1): one draw decides both moves and keeps them independent.
            with np.errstate(divide="ignore", invalid="ignore"):
                moves = ~leached & ((u - p_leach) / (1.0 - p_leach) < self.p_move[kind])
            direction[~moves] = self.no_shift
        self.pool_p += self.offset[direction]
        new_kind = self.padded_surface[self.pool_p]
        event = new_kind != kind
        if leached is not None:
            event |= leached
        if not event.any():
            return
        index = np.flatnonzero(event)
        walled = new_kind[index] == _WALL
        if walled.any():
            # A shift off the field is not made: the walk stays symmetric, so
            # particles keep a uniform density up to the edges.
            back = index[walled]
            self.pool_p[back] -= self.offset[direction[back]]
            new_kind[back] = kind[back]
            index = index[~walled]  # leached particles never shift, so none is lost here
        if index.size:
            self._pool_events(step, index, new_kind, leached)

    def _pool_events(
        self, step: int, index: np.ndarray, new_kind: np.ndarray, leached: np.ndarray | None
    ) -> None:
        """Apply type changes and leaching of pool members ``index`` at ``step``."""
        ids = self.pool_ids[index]
        kind = new_kind[index]
        old_state = _state_of(self.pool_kind[index])
        state = _state_of(kind)
        left = np.zeros(index.size, bool) if leached is None else leached[index]
        state[left] = 0  # ParticleState.SOLUTION; enum lookups cost here
        self.n_in_state += np.bincount(state, minlength=3) - np.bincount(old_state, minlength=3)
        self.y[ids], self.x[ids] = self._field_xy(self.pool_p[index])
        self.kind[ids], self.state[ids] = kind, state
        self.pool_kind[index] = kind
        leaves = left | ~self.mobile[kind]
        if leaves.any():
            keep = np.ones(self.pool_ids.size, bool)
            keep[index[leaves]] = False
            self.pool_ids, self.pool_p = self.pool_ids[keep], self.pool_p[keep]
            self.pool_kind = self.pool_kind[keep]
        if left.any():
            self._schedule(ids[left], step)

    def _field_xy(self, padded_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(y, x) field pixel of flat indices into the padded surface."""
        y, x = np.divmod(padded_index, self.padded_width)
        return y - self.pad, x - self.pad

    def _current(self) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) float64 positions (NaN in solution) and a copy of the (N,) state."""
        positions = np.column_stack([self.x, self.y]).astype(np.float64)
        pool_y, pool_x = self._field_xy(self.pool_p)
        positions[self.pool_ids, 0] = pool_x
        positions[self.pool_ids, 1] = pool_y
        positions[self.state == ParticleState.SOLUTION] = np.nan
        return positions, self.state.copy()

    def _snapshot(self, step: int) -> Snapshot:
        positions, state = self._current()
        return Snapshot(step=step, positions=positions, state=state)


# Surface value of the padding around the field: any shift onto it is clipped.
_WALL = 255


# ParticleState of a particle on the surface, by the uint8 surface value under it.
_STATE_OF_TYPE = np.full(256, ParticleState.DEFECT, np.int8)
_STATE_OF_TYPE[SurfaceType.PRISTINE] = ParticleState.PRISTINE


def _state_of(kind: np.ndarray) -> np.ndarray:
    """(M,) int8 :class:`ParticleState` of particles on the surface over types ``kind``."""
    return _STATE_OF_TYPE[kind]
