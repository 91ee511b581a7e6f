"""API of order labels: users' judgements of images, ordered or disordered."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from nanomark.api.scoping import LabScopedRelatedField, LabScopedViewSet
from nanomark.api.users import UsernameField
from nanomark.imaging.filters import OrderLabelFilter
from nanomark.imaging.models import OrderLabel, SEMImage


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
