"""Timing helpers shared by the benchmarks (no heavy imports: numpy-only benches use it too)."""

import statistics
import time
from collections.abc import Callable


def paired_times(
    first: Callable[[], object], second: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median wall times of two calls, alternated so that both see the same machine load.

    One warm-up call of each comes first; seconds.
    """
    first(), second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for function, bucket in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            function()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])
