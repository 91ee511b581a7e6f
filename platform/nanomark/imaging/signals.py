"""What the imaging app tells the apps above it, without importing them.

``images_need_analysis`` is sent inside the transaction that stored or
recalibrated images, so a receiver's writes commit or roll back with them:
the results app queues their analyses (``results/apps.py``).
Arguments: ``images`` (list of SEMImage), ``reason`` (str or None: the batch
label shown with the runs' progress), ``created_by`` (user or None).
"""

from django.dispatch import Signal

images_need_analysis = Signal()
