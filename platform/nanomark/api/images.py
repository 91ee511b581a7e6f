"""API of SEM images (upload, calibration, files, analysis requests), order labels and masks."""

import django_filters
from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from analysis.databar import FieldBox
from analysis.defects import DEFECT_CLASSES
from analysis.maskfile import MaskFileError, read_mask_layers
from analysis.semfile import SIDECAR_MAX_BYTES
from nanomark.accounts.labcontext import require_write
from nanomark.api.results import AnalysisRunSerializer, runs_with_results
from nanomark.api.scoping import LabScopedRelatedField, LabScopedViewSet
from nanomark.api.users import UsernameField
from nanomark.booleanfilters import BooleanFilter
from nanomark.idfilters import IdFilter
from nanomark.imaging.calibration import CalibrationRejected, Correction, recalibrate
from nanomark.imaging.choices import AnnotationSource, OrderClass, PixelSizeSource
from nanomark.imaging.filters import SEMImageFilter
from nanomark.imaging.masks import MaskRejected, mask_sizes, store_defect_mask
from nanomark.imaging.models import CalibrationChange, DefectMask, OrderLabel, SEMImage
from nanomark.imaging.services import ImageRejected, ingest_sem_image
from nanomark.nulchars import JSONParser
from nanomark.results.models import AnalysisRun, models_key_of
from nanomark.results.services import active_versions, queue_analyses
from nanomark.samples.models import Sample

_MAX_PX = 2**31 - 1


class FieldBoxSerializer(serializers.Serializer):
    """A rectangle of the frame in px: the field (specimen area, data bar excluded)."""

    x_px = serializers.IntegerField(min_value=0, max_value=_MAX_PX)
    y_px = serializers.IntegerField(min_value=0, max_value=_MAX_PX)
    width_px = serializers.IntegerField(min_value=1, max_value=_MAX_PX)
    height_px = serializers.IntegerField(min_value=1, max_value=_MAX_PX)


def _pixel_size_source() -> serializers.ChoiceField:
    """A read-only pixel-size source: one of :class:`PixelSizeSource`, or "" when unknown."""
    return serializers.ChoiceField(
        choices=PixelSizeSource.choices, allow_blank=True, read_only=True
    )


class SEMImageSerializer(serializers.ModelSerializer):
    """An image's facts, metadata and calibration, with links to its files and web page.

    ``calibration`` says how the pixel size was found (``reader``, the
    ``scale_bar`` reading with its confidence) or, under ``reason``, why it is unknown.
    """

    lab = serializers.CharField(source="lab.slug", read_only=True)
    field = FieldBoxSerializer(source="field_box", read_only=True)
    sample_code = serializers.CharField(source="sample.code", read_only=True)
    # "" while the pixel size is unknown; a read-only model field would not say so.
    pixel_size_source = _pixel_size_source()
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


class CalibrationSerializer(serializers.Serializer):
    """A correction of an image's calibration: pixel size, field box or both."""

    pixel_size_nm = serializers.FloatField(
        required=False, help_text="nm per pixel, 0.01–1000; its source becomes 'manual'"
    )
    field = FieldBoxSerializer(required=False, help_text="the field box in frame px")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    def correction(self) -> Correction:
        """The validated values as a :class:`~nanomark.imaging.calibration.Correction`."""
        data = self.validated_data
        box = data.get("field")
        return Correction(
            pixel_size_nm=data.get("pixel_size_nm"),
            field=FieldBox(**box) if box is not None else None,
            note=data["note"],
        )


class BatchCalibrationSerializer(CalibrationSerializer):
    """The same correction for every image of a sample, of an upload batch, or listed by id."""

    images = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=_MAX_PX),
        required=False,
        max_length=10_000,
        help_text="image ids",
    )
    sample = LabScopedRelatedField(queryset=Sample.objects.all(), required=False)
    upload_batch = serializers.RegexField(r"^[0-9a-f]{32}$", required=False)
    only_uncalibrated = serializers.BooleanField(
        default=False, help_text="leave images that have a pixel size alone"
    )

    def validate(self, attrs: dict) -> dict:
        chosen = [key for key in ("images", "sample", "upload_batch") if key in attrs]
        if len(chosen) != 1:
            raise serializers.ValidationError(
                "Name the images by exactly one of images, sample or upload_batch."
            )
        return attrs


class CalibrationChangeSerializer(serializers.ModelSerializer):
    """One recorded correction: who, when, old and new values."""

    changed_by = UsernameField()
    old_pixel_size_source = _pixel_size_source()
    new_pixel_size_source = _pixel_size_source()

    class Meta:
        model = CalibrationChange
        fields = [
            "id",
            "image",
            "changed_by",
            "changed_at",
            "old_pixel_size_nm",
            "new_pixel_size_nm",
            "old_pixel_size_source",
            "new_pixel_size_source",
            "old_field",
            "new_field",
            "note",
        ]
        read_only_fields = fields


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
            key = models_key_of(versions["classifier"], versions["segmenter"], versions["embedder"])
            runs = AnalysisRun.objects.filter(
                image=image, models_key=key, calibration_version=image.calibration_version
            )
            code = 200
        body = AnalysisRunSerializer(runs_with_results(runs), many=True)
        return Response(body.data, status=code)


class OrderLabelSerializer(serializers.ModelSerializer):
    """A user's judgement of an image: ordered or disordered."""

    image = LabScopedRelatedField(queryset=SEMImage.objects.all())
    annotator = UsernameField()

    class Meta:
        model = OrderLabel
        fields = [
            "id",
            "image",
            "label",
            "source",
            "annotator",
            "created_at",
            "note",
            "replaced_at",
        ]
        read_only_fields = ["source", "created_at", "replaced_at"]
        # One current label per annotator and image: a second post replaces it (see create()).
        validators: list = []


class OrderLabelFilter(django_filters.FilterSet):
    """Lab, image, label and source."""

    lab = django_filters.CharFilter(field_name="image__lab__slug", label="Lab (slug)")
    image = IdFilter(field_name="image_id")
    label = django_filters.ChoiceFilter(choices=OrderClass.choices)
    source = django_filters.ChoiceFilter(choices=AnnotationSource.choices)
    include_replaced = BooleanFilter(
        method="keep_all", label="Also labels replaced by a later one of the same annotator"
    )

    class Meta:
        model = OrderLabel
        fields = []

    def filter_queryset(self, queryset):
        """Current labels only, unless ``include_replaced=true``."""
        queryset = super().filter_queryset(queryset)
        return queryset if self.form.cleaned_data.get("include_replaced") else queryset.current()

    def keep_all(self, queryset, name, value):
        """Read by :meth:`filter_queryset`; filters nothing itself."""
        return queryset


class OrderLabelViewSet(
    LabScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin
):
    """Current order labels of the user's images (``?image=<id>``); posting labels an image.

    ``?include_replaced=true`` also lists labels replaced by a later one (a
    model's frozen training set may name them).
    """

    queryset = OrderLabel.objects.select_related("annotator")
    serializer_class = OrderLabelSerializer
    filterset_class = OrderLabelFilter
    ordering_fields = ["created_at"]
    lab_source = "image"

    @extend_schema(responses={201: OrderLabelSerializer, 200: OrderLabelSerializer})
    def create(self, request) -> Response:
        """Label an image as the requesting user: 201 for a first label, 200 for a change."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.check_lab_write(serializer.validated_data)
        data = serializer.validated_data
        label, created = OrderLabel.record(
            data["image"], request.user, data["label"], data.get("note", "")
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(self.get_serializer(label).data, status=code)


class DefectMaskSerializer(serializers.ModelSerializer):
    """A stored defect mask of an image (its four layers are PNG files)."""

    annotator = UsernameField()
    reviewer = UsernameField()
    layer_urls = serializers.SerializerMethodField()

    class Meta:
        model = DefectMask
        fields = [
            "id",
            "image",
            "source",
            "annotator",
            "reviewer",
            "reviewed_at",
            "created_at",
            "note",
            "layer_urls",
        ]
        read_only_fields = fields

    def get_layer_urls(self, mask: DefectMask) -> dict[str, str]:
        """Defect class → the lab-scoped URL of its layer PNG (0 background, 255 defect)."""
        request = self.context["request"]
        return {
            name: request.build_absolute_uri(reverse("defect-mask-layer", args=[mask.pk, name]))
            for name in DEFECT_CLASSES
        }


class DefectMaskUploadSerializer(serializers.Serializer):
    """The image, and either ``file`` (4 pages) or one file per defect class."""

    image = LabScopedRelatedField(queryset=SEMImage.objects.all())
    file = serializers.FileField(
        required=False, help_text=f"a TIFF with 4 pages: {', '.join(DEFECT_CLASSES)}"
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")

    def get_fields(self) -> dict:
        fields = super().get_fields()
        for name in DEFECT_CLASSES:
            fields[name] = serializers.FileField(required=False, help_text="one-layer PNG or TIFF")
        return fields

    def validate(self, attrs: dict) -> dict:
        layers = [name for name in DEFECT_CLASSES if name in attrs]
        if "file" in attrs and layers:
            raise serializers.ValidationError("Give either file or the layer files, not both.")
        if "file" not in attrs and len(layers) != len(DEFECT_CLASSES):
            missing = [name for name in DEFECT_CLASSES if name not in attrs]
            raise serializers.ValidationError(
                f"Give file (a 4-page TIFF) or all four layer files; missing {', '.join(missing)}."
            )
        return attrs

    def uploaded_files(self) -> list[tuple[str, bytes]]:
        """(name, bytes) of the mask file or of the layer files in class order."""
        data = self.validated_data
        uploads = [data["file"]] if "file" in data else [data[name] for name in DEFECT_CLASSES]
        return [(upload.name, upload.read()) for upload in uploads]


class DefectMaskFilter(django_filters.FilterSet):
    """Lab, image and source."""

    lab = django_filters.CharFilter(field_name="image__lab__slug", label="Lab (slug)")
    image = IdFilter(field_name="image_id")
    source = django_filters.ChoiceFilter(choices=AnnotationSource.choices)

    class Meta:
        model = DefectMask
        fields = []


class DefectMaskViewSet(
    LabScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin
):
    """Defect masks of the user's images; posting uploads one (multipart)."""

    queryset = DefectMask.objects.select_related("annotator", "reviewer")
    serializer_class = DefectMaskSerializer
    filterset_class = DefectMaskFilter
    ordering_fields = ["created_at"]
    parser_classes = [MultiPartParser, FormParser]
    lab_source = "image"

    @extend_schema(
        request={"multipart/form-data": DefectMaskUploadSerializer},
        responses={201: DefectMaskSerializer},
    )
    def create(self, request) -> Response:
        """Store a mask drawn by the requesting user; a file that does not fit is a 400."""
        upload = DefectMaskUploadSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        upload.is_valid(raise_exception=True)
        self.check_lab_write(upload.validated_data)
        image = upload.validated_data["image"]
        try:
            layers = read_mask_layers(upload.uploaded_files(), mask_sizes(image))
            mask = store_defect_mask(
                image, layers, annotator=request.user, note=upload.validated_data["note"]
            )
        except (MaskFileError, MaskRejected) as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.get_serializer(mask).data, status=status.HTTP_201_CREATED)


class CalibrationChangeFilter(django_filters.FilterSet):
    """Lab and image."""

    lab = django_filters.CharFilter(field_name="image__lab__slug", label="Lab (slug)")
    image = IdFilter(field_name="image_id")

    class Meta:
        model = CalibrationChange
        fields = []


class CalibrationChangeViewSet(LabScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Calibration corrections of the user's images, newest first (``?image=<id>``)."""

    queryset = CalibrationChange.objects.select_related("changed_by").order_by("-changed_at", "-pk")
    serializer_class = CalibrationChangeSerializer
    filterset_class = CalibrationChangeFilter
    ordering_fields = ["changed_at"]
