"""Choice constants of the accounts app."""

from django.db import models


class Role(models.TextChoices):
    """What a member may do in a lab; each role includes the ones above it."""

    VIEWER = "viewer", "Viewer"
    MEMBER = "member", "Member"
    ADMIN = "admin", "Admin"
