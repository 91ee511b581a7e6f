"""WSGI entry point (gunicorn --pythonpath platform nanomark.wsgi)."""

import os
import sys
from pathlib import Path

# The repository root holds the analysis/, simulation/ and ml/ libraries.
sys.path.append(str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nanomark.settings")

from django.core.wsgi import get_wsgi_application

from nanomark.startup import settle

application = get_wsgi_application()
settle()
