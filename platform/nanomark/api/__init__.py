"""The REST API (Django REST Framework): every resource of the user's labs under ``/api/``.

Lists show the rows of the user's labs (``?lab=<slug>`` narrows them to one);
another lab's row is a 404; viewers read, members and admins also write.
"""
