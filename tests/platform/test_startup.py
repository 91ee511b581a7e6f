"""A web process's start (nanomark.startup): views loaded and objects frozen before requests."""

import gc
import sys

from nanomark.startup import settle


def test_settle_loads_the_views_and_freezes_what_is_loaded():
    gc.unfreeze()
    try:
        settle()
        assert "nanomark.exports.views" in sys.modules
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # Django alone is tens of thousands of objects
        assert len(gc.get_objects()) < frozen  # what the collector still walks: what came after
    finally:
        gc.unfreeze()
