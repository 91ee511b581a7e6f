"""API of particle annotations: their upload (a particle mask or a CSV of centres) and files."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from nanomark.api.annotations import AnnotationViewSet
from nanomark.api.scoping import LabScopedRelatedField
from nanomark.api.users import UsernameField
from nanomark.imaging.filters import ParticleAnnotationFilter
from nanomark.imaging.models import ParticleAnnotation, SEMImage
from nanomark.imaging.particleannotations import (
    ParticleLabelsRejected,
    read_particle_upload,
    store_particle_annotation,
)


class ParticleAnnotationSerializer(serializers.ModelSerializer):
    """Hand-labelled particles of an image, with links to their CSV and mask."""

    annotator = UsernameField()
    reviewer = UsernameField()
    particles_url = serializers.SerializerMethodField()
    mask_url = serializers.SerializerMethodField()

    class Meta:
        model = ParticleAnnotation
        fields = [
            "id",
            "image",
            "count",
            "source",
            "annotator",
            "reviewer",
            "reviewed_at",
            "created_at",
            "note",
            "particles_url",
            "mask_url",
        ]
        read_only_fields = fields

    def get_particles_url(self, annotation: ParticleAnnotation) -> str:
        """Lab-scoped URL of the CSV ``x_px,y_px,diameter_px`` (frame pixels)."""
        url = reverse("particle-annotation-csv", args=[annotation.pk])
        return self.context["request"].build_absolute_uri(url)

    def get_mask_url(self, annotation: ParticleAnnotation) -> str | None:
        """Lab-scoped URL of the mask PNG (255 = particle); null for labels given as a CSV."""
        if not annotation.mask:
            return None
        url = reverse("particle-annotation-mask", args=[annotation.pk])
        return self.context["request"].build_absolute_uri(url)


class ParticleAnnotationUploadSerializer(serializers.Serializer):
    """The image and one file: a particle mask (PNG/TIFF) or a ``.csv`` of centres."""

    image = LabScopedRelatedField(queryset=SEMImage.objects.all())
    file = serializers.FileField(
        help_text=(
            "a mask of the frame or the field (any non-black pixel is particle), or a CSV "
            "x_px,y_px,diameter_px (or diameter_nm) in frame pixels"
        )
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ParticleAnnotationViewSet(AnnotationViewSet):
    """Particle annotations of the user's images; posting uploads one (multipart)."""

    queryset = ParticleAnnotation.objects.select_related("annotator", "reviewer")
    serializer_class = ParticleAnnotationSerializer
    filterset_class = ParticleAnnotationFilter
    upload_serializer_class = ParticleAnnotationUploadSerializer
    rejections = (ParticleLabelsRejected,)

    @extend_schema(
        request={"multipart/form-data": ParticleAnnotationUploadSerializer},
        responses={201: ParticleAnnotationSerializer},
    )
    def create(self, request) -> Response:
        """Store particles labelled by the requesting user; a file that does not fit is a 400."""
        return super().create(request)

    def store(self, upload: ParticleAnnotationUploadSerializer, annotator) -> ParticleAnnotation:
        image, file = upload.validated_data["image"], upload.validated_data["file"]
        mask, particles = read_particle_upload(image, file.name, file.read())
        return store_particle_annotation(
            image, particles, mask=mask, annotator=annotator, note=upload.validated_data["note"]
        )
