"""The sample list (the home page): the current lab's samples with their images' analyses.

The list belongs to the results app because its columns and one filter come
from the apps up to it: image counts from imaging, the mean current order score
and its range filter from results. The API's sample list annotates the same
image counts with :func:`nanomark.imaging.counts.with_image_counts`.
"""

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Avg, OuterRef, QuerySet, Subquery
from django_filters.views import FilterView

from nanomark.accounts.labcontext import current_lab
from nanomark.imaging.counts import with_image_counts
from nanomark.results.current import current_order_scores
from nanomark.results.filters import AnalysedSampleFilter
from nanomark.results.models import AnalysisRun
from nanomark.samples.models import Material, Sample


def with_list_columns(samples: QuerySet) -> QuerySet:
    """``samples`` with their image counts (:func:`with_image_counts`) and ``mean_order_score``.

    The order score is the mean over the images' current analyses, a correlated
    subquery like the counts: a page of samples is one query.
    """
    runs = AnalysisRun.objects.filter(image__sample=OuterRef(OuterRef("pk")))
    scores = current_order_scores(runs).order_by().values("run__image__sample")
    return with_image_counts(samples).annotate(
        mean_order_score=Subquery(scores.annotate(mean=Avg("score")).values("mean"))
    )


class SampleListView(LoginRequiredMixin, FilterView):
    """The current lab's samples, filtered with :class:`AnalysedSampleFilter`, 25 a page."""

    template_name = "results/sample_list.html"
    filterset_class = AnalysedSampleFilter
    paginate_by = 25

    def get_queryset(self):
        self.lab = current_lab(self.request)
        samples = Sample.objects.restrict(self.request.user).filter(lab=self.lab)
        return with_list_columns(samples.select_related("material")).order_by("code")

    def get_filterset(self, filterset_class):
        filterset = super().get_filterset(filterset_class)
        # The page shows the current lab only (the API filters by lab instead).
        del filterset.filters["lab"]
        filterset.filters["material"].queryset = Material.objects.filter(lab=self.lab)
        _dress_filter_form(filterset.form)
        return filterset


def _dress_filter_form(form) -> None:
    """Date pickers and range placeholders for the page's filter form."""
    fields = form.fields
    for name in ("created_after", "created_before"):
        fields[name].widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    for widget, bound in zip(fields["order_score"].widget.widgets, ("min", "max"), strict=True):
        widget.attrs.update(placeholder=bound, size=4, inputmode="decimal")
