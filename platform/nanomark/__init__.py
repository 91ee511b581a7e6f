"""NanoMark's Django project: settings, URLs and one sub-app per domain.

The apps store, permit, queue and show; computation lives in the pure
libraries ``analysis``, ``simulation`` and ``ml`` at the repository root.
"""
