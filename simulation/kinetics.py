"""First-order kinetics of deposition: how fast particles leave the solution.

The paper's Fig. 5 shows the number of particles in solution falling with
first-order kinetics. With leaching switched on the solution keeps a
plateau, so the fitted curve is that of a reversible first-order reaction:
n(t) = n_inf + (n0 - n_inf) * exp(-k t); without leaching n_inf is ~0.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit


@dataclass(frozen=True)
class FirstOrderFit:
    """Fitted first-order decay of the solution count.

    Attributes:
        rate_per_step: rate constant k, 1/step (>= 0).
        r_squared: coefficient of determination of the fit on the counts.
        n0: fitted count at step 0, particles.
        n_inf: fitted plateau, particles (0 when nothing leaches).
    """

    rate_per_step: float
    r_squared: float
    n0: float
    n_inf: float = 0.0

    @property
    def half_life_steps(self) -> float:
        """ln 2 / k, steps (inf when k = 0)."""
        return float(np.log(2.0) / self.rate_per_step) if self.rate_per_step > 0 else np.inf


def _decay(t: np.ndarray, n0: float, rate: float, n_inf: float) -> np.ndarray:
    return n_inf + (n0 - n_inf) * np.exp(-rate * t)


def fit_first_order(n_solution: np.ndarray) -> FirstOrderFit:
    """Fit n(t) = n_inf + (n0 - n_inf) e^(-k t) to particles in solution per step.

    Args:
        n_solution: (T,) particles in solution at steps 0 .. T-1 (T >= 3), e.g.
            ``DepositionResult.counts[:, 0]``.

    Returns:
        :class:`FirstOrderFit`; R² is NaN for a constant curve.

    Example:
        >>> fit = fit_first_order(1000 * 0.9 ** np.arange(200))
        >>> round(fit.rate_per_step, 4), round(fit.r_squared, 4)
        (0.1054, 1.0)
    """
    n = np.asarray(n_solution, dtype=np.float64)
    if n.ndim != 1 or n.size < 3:
        raise ValueError("n_solution must be a 1-D curve of at least 3 points")
    t = np.arange(n.size, dtype=np.float64)
    total = float(np.sum((n - n.mean()) ** 2))
    if total == 0.0:
        return FirstOrderFit(rate_per_step=0.0, r_squared=float("nan"), n0=n[0], n_inf=n[0])
    guess = (n[0], _initial_rate(n), float(n[-1]))
    (n0, rate, n_inf), _ = curve_fit(
        _decay, t, n, p0=guess, bounds=([-np.inf, 0.0, -np.inf], np.inf), maxfev=10_000
    )
    residual = float(np.sum((n - _decay(t, n0, rate, n_inf)) ** 2))
    return FirstOrderFit(
        rate_per_step=float(rate),
        r_squared=1.0 - residual / total,
        n0=float(n0),
        n_inf=float(n_inf),
    )


def _initial_rate(n: np.ndarray) -> float:
    """Rate from the time the curve needs to cover 1 - 1/e of its drop (a robust start)."""
    drop = n[0] - n[-1]
    if drop <= 0:
        return 1.0 / n.size
    reached = np.flatnonzero(n[0] - n >= (1.0 - np.exp(-1.0)) * drop)
    return 1.0 / max(int(reached[0]), 1)
