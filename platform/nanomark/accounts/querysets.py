"""Lab scoping: every domain query goes through ``restrict(user)``."""

from collections.abc import Iterable

from django.db import models


class LabScopedQuerySet(models.QuerySet):
    """A queryset over rows that belong to a lab.

    The model names the path from itself to its Lab in ``lab_path``
    (``"lab"`` for rows that hold the key themselves, ``"image__lab"`` for a
    label that belongs to its image's lab).
    """

    def restrict(self, user, roles: Iterable[str] | None = None) -> "LabScopedQuerySet":
        """Rows in labs where ``user`` is a member (optionally with one of ``roles``).

        Anonymous and inactive users see nothing; superusers are not special
        here, so the lab UI and API show a superuser only their own labs.
        """
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        from nanomark.accounts.models import Lab

        # One filter() call, so user and role are matched on the same membership row.
        membership = {"memberships__user": user}
        if roles is not None:
            membership["memberships__role__in"] = list(roles)
        labs = Lab.objects.filter(**membership)
        return self.filter(**{f"{self.model.lab_path}__in": labs.values("pk")})
