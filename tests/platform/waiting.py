"""Waiting for another process (a worker cluster, a web server) to reach a state, bounded."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout_s: float, what: str, poll_s: float = 0.05) -> T:
    """``condition()``'s first truthy value, polled every ``poll_s``; fails after ``timeout_s``.

    ``what`` names the state in the failure: "timed out after 90 s waiting for <what>".
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)
