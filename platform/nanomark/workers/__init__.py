"""How background workers hold runs: leases renewed while they work, lapsed ones swept,
prefetched tasks leased by the pusher, and a stop that hands work back.

The run records' side (claim, finish, hand back) is :mod:`nanomark.runs`;
this app is the worker processes' side: :mod:`.leases` (the keeper thread and
the task context), :mod:`.broker` (django-q2 brokers that lease what they
prefetch) and ``manage.py run_workers`` (qcluster with a stop that hands back).
"""
