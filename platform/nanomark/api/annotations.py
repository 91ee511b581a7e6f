"""The API's annotation resources (defect masks, particle labels): list, show, upload one."""

from rest_framework import mixins, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from nanomark.api.scoping import LabScopedViewSet


class AnnotationViewSet(
    LabScopedViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin
):
    """Annotations of the user's images; posting uploads one (multipart) for an image.

    A subclass names its ``upload_serializer_class`` (with an ``image``
    field), the errors that mean the files do not fit (``rejections``: a 400
    with their message, nothing stored) and :meth:`store`. Its ``create``
    documents the upload body with ``extend_schema``.
    """

    ordering_fields = ["created_at"]
    parser_classes = [MultiPartParser, FormParser]
    lab_source = "image"
    upload_serializer_class: type[serializers.Serializer]
    rejections: tuple[type[Exception], ...]

    def create(self, request: Request) -> Response:
        """Store an annotation made by the requesting user; files that do not fit are a 400."""
        upload = self.upload_serializer_class(
            data=request.data, context=self.get_serializer_context()
        )
        upload.is_valid(raise_exception=True)
        self.check_lab_write(upload.validated_data)
        try:
            annotation = self.store(upload, request.user)
        except self.rejections as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(self.get_serializer(annotation).data, status=status.HTTP_201_CREATED)

    def store(self, upload: serializers.Serializer, annotator):
        """Read the validated upload's files and store the annotation (raising a rejection)."""
        raise NotImplementedError
