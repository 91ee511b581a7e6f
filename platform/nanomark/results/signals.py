"""What the results app tells the apps above it, without importing them.

``run_succeeded`` is sent in the worker after an analysis run's results are
committed, with ``run`` (AnalysisRun); the search app adds its patch vectors
to the embedder's index (``search/apps.py``).
"""

from django.dispatch import Signal

run_succeeded = Signal()
