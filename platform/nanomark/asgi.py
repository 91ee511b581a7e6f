"""ASGI entry point, for servers that speak ASGI (uvicorn, daphne)."""

import os
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nanomark.settings")

from django.core.asgi import get_asgi_application

from nanomark.startup import settle

application = get_asgi_application()
settle()
