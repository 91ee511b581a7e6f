"""Suite-wide switches: tests marked ``slow`` run only with ``NANOMARK_SLOW=1``."""

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("NANOMARK_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set NANOMARK_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
