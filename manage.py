#!/usr/bin/env python
"""Django's command-line utility for NanoMark.

It puts ``platform/`` on ``sys.path`` (the Django project lives there as the
``nanomark`` package) and nothing else.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main() -> None:
    sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nanomark.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
