"""Resolving the ``--lab`` and ``--user`` arguments of management commands."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from nanomark.accounts.models import Lab


def lab_from_slug(slug: str) -> Lab:
    """The lab with ``slug``, or a CommandError naming it."""
    lab = Lab.objects.filter(slug=slug).first()
    if lab is None:
        raise CommandError(f"no lab {slug!r}")
    return lab


def user_from_name(username: str | None):
    """The user called ``username`` (None when not given), or a CommandError naming it."""
    if username is None:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user {username!r}")
    return user
