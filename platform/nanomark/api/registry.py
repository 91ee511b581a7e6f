"""API of the model registry: versions with their metrics and training set; activation."""

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from nanomark.api.scoping import LabScopedViewSet
from nanomark.api.users import UsernameField
from nanomark.registry.filters import ModelVersionFilter
from nanomark.registry.models import ModelVersion
from nanomark.results.services import activate_version

_TRAINING_SETS = ("training_images", "training_labels", "training_masks")


def _training_set_size(relation: str) -> Coalesce:
    """Rows of the version's ``relation`` (a many-to-many), as a subquery per version."""
    through = getattr(ModelVersion, relation).through
    counts = (
        through.objects.filter(modelversion_id=OuterRef("pk"))
        .order_by()
        .values("modelversion_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


class ModelVersionBriefSerializer(serializers.ModelSerializer):
    """A model version as other resources name it."""

    class Meta:
        model = ModelVersion
        fields = ["id", "name", "task", "architecture"]


class ModelVersionSerializer(serializers.ModelSerializer):
    """A version with its cross-validation metrics and the size of its frozen training set."""

    lab = serializers.CharField(source="lab.slug", read_only=True)
    created_by = UsernameField()
    training_image_count = serializers.IntegerField(read_only=True)
    training_label_count = serializers.IntegerField(read_only=True)
    training_mask_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "lab",
            "task",
            "name",
            "architecture",
            "encoder",
            "input_pixel_size_nm",
            "weights_sha256",
            "metrics",
            "is_active",
            "created_by",
            "created_at",
            "training_image_count",
            "training_label_count",
            "training_mask_count",
        ]
        read_only_fields = fields


class ModelVersionDetailSerializer(ModelVersionSerializer):
    """A version with its configuration and the ids of its training images, labels and masks."""

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "config", *_TRAINING_SETS]
        read_only_fields = fields


class ActivationSerializer(serializers.Serializer):
    """What an activation did: the version, now active, and the re-analyses it queued."""

    version = ModelVersionSerializer()
    queued_run_ids = serializers.ListField(child=serializers.IntegerField())


class ModelVersionViewSet(LabScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Model versions of the user's labs (``?lab=``, ``?task=``, ``?is_active=``)."""

    queryset = ModelVersion.objects.select_related("lab", "created_by").annotate(
        training_image_count=_training_set_size("training_images"),
        training_label_count=_training_set_size("training_labels"),
        training_mask_count=_training_set_size("training_masks"),
    )
    filterset_class = ModelVersionFilter
    ordering_fields = ["created_at", "name", "task"]

    def get_serializer_class(self):
        if self.action == "retrieve":
            return ModelVersionDetailSerializer
        return ModelVersionSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(*_TRAINING_SETS)
        return queryset

    @extend_schema(request=None, responses={200: ActivationSerializer})
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None) -> Response:
        """Make this version its lab's active one and queue the re-analysis of the lab's images."""
        version = self.get_object()
        runs = activate_version(version, created_by=request.user)
        version = self.get_queryset().get(pk=version.pk)
        body = {"version": version, "queued_run_ids": [run.pk for run in runs]}
        return Response(ActivationSerializer(body).data, status=status.HTTP_200_OK)
