"""Image pages and lab-scoped file downloads (media is never served publicly)."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import FileResponse, HttpRequest
from django.shortcuts import get_object_or_404
from django.views.generic import DetailView

from nanomark.imaging.models import SEMImage
from nanomark.imaging.storage import EXTENSIONS


class ImageDetailView(LoginRequiredMixin, DetailView):
    template_name = "imaging/image_detail.html"
    context_object_name = "image"

    def get_queryset(self):
        return (
            SEMImage.objects.restrict(self.request.user)
            .select_related("sample", "lab")
            .prefetch_related("order_labels", "defect_masks")
        )


@login_required
def image_file(request: HttpRequest, pk: int, field: str) -> FileResponse:
    """Stream one of an image's files; another lab's image is a 404."""
    image = get_object_or_404(SEMImage.objects.restrict(request.user), pk=pk)
    if field == "original":
        stem = image.original_filename.rsplit(".", 1)[0] or f"image-{image.pk}"
        return FileResponse(
            getattr(image, field).open("rb"),
            as_attachment=True,
            filename=f"{stem}.{EXTENSIONS[image.format]}",
        )
    return FileResponse(getattr(image, field).open("rb"), content_type="image/png")
