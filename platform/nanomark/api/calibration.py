"""API of calibration corrections: the requests (one image or many) and the changes recorded."""

from rest_framework import mixins, serializers

from analysis.databar import FieldBox
from nanomark.api.scoping import LabScopedRelatedField, LabScopedViewSet
from nanomark.api.users import UsernameField
from nanomark.imaging.calibration import Correction
from nanomark.imaging.choices import PixelSizeSource
from nanomark.imaging.filters import CalibrationChangeFilter
from nanomark.imaging.models import CalibrationChange
from nanomark.samples.models import Sample

_MAX_PX = 2**31 - 1


class FieldBoxSerializer(serializers.Serializer):
    """A rectangle of the frame in px: the field (specimen area, data bar excluded)."""

    x_px = serializers.IntegerField(min_value=0, max_value=_MAX_PX)
    y_px = serializers.IntegerField(min_value=0, max_value=_MAX_PX)
    width_px = serializers.IntegerField(min_value=1, max_value=_MAX_PX)
    height_px = serializers.IntegerField(min_value=1, max_value=_MAX_PX)


def pixel_size_source_field() -> serializers.ChoiceField:
    """A read-only pixel-size source: one of :class:`PixelSizeSource`, or "" when unknown."""
    return serializers.ChoiceField(
        choices=PixelSizeSource.choices, allow_blank=True, read_only=True
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
    old_pixel_size_source = pixel_size_source_field()
    new_pixel_size_source = pixel_size_source_field()

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


class CalibrationChangeViewSet(LabScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Calibration corrections of the user's images, newest first (``?image=<id>``)."""

    queryset = CalibrationChange.objects.select_related("changed_by").order_by("-changed_at", "-pk")
    serializer_class = CalibrationChangeSerializer
    filterset_class = CalibrationChangeFilter
    ordering_fields = ["changed_at"]
