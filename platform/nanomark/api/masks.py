"""API of defect masks: their upload (a 4-page TIFF or one file per class) and layer links."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from analysis.defects import DEFECT_CLASSES
from analysis.maskfile import MaskFileError, read_mask_layers
from nanomark.api.annotations import AnnotationViewSet
from nanomark.api.scoping import LabScopedRelatedField
from nanomark.api.users import UsernameField
from nanomark.imaging.filters import DefectMaskFilter
from nanomark.imaging.masks import MaskRejected, mask_sizes, store_defect_mask
from nanomark.imaging.models import DefectMask, SEMImage


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


class DefectMaskViewSet(AnnotationViewSet):
    """Defect masks of the user's images; posting uploads one (multipart)."""

    queryset = DefectMask.objects.select_related("annotator", "reviewer")
    serializer_class = DefectMaskSerializer
    filterset_class = DefectMaskFilter
    upload_serializer_class = DefectMaskUploadSerializer
    rejections = (MaskFileError, MaskRejected)

    @extend_schema(
        request={"multipart/form-data": DefectMaskUploadSerializer},
        responses={201: DefectMaskSerializer},
    )
    def create(self, request) -> Response:
        """Store a mask drawn by the requesting user; a file that does not fit is a 400."""
        return super().create(request)

    def store(self, upload: DefectMaskUploadSerializer, annotator) -> DefectMask:
        image = upload.validated_data["image"]
        layers = read_mask_layers(upload.uploaded_files(), mask_sizes(image))
        return store_defect_mask(
            image, layers, annotator=annotator, note=upload.validated_data["note"]
        )
