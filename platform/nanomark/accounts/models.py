"""Labs, their members, and the abstract base of every lab-owned row."""

from django.conf import settings
from django.db import models

from nanomark.accounts.choices import Role
from nanomark.accounts.querysets import LabScopedQuerySet


class Lab(models.Model):
    """A research group; every domain row belongs to exactly one lab."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in a lab."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "lab"], name="unique_membership")]
        ordering = ["lab__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.lab} ({self.role})"


class LabOwned(models.Model):
    """Abstract base for rows that carry their lab's key themselves."""

    lab_path = "lab"

    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="+")

    objects = LabScopedQuerySet.as_manager()

    class Meta:
        abstract = True
