"""API of materials, samples, their synthesis steps (with extra parameters) and properties."""

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from nanomark.api.scoping import (
    LabOwnedSerializer,
    LabScopedModelViewSet,
    LabScopedRelatedField,
)
from nanomark.api.search import SimilarSampleSerializer, SimilarSamplesQuerySerializer
from nanomark.api.users import UsernameField
from nanomark.imaging.counts import with_image_counts
from nanomark.results.filters import AnalysedSampleFilter
from nanomark.samples.filters import MaterialFilter, PropertyMeasurementFilter, SynthesisFilter
from nanomark.samples.models import (
    SYNTHESIS_CONDITIONS,
    Material,
    PropertyMeasurement,
    Sample,
    Synthesis,
    SynthesisParameter,
)
from nanomark.search.queries import NothingToSearch, similar_samples


class MaterialSerializer(LabOwnedSerializer):
    """A carbon material of a lab (its name is unique in the lab)."""

    class Meta:
        model = Material
        fields = ["id", "lab", "name", "kind", "supplier", "description"]


class MaterialViewSet(LabScopedModelViewSet):
    """Materials of the user's labs; one still used by samples cannot be deleted (409)."""

    queryset = Material.objects.select_related("lab")
    serializer_class = MaterialSerializer
    filterset_class = MaterialFilter
    ordering_fields = ["name", "kind"]


class SynthesisParameterSerializer(serializers.ModelSerializer):
    """A further condition of a synthesis step: name, value and unit."""

    class Meta:
        model = SynthesisParameter
        fields = ["name", "value", "unit"]


class SynthesisSerializer(serializers.ModelSerializer):
    """A synthesis step of a sample with its extra parameters (masses mg, mL, °C, min).

    Giving ``parameters`` on an update replaces the step's parameters.
    """

    sample = LabScopedRelatedField(queryset=Sample.objects.all())
    parameters = SynthesisParameterSerializer(many=True, required=False)

    class Meta:
        model = Synthesis
        fields = ["id", "sample", "kind", *SYNTHESIS_CONDITIONS, "notes", "parameters"]

    def validate_parameters(self, parameters: list[dict]) -> list[dict]:
        """Complete parameters with distinct names: the list replaces the step's parameters.

        A PATCH is partial down to the nested items (DRF skips their missing
        required fields), but an item is a whole row, so each must name its
        ``name`` and ``value``.
        """
        for number, parameter in enumerate(parameters, start=1):
            missing = [key for key in ("name", "value") if key not in parameter]
            if missing:
                raise serializers.ValidationError(
                    f"Parameter {number} has no {' and no '.join(missing)}; "
                    "each parameter needs a name and a value."
                )
        names = [parameter["name"] for parameter in parameters]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise serializers.ValidationError(f"Parameter {', '.join(repeated)} is given twice.")
        return parameters

    @transaction.atomic
    def create(self, validated_data: dict) -> Synthesis:
        parameters = validated_data.pop("parameters", [])
        synthesis = super().create(validated_data)
        self._store_parameters(synthesis, parameters)
        return synthesis

    @transaction.atomic
    def update(self, instance: Synthesis, validated_data: dict) -> Synthesis:
        parameters = validated_data.pop("parameters", None)
        synthesis = super().update(instance, validated_data)
        if parameters is not None:
            synthesis.parameters.all().delete()
            self._store_parameters(synthesis, parameters)
        return synthesis

    @staticmethod
    def _store_parameters(synthesis: Synthesis, parameters: list[dict]) -> None:
        SynthesisParameter.objects.bulk_create(
            SynthesisParameter(synthesis=synthesis, **parameter) for parameter in parameters
        )


class SynthesisViewSet(LabScopedModelViewSet):
    """Synthesis steps of the user's samples, with their extra parameters."""

    queryset = Synthesis.objects.select_related("sample").prefetch_related("parameters")
    serializer_class = SynthesisSerializer
    filterset_class = SynthesisFilter
    ordering_fields = ["performed_on", "temperature_c"]
    lab_source = "sample"


class PropertyMeasurementSerializer(serializers.ModelSerializer):
    """A measured property of a sample, e.g. a BET surface area in m2/g."""

    sample = LabScopedRelatedField(queryset=Sample.objects.all())

    class Meta:
        model = PropertyMeasurement
        fields = ["id", "sample", "name", "value", "unit", "method", "measured_on", "notes"]


class PropertyMeasurementViewSet(LabScopedModelViewSet):
    """Property measurements of the user's samples."""

    queryset = PropertyMeasurement.objects.select_related("sample")
    serializer_class = PropertyMeasurementSerializer
    filterset_class = PropertyMeasurementFilter
    ordering_fields = ["name", "measured_on", "value"]
    lab_source = "sample"


class SampleSerializer(LabOwnedSerializer):
    """A sample with its synthesis steps and property measurements (those are read-only here:
    change them through ``/api/syntheses/`` and ``/api/properties/``)."""

    material = LabScopedRelatedField(queryset=Material.objects.all())
    parent = LabScopedRelatedField(queryset=Sample.objects.all(), required=False, allow_null=True)
    created_by = UsernameField()
    image_count = serializers.SerializerMethodField()
    syntheses = SynthesisSerializer(many=True, read_only=True)
    properties = PropertyMeasurementSerializer(many=True, read_only=True)

    class Meta:
        model = Sample
        fields = [
            "id",
            "lab",
            "code",
            "material",
            "parent",
            "description",
            "created_by",
            "created_at",
            "updated_at",
            "image_count",
            "syntheses",
            "properties",
        ]

    def get_image_count(self, sample: Sample) -> int:
        # Annotated by the view's queryset; a sample just created has no images.
        return getattr(sample, "image_count", 0)


class SampleViewSet(LabScopedModelViewSet):
    """Samples of the user's labs, filtered like the sample list of the web UI.

    A sample that has images or derived samples cannot be deleted (409).
    """

    queryset = with_image_counts(
        Sample.objects.select_related("lab", "created_by")
        .prefetch_related("syntheses__parameters", "properties")
        .order_by("lab__name", "code")
    )
    serializer_class = SampleSerializer
    filterset_class = AnalysedSampleFilter
    ordering_fields = ["code", "created_at", "updated_at"]

    def perform_create(self, serializer) -> None:
        self.check_lab_write(serializer.validated_data)
        serializer.save(created_by=self.request.user)

    @extend_schema(
        parameters=[SimilarSamplesQuerySerializer],
        responses={200: SimilarSampleSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def similar(self, request, pk=None) -> Response:
        """Samples of the user's labs nearest to this one by their patch-embedding distributions.

        Among the samples the sample list's filters (query parameters) select.
        """
        # The filters choose the candidates; this sample is looked up without them.
        sample = get_object_or_404(self.get_queryset(), pk=pk)
        self.check_object_permissions(request, sample)
        candidates = self.filter_queryset(self.get_queryset())
        query = SimilarSamplesQuerySerializer(
            data=request.query_params, context={"request": request}
        )
        query.is_valid(raise_exception=True)
        try:
            ranked = similar_samples(
                request.user,
                sample,
                limit=query.validated_data["limit"],
                samples=candidates,
            )
        except NothingToSearch as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        rows = [{"sample": other, "distance": distance} for other, distance in ranked]
        return Response(SimilarSampleSerializer(rows, many=True).data)
