"""Typed readers for the environment variables that configure NanoMark.

Every setting has a default that works with nothing set; ``docker/.env.example``
documents each variable.
"""

import math
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str = "") -> str:
    """Return ``$name`` or ``default`` when unset."""
    return os.environ.get(name, default)


def envbool(name: str, default: bool = False) -> bool:
    """Return ``$name`` read as a boolean (1/true/yes/on, 0/false/no/off)."""
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false)")


def envint(name: str, default: int) -> int:
    """Return ``$name`` read as an integer."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None


def envfloat(name: str, default: float) -> float:
    """Return ``$name`` read as a finite number."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ImproperlyConfigured(f"{name}={value!r} is not a number")
    return number


def envlist(name: str, default: str) -> list[str]:
    """Return ``$name`` split on commas, blanks dropped."""
    return [item.strip() for item in envstr(name, default).split(",") if item.strip()]


def envpath(name: str, default: Path) -> Path:
    """Return ``$name`` as an absolute path."""
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default
