"""Sample pages: every queryset is restricted to the user's labs."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Count
from django.views.generic import DetailView, ListView

from nanomark.samples.models import Sample


class SampleListView(LoginRequiredMixin, ListView):
    template_name = "samples/sample_list.html"
    paginate_by = 50

    def get_queryset(self):
        return (
            Sample.objects.restrict(self.request.user)
            .select_related("lab", "material")
            .annotate(image_count=Count("images"))
            .order_by("lab__name", "code")
        )


class SampleDetailView(LoginRequiredMixin, DetailView):
    template_name = "samples/sample_detail.html"

    def get_queryset(self):
        return (
            Sample.objects.restrict(self.request.user)
            .select_related("lab", "material", "parent")
            .prefetch_related(
                "syntheses__parameters",
                "properties",
                "images",
                "children",
                "monte_carlo_runs__source_image",
            )
        )
