"""API of SEM images: upload, calibration corrections, links to their files, analysis requests."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from analysis.semfile import SIDECAR_MAX_BYTES
from nanomark.accounts.labcontext import require_write
from nanomark.api.calibration import (
    BatchCalibrationSerializer,
    CalibrationChangeSerializer,
    CalibrationSerializer,
    FieldBoxSerializer,
    pixel_size_source_field,
)
from nanomark.api.results import AnalysisRunSerializer, runs_with_results
from nanomark.api.scoping import LabScopedRelatedField, LabScopedViewSet
from nanomark.imaging.calibration import CalibrationRejected, recalibrate
from nanomark.imaging.filters import SEMImageFilter
from nanomark.imaging.models import SEMImage
from nanomark.imaging.services import ImageRejected, ingest_sem_image
from nanomark.nulchars import JSONParser
from nanomark.results.models import AnalysisRun, models_key_of
from nanomark.results.services import active_versions, queue_analyses
from nanomark.samples.models import Sample


class SEMImageSerializer(serializers.ModelSerializer):
    """An image's facts, metadata and calibration, with links to its files and web page.

    ``calibration`` says how the pixel size was found (``reader``, the
    ``scale_bar`` reading with its confidence) or, under ``reason``, why it is unknown.
    """

    lab = serializers.CharField(source="lab.slug", read_only=True)
    field = FieldBoxSerializer(source="field_box", read_only=True)
    sample_code = serializers.CharField(source="sample.code", read_only=True)
    # "" while the pixel size is unknown; a read-only model field would not say so.
    pixel_size_source = pixel_size_source_field()
    original_url = serializers.SerializerMethodField()
    preview_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = SEMImage
        fields = [
            "id",
            "lab",
            "sample",
            "sample_code",
            "original_filename",
            "sha256",
            "format",
            "size_bytes",
            "width_px",
            "height_px",
            "bit_depth",
            "channels",
            "pixel_size_nm",
            "pixel_size_source",
            "calibration",
            "calibration_version",
            "field",
            "field_source",
            "magnification",
            "accelerating_voltage_kv",
            "working_distance_mm",
            "detector",
            "instrument",
            "acquired_at",
            "uploaded_at",
            "upload_batch",
            "original_url",
            "preview_url",
            "thumbnail_url",
            "page_url",
        ]
        read_only_fields = fields

    def _link(self, name: str, image: SEMImage) -> str:
        return self.context["request"].build_absolute_uri(reverse(name, args=[image.pk]))

    def get_original_url(self, image: SEMImage) -> str:
        return self._link("image-original", image)

    def get_preview_url(self, image: SEMImage) -> str:
        return self._link("image-preview", image)

    def get_thumbnail_url(self, image: SEMImage) -> str:
        return self._link("image-thumbnail", image)

    def get_page_url(self, image: SEMImage) -> str:
        return self._link("image-detail", image)


class UploadedImageSerializer(SEMImageSerializer):
    """The stored image, and whether an identical file of the lab was found instead."""

    duplicate = serializers.SerializerMethodField()

    class Meta(SEMImageSerializer.Meta):
        fields = [*SEMImageSerializer.Meta.fields, "duplicate"]
        read_only_fields = fields

    def get_duplicate(self, image: SEMImage) -> bool:
        return self.context["duplicate"]


class ImageUploadSerializer(serializers.Serializer):
    """A multipart upload: the file, the sample imaged, and optionally a sidecar and pixel size."""

    file = serializers.FileField(help_text="TIFF, PNG or JPEG, told apart by content")
    sample = LabScopedRelatedField(queryset=Sample.objects.all())
    sidecar = serializers.FileField(
        required=False, help_text="instrument metadata: Hitachi or JEOL .txt, Tescan .hdr"
    )
    pixel_size_nm = serializers.FloatField(
        required=False, help_text="nm per pixel; overrides the metadata"
    )


class SEMImageViewSet(
    LabScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin
):
    """Images of the user's labs, newest first, filtered like the web UI's image lists.

    ``PATCH`` corrects one image's calibration; ``POST /api/images/calibrate/``
    corrects many at once. Both record the change and queue a re-analysis.
    """

    http_method_names = ["get", "post", "patch", "head", "options"]

    queryset = SEMImage.objects.select_related("lab", "sample")
    serializer_class = SEMImageSerializer
    filterset_class = SEMImageFilter
    ordering_fields = ["uploaded_at", "acquired_at", "original_filename", "pixel_size_nm"]
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    lab_source = "sample"

    @extend_schema(
        request={"multipart/form-data": ImageUploadSerializer},
        responses={201: UploadedImageSerializer, 200: UploadedImageSerializer},
    )
    def create(self, request) -> Response:
        """Store an image: 201 when new, 200 with ``duplicate: true`` for a known file.

        The file is validated from its content; a refused file is a 400 saying why.
        A new image is queued for analysis with its lab's active models.
        """
        upload = ImageUploadSerializer(data=request.data, context=self.get_serializer_context())
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        self.check_lab_write(data)
        sidecar = data.get("sidecar")
        limit = settings.NANOMARK_MAX_UPLOAD_BYTES
        if data["file"].size > limit:  # read nothing into memory that will be refused
            return Response(
                {
                    "detail": f"{data['file'].name}: {data['file'].size:,} bytes exceeds the "
                    f"{limit:,}-byte limit."
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            outcome = ingest_sem_image(
                sample=data["sample"],
                data=data["file"].read(),
                filename=data["file"].name,
                # One byte past the cap is enough for the reader to refuse a huge sidecar.
                sidecar=sidecar.read(SIDECAR_MAX_BYTES + 1) if sidecar is not None else None,
                pixel_size_nm=data.get("pixel_size_nm"),
                uploaded_by=request.user,
            )
        except ImageRejected as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        context = self.get_serializer_context() | {"duplicate": not outcome.created}
        body = UploadedImageSerializer(
            self.get_queryset().get(pk=outcome.image.pk), context=context
        )
        code = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
        return Response(body.data, status=code)

    @extend_schema(request=CalibrationSerializer, responses={200: SEMImageSerializer})
    def partial_update(self, request, pk=None) -> Response:
        """Correct the image's pixel size and/or field box; 400 says why a value does not fit.

        The original file is never changed; the change is recorded (see
        ``calibration-changes``) and the image is queued for re-analysis.
        """
        image = self.get_object()
        require_write(request.user, image.lab_id)
        body = CalibrationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            recalibrate([image], body.correction(), user=request.user)
        except CalibrationRejected as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.get_serializer(self.get_queryset().get(pk=image.pk)).data)

    @extend_schema(
        request=BatchCalibrationSerializer,
        responses={200: CalibrationChangeSerializer(many=True)},
    )
    @action(detail=False, methods=["post"])
    def calibrate(self, request) -> Response:
        """Apply one correction to many images, all or none; returns the changes recorded.

        Images that already have these values are left alone. A value that
        does not fit one of the images is a 400 and changes nothing.
        """
        body = BatchCalibrationSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        data = body.validated_data
        images = self.get_queryset()
        if "images" in data:
            images = images.filter(pk__in=data["images"])
        elif "sample" in data:
            images = images.filter(sample=data["sample"])
        else:
            images = images.filter(upload_batch=data["upload_batch"])
        if data["only_uncalibrated"]:
            images = images.filter(pixel_size_nm__isnull=True)
        images = list(images)
        if not images:
            return Response(
                {"detail": "No image of your labs matches."}, status=status.HTTP_400_BAD_REQUEST
            )
        for lab_id in {image.lab_id for image in images}:
            require_write(request.user, lab_id)
        try:
            changes = recalibrate(images, body.correction(), user=request.user)
        except CalibrationRejected as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(CalibrationChangeSerializer(changes, many=True).data)

    @extend_schema(
        request=None,
        responses={
            202: AnalysisRunSerializer(many=True),
            200: AnalysisRunSerializer(many=True),
        },
    )
    # The runs of one image: a plain list, not a page.
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def analyze(self, request, pk=None) -> Response:
        """Queue the image's analysis with its lab's active models.

        202 with the new run; 200 with the existing run when the image already
        has one with these models (retry a failed one at ``/api/analysis-runs/<id>/retry/``).
        """
        image = self.get_object()
        created = queue_analyses(
            [image], reason="requested through the API", created_by=request.user
        )
        if created:
            runs, code = AnalysisRun.objects.filter(pk__in=[run.pk for run in created]), 202
        else:
            versions = active_versions(image.lab_id)
            key = models_key_of(**versions)
            runs = AnalysisRun.objects.filter(
                image=image, models_key=key, calibration_version=image.calibration_version
            )
            code = 200
        body = AnalysisRunSerializer(runs_with_results(runs), many=True)
        return Response(body.data, status=code)
