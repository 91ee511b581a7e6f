"""The SECRET_KEY used when ``DJANGO_SECRET_KEY`` is not set.

It is generated once into ``var/secret_key`` (mode 0600), so sessions survive
restarts and no key is ever committed or shared between installations.
"""

import contextlib
import os
import secrets
import tempfile
from pathlib import Path


def load_or_create_secret_key(path: Path) -> str:
    """Return the key stored at ``path``, creating it (86 URL-safe characters) if missing."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp creates the file with mode 0600
            handle.write(secrets.token_urlsafe(64))
        # link() is atomic and fails if the key exists: of two processes starting at
        # once, one publishes its complete key and both read that one.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()
