"""Sample pages: create / edit, CSV import, the sample page (the list is the results app's).

Every query is restricted to the user's labs (another lab's sample is a 404); writes
need a member's or admin's role in the sample's lab (viewers get a 403).
"""

import secrets

from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.views.generic import DetailView

from nanomark.accounts.labcontext import can_write, current_lab, require_write, user_labs
from nanomark.accounts.models import Lab
from nanomark.pagesections import render_sections
from nanomark.samples import csvimport, csvrows, csvsaving, csvtemplate
from nanomark.samples.choices import MaterialKind
from nanomark.samples.forms import CSVUploadForm, SampleForms
from nanomark.samples.models import Sample

#: Session key of the CSV waiting between its preview and its confirmation.
IMPORT_SESSION_KEY = "nanomark_sample_import"


def _writable_current_lab(request: HttpRequest) -> Lab:
    lab = current_lab(request)
    if lab is None:
        raise PermissionDenied("You are not a member of any lab.")
    require_write(request.user, lab.pk)
    return lab


@login_required
def sample_create(request: HttpRequest) -> HttpResponse:
    """New sample in the current lab, with its synthesis steps and properties."""
    lab = _writable_current_lab(request)
    return _edit(request, SampleForms(lab, data=request.POST or None))


@login_required
def sample_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a sample, its synthesis steps and properties."""
    sample = get_object_or_404(
        Sample.objects.restrict(request.user).select_related("lab", "material"), pk=pk
    )
    require_write(request.user, sample.lab_id)
    return _edit(request, SampleForms(sample.lab, instance=sample, data=request.POST or None))


def _edit(request: HttpRequest, editor: SampleForms) -> HttpResponse:
    if request.method == "POST" and editor.is_valid():
        sample = editor.save(request.user)
        if sample is not None:
            return redirect(sample)
    return render(request, "samples/sample_form.html", {"forms": editor})


def _import_page(request, lab, form, error="", status=200) -> HttpResponse:
    context = {
        "form": form,
        "error": error,
        "lab": lab,
        "max_mib": csvimport.MAX_CSV_BYTES / 2**20,
        "max_rows": csvimport.MAX_ROWS,
        "material_kinds": MaterialKind.choices,
    }
    return render(request, "samples/sample_import.html", context, status=status)


@login_required
def sample_import(request: HttpRequest) -> HttpResponse:
    """Upload a CSV of samples; a readable file is kept in the session for its preview."""
    lab = _writable_current_lab(request)
    form = CSVUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        data = upload.read()
        try:
            csvrows.read_csv(data)
        except csvimport.CSVImportError as error:
            form.add_error("file", str(error))
        else:
            request.session[IMPORT_SESSION_KEY] = {
                "token": secrets.token_urlsafe(16),
                "lab": lab.pk,
                "filename": upload.name,
                "csv": data.decode("utf-8-sig"),
            }
            return redirect("sample-import-preview")
    return _import_page(request, lab, form, status=400 if form.errors else 200)


def _pending_import(request: HttpRequest) -> tuple[dict | None, Lab | None]:
    """The CSV waiting for confirmation and its lab (checked writable), or (None, None)."""
    pending = request.session.get(IMPORT_SESSION_KEY)
    if not pending:
        return None, None
    lab = get_object_or_404(user_labs(request.user), pk=pending["lab"])
    require_write(request.user, lab.pk)
    return pending, lab


def _preview_page(request, pending, lab, error="", status=200) -> HttpResponse:
    preview = csvsaving.prepare_import(pending["csv"].encode(), lab)
    context = {"preview": preview, "pending": pending, "lab": lab, "error": error}
    return render(request, "samples/sample_import_preview.html", context, status=status)


@login_required
def sample_import_preview(request: HttpRequest) -> HttpResponse:
    """Every row of the uploaded CSV with its errors; confirmable when no row has any."""
    pending, lab = _pending_import(request)
    if pending is None:
        return redirect("sample-import")
    return _preview_page(request, pending, lab)


@require_POST
@login_required
def sample_import_confirm(request: HttpRequest) -> HttpResponse:
    """Import the previewed CSV in one transaction, or nothing if any row has an error."""
    pending, lab = _pending_import(request)
    if pending is None or not secrets.compare_digest(
        request.POST.get("token", ""), pending["token"]
    ):
        error = (
            "That preview is no longer current (it was imported, or another file was "
            "uploaded since): upload the file again."
        )
        lab = _writable_current_lab(request)
        return _import_page(request, lab, CSVUploadForm(), error=error, status=409)
    try:
        samples = csvsaving.save_import(pending["csv"].encode(), lab, request.user)
    except csvimport.CSVImportError as error:
        return _preview_page(request, pending, lab, error=str(error), status=409)
    del request.session[IMPORT_SESSION_KEY]
    return render(
        request,
        "samples/sample_import_done.html",
        {"samples": samples, "lab": lab, "filename": pending["filename"]},
    )


@login_required
def sample_import_template(request: HttpRequest) -> HttpResponse:
    """An example CSV with every column, to fill in."""
    response = HttpResponse(csvtemplate.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="nanomark-samples.csv"'
    return response


class SampleDetailView(LoginRequiredMixin, DetailView):
    """The sample, its synthesis and properties, and the sections of the apps above.

    The results app adds the images with their analyses, the computations app
    the simulations, xtb calculations and the provenance tree
    (``nanomark.pagesections``, registered in their ``apps.py``).
    """

    template_name = "samples/sample_detail.html"

    def get_queryset(self):
        return (
            Sample.objects.restrict(self.request.user)
            .select_related("lab", "material", "parent")
            .prefetch_related("syntheses__parameters", "properties", "children")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            can_edit=can_write(self.request.user, self.object.lab_id),
            sections=render_sections("sample-detail", self.request, self.object),
        )
        return context
