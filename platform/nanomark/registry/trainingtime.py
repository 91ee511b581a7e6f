"""How much of the worker's task time a training request may plan to use.

A training run is one worker task: its folds and its final fit must end,
and the model be stored, within ``NANOMARK_TASK_TIMEOUT_S``. Requests plan
their time in minutes; :func:`planned_time_problem` refuses a plan that does
not fit :data:`TIMEOUT_SHARE` of the timeout, and :func:`even_share_s` is the
time each fit gets when a request leaves it open.
"""

from django.conf import settings

#: Share of the worker's task timeout that training may plan to use.
TIMEOUT_SHARE = 0.8


def allowed_s() -> float:
    """Seconds of training a request may plan (:data:`TIMEOUT_SHARE` of the task timeout)."""
    return TIMEOUT_SHARE * settings.Q_TIMEOUT_S


def even_share_s(folds: int) -> float:
    """Seconds per fit when ``folds`` folds and the final fit share the allowed time evenly."""
    return allowed_s() / (folds + 1)


def planned_time_problem(minutes: float | None, fold_minutes: float | None, folds: int) -> str:
    """Why a plan of ``minutes`` (final fit) and ``folds`` × ``fold_minutes`` fails ("" if not).

    ``None`` for either takes :func:`even_share_s`.
    """
    if any(value is not None and value <= 0 for value in (minutes, fold_minutes)):
        return "minutes and fold_minutes must be positive"
    share_min = even_share_s(folds) / 60.0
    planned_s = 60.0 * (
        (share_min if minutes is None else minutes)
        + folds * (share_min if fold_minutes is None else fold_minutes)
    )
    if planned_s > allowed_s() * (1 + 1e-9):
        return (
            f"minutes + folds × fold_minutes plans {planned_s / 60:.1f} minutes of training; the "
            f"worker allows {allowed_s() / 60:.1f} "
            f"(NANOMARK_TASK_TIMEOUT_S = {settings.Q_TIMEOUT_S})"
        )
    return ""
