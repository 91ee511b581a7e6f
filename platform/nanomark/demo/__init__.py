"""The demo: what drives every app at once (``manage.py load_demo``), so it sits above them all."""
