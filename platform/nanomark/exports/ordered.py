"""An ordered map over threads, for the exports' Arrow work (its kernels release the GIL)."""

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

#: Items in work at once, each on a thread of its own: the machine's two cores.
THREADS = 2

_In = TypeVar("_In")
_Out = TypeVar("_Out")


def ordered_map(function: Callable[[_In], _Out], items: Iterable[_In], name: str) -> Iterator[_Out]:
    """``function(item)`` of each item in order, up to :data:`THREADS` at once.

    ``items`` are still read on the caller's thread (e.g. its database connection);
    memory holds at most :data:`THREADS` items and results. ``name`` prefixes the threads'.
    """
    with ThreadPoolExecutor(THREADS, thread_name_prefix=name) as pool:
        pending = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) == THREADS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
