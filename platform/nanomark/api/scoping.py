"""Lab scoping of API views and serializers: the base viewset and the lab-restricted fields.

Every queryset goes through ``restrict(user)``, so another lab's row is a 404;
related rows named in a request body must be in the user's labs too (else
400, as if they did not exist); a new or changed row's lab must be one the
user may write in (else 403).
"""

import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated

from nanomark.accounts.labcontext import require_write, user_labs
from nanomark.accounts.models import Lab
from nanomark.api.permissions import LabWritePermission, lab_id_of
from nanomark.nulchars import NUL


class Conflict(APIException):
    """409: the request contradicts the row's state (e.g. deleting a row others depend on)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the row."
    default_code = "conflict"


class LabScopedViewSet(viewsets.GenericViewSet):
    """Base of the lab-owned resources: restricted querysets and write checks per lab.

    ``lab_source`` names the validated field that decides the lab of a new or
    changed row: ``"lab"`` (a Lab) or a related lab-owned row (``"sample"``, ``"image"``).
    Name it first among a view's bases, so its ``perform_*`` methods come before
    the DRF mixins' (which would save without the check).
    """

    permission_classes = [IsAuthenticated, LabWritePermission]
    lab_source = "lab"

    def get_queryset(self):
        return super().get_queryset().restrict(self.request.user)

    def check_lab_write(self, validated_data: dict) -> None:
        """403 unless the user may write in the lab named by ``validated_data[lab_source]``."""
        if self.lab_source in validated_data:
            require_write(self.request.user, lab_id_of(validated_data[self.lab_source]))

    def perform_create(self, serializer) -> None:
        self.check_lab_write(serializer.validated_data)
        serializer.save()

    def perform_update(self, serializer) -> None:
        self.check_lab_write(serializer.validated_data)
        serializer.save()

    def perform_destroy(self, instance) -> None:
        try:
            instance.delete()
        except ProtectedError as error:
            kinds = sorted({str(row._meta.verbose_name_plural) for row in error.protected_objects})
            raise Conflict(
                f"{instance} is still used by {', '.join(kinds)}; delete those first."
            ) from error


class LabScopedModelViewSet(
    LabScopedViewSet,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
):
    """List, create, retrieve, update and delete the rows of the user's labs."""


class LabField(serializers.SlugRelatedField):
    """A lab given by its slug; only the requesting user's labs exist."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("queryset", Lab.objects.all())
        super().__init__(slug_field="slug", **kwargs)

    def get_queryset(self):
        return user_labs(self.context["request"].user)

    def to_internal_value(self, data):
        # Before the lookup: PostgreSQL cannot compare text holding NUL (a form body can carry it).
        if isinstance(data, str) and NUL in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class LabScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A primary key of a row in one of the requesting user's labs (others do not exist)."""

    def get_queryset(self):
        return super().get_queryset().restrict(self.context["request"].user)


class LabOwnedSerializer(serializers.ModelSerializer):
    """A row that holds its lab: the lab is given on creation and never changes.

    The model's ``clean()`` runs on the would-be row, so its rules (e.g. a
    sample's material must be of the sample's lab) hold for the API as for forms.
    """

    lab = LabField()

    def validate_lab(self, lab: Lab) -> Lab:
        if self.instance is not None and lab.pk != self.instance.lab_id:
            raise serializers.ValidationError("A row cannot move to another lab.")
        return lab

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        candidate = copy.copy(self.instance) if self.instance is not None else self.Meta.model()
        for name, value in attrs.items():
            setattr(candidate, name, value)
        try:
            candidate.clean()
        except DjangoValidationError as error:
            raise serializers.ValidationError(serializers.as_serializer_error(error)) from error
        return attrs
