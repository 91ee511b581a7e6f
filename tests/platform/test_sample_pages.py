"""Sample pages: the lab's list with filters, create / edit with synthesis and properties,
and the sample page with its analyses, simulations, xtb calculations and provenance.
"""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nanomark.accounts.choices import Role
from nanomark.accounts.labcontext import SESSION_KEY
from nanomark.accounts.models import Membership
from nanomark.computations.models import AdsorptionEnergy, MonteCarloRun, XtbCalculation
from nanomark.imaging.models import DefectMask, OrderLabel, SEMImage
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.results.models import AnalysisRun, DefectStatistic, OrderScore, ParticleStatistics
from nanomark.runs import RunStatus
from nanomark.samples.models import (
    Material,
    PropertyMeasurement,
    Sample,
    Synthesis,
    SynthesisParameter,
)
from tests.platform.html import (
    external_urls,
    list_items,
    parse_html,
    table_after,
    table_rows,
)
from tests.platform.rows import image_row

pytestmark = pytest.mark.django_db


def make_image(sample, name="a.png") -> SEMImage:
    return image_row(sample, name, width_px=100, height_px=80, pixel_size_nm=2.0)


def analyse(image, score, day=1, name=None, status=RunStatus.SUCCEEDED) -> AnalysisRun:
    """A run of ``image`` with its own classifier version (the run key includes it)."""
    classifier = ModelVersion.objects.create(
        lab=image.lab,
        task=ModelTask.ORDER_CLASSIFIER,
        name=name or f"clf-{image.pk}-{day}",
    )
    run = AnalysisRun.objects.create(
        lab=image.lab,
        image=image,
        classifier=classifier,
        status=status,
        finished_at=datetime(2026, 1, day, tzinfo=UTC),
    )
    if status == RunStatus.SUCCEEDED:
        OrderScore.objects.create(run=run, score=score)
    return run


def page_codes(response) -> list[str]:
    return [sample.code for sample in response.context["sample_list"]]


def captions(page) -> list[str]:
    """The gallery's captions: file name, order score, analysis status, pixel size, a line each."""
    return [
        figure.find("figcaption").text()
        for figure in page.find("div", "gallery").find_all("figure")
    ]


def provenance_tree(page) -> list[str]:
    """The provenance tree's items as "kind: text", indented two spaces per level."""
    lines = []
    for depth, item in list_items(page.find("ul", "provenance")):
        kind = item.find("span", "kind").text()
        text = item.text(skip=("ul",)).removeprefix(kind)
        lines.append(f"{'  ' * depth}{kind}: {text}")
    return lines


# --- list ---------------------------------------------------------------------


def test_the_list_shows_the_current_labs_samples_only(client, labs):
    Membership.objects.create(user=labs["alice"], lab=labs["b"], role=Role.VIEWER)
    Sample.objects.create(lab=labs["b"], code="B2", material=labs["sample_b"].material)
    client.force_login(labs["alice"])
    assert page_codes(client.get(reverse("home"))) == ["S1"]
    session = client.session
    session[SESSION_KEY] = labs["b"].pk
    session.save()
    response = client.get(reverse("home"))
    assert page_codes(response) == ["B2", "S1"]
    assert not response.context["can_write"]  # alice is a viewer in lab B
    assert b"Import CSV" not in response.content
    client.force_login(labs["bob"])
    assert page_codes(client.get(reverse("home"))) == ["B2", "S1"]


def test_the_list_filters_and_offers_the_current_labs_materials(client, labs):
    sample_a = labs["sample_a"]
    cnt = Material.objects.create(lab=labs["a"], name="MWCNT", kind="cnt")
    tube = Sample.objects.create(lab=labs["a"], code="T1", material=cnt, description="long tubes")
    Synthesis.objects.create(sample=tube, precursor="Pd2dba3", temperature_c=80)
    analyse(make_image(tube), 0.9)
    analyse(make_image(sample_a), 0.2)
    client.force_login(labs["alice"])

    def codes(**params):
        return page_codes(client.get(reverse("home"), params))

    assert codes() == ["S1", "T1"]
    assert codes(q="tubes") == ["T1"]
    assert codes(material_kind="graphite") == ["S1"]
    assert codes(material=cnt.pk) == ["T1"]
    assert codes(temperature_min=50) == ["T1"]
    assert codes(order_score_min=0.5) == ["T1"]
    assert codes(order_score_max=0.5) == ["S1"]
    assert codes(order_score_min="abc") == []  # an invalid filter shows nothing, not a 500
    today = tube.created_at.date().isoformat()
    assert codes(created_after=today, created_before=today) == ["S1", "T1"]
    assert codes(created_after="2999-01-01") == []
    choices = client.get(reverse("home")).context["filter"].form.fields["material"].queryset
    assert set(choices) == {sample_a.material, cnt}  # not lab B's Graphite


def test_the_list_paginates_and_keeps_the_filters(client, labs):
    material = labs["sample_a"].material
    Sample.objects.bulk_create(
        Sample(lab=labs["a"], code=f"X{i:02d}", material=material) for i in range(30)
    )
    client.force_login(labs["alice"])
    first = client.get(reverse("home"), {"q": "X"})
    assert first.context["paginator"].count == 30
    assert len(page_codes(first)) == 25
    pages = parse_html(first.content.decode()).find("nav", "pagination")
    assert pages.text() == "page 1 of 2 next → last »"
    assert [link.attrs["href"] for link in pages.find_all("a")] == ["?q=X&page=2"] * 2
    second = client.get(reverse("home"), {"q": "X", "page": 2})
    assert page_codes(second) == [f"X{i:02d}" for i in range(25, 30)]


def test_the_list_shows_image_counts_and_mean_current_scores(client, labs):
    sample = labs["sample_a"]
    first, second = make_image(sample, "1.png"), make_image(sample, "2.png")
    analyse(first, 0.9, day=1)
    analyse(first, 0.2, day=2)  # the newer run is the current one
    analyse(second, 0.6, day=1)
    analyse(second, 0.0, day=3, status=RunStatus.FAILED)  # failed runs never count
    client.force_login(labs["alice"])
    response = client.get(reverse("home"))
    (row,) = response.context["sample_list"]
    assert row.image_count == 2
    assert row.mean_order_score == pytest.approx(0.4)
    created = f"{sample.created_at:%Y-%m-%d}"
    assert table_rows(parse_html(response.content.decode()).find("table")) == [
        ["Code", "Material", "Images", "Mean order score", "Created"],
        ["S1", "Graphite (Graphite)", "2", "0.400", created],
    ]


def test_the_list_takes_a_constant_number_of_queries(client, labs, django_assert_max_num_queries):
    material = labs["sample_a"].material

    def add_samples(count, start):
        for i in range(start, start + count):
            sample = Sample.objects.create(lab=labs["a"], code=f"Q{i:02d}", material=material)
            for name in ("1.png", "2.png"):
                analyse(make_image(sample, name), 0.5)

    client.force_login(labs["alice"])
    add_samples(2, 0)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("home"), {"q": "Q"})
    add_samples(20, 2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("home"), {"q": "Q"})
    assert len(response.context["sample_list"]) == 22


# --- create and edit ------------------------------------------------------------


def management(prefix, total=0, initial=0):
    return {f"{prefix}-TOTAL_FORMS": total, f"{prefix}-INITIAL_FORMS": initial}


def create_data(**overrides):
    """POST data of a new sample with one synthesis step, one parameter and one property."""
    data = {
        "code": "N1",
        "material": "",
        "new_material_name": "",
        "new_material_kind": "other",
        "description": "decorated",
        **management("syntheses", 1),
        "syntheses-0-kind": "pd_decoration",
        "syntheses-0-precursor": "Pd2dba3",
        "syntheses-0-temperature_c": "80",
        "syntheses-0-duration_min": "3",
        **management("syntheses-0-parameters", 1),
        "syntheses-0-parameters-0-name": "stirring rate",
        "syntheses-0-parameters-0-value": "300",
        "syntheses-0-parameters-0-unit": "rpm",
        **management("properties", 1),
        "properties-0-name": "BET surface area",
        "properties-0-value": "12.5",
        "properties-0-unit": "m2/g",
    }
    data.update(overrides)
    return data


def test_a_member_creates_a_sample_with_synthesis_and_properties(client, labs):
    client.force_login(labs["alice"])
    assert client.get(reverse("sample-create")).status_code == 200
    data = create_data(material=labs["sample_a"].material_id)
    response = client.post(reverse("sample-create"), data)
    sample = Sample.objects.get(lab=labs["a"], code="N1")
    assert response.status_code == 302
    assert response["Location"] == sample.get_absolute_url()
    assert (sample.material, sample.created_by) == (labs["sample_a"].material, labs["alice"])
    step = sample.syntheses.get()
    assert (step.precursor, step.temperature_c, step.duration_min) == ("Pd2dba3", 80.0, 3.0)
    assert [(p.name, p.value, p.unit) for p in step.parameters.all()] == [
        ("stirring rate", 300.0, "rpm")
    ]
    assert [(p.name, p.value) for p in sample.properties.all()] == [("BET surface area", 12.5)]


def test_a_new_material_is_created_with_the_sample(client, labs):
    client.force_login(labs["alice"])
    data = create_data(new_material_name="rGO 2", new_material_kind="graphene_oxide")
    assert client.post(reverse("sample-create"), data).status_code == 302
    sample = Sample.objects.get(lab=labs["a"], code="N1")
    assert (sample.material.name, sample.material.kind, sample.material.lab) == (
        "rGO 2",
        "graphene_oxide",
        labs["a"],
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"code": "S1"}, "code", "Lab A already has a sample S1."),
        ({"material": ""}, "material", "Choose a material or name a new one."),
        ({"new_material_name": "Graphite"}, "new_material_name", "choose it in the list"),
        ({"new_material_name": "Other"}, "new_material_name", "not both"),
    ],
)
def test_sample_errors_are_shown_and_nothing_is_saved(client, labs, overrides, field, message):
    client.force_login(labs["alice"])
    data = create_data(material=labs["sample_a"].material_id)
    if field == "new_material_name" and overrides["new_material_name"] == "Graphite":
        data["material"] = ""
    data.update(overrides)
    materials = Material.objects.count()
    response = client.post(reverse("sample-create"), data)
    assert response.status_code == 200
    errors = response.context["forms"].sample.errors[field]
    assert any(message in error for error in errors), errors
    fields = parse_html(response.content.decode()).find("fieldset").find("div", "fields")
    (shown,) = [
        div.find("ul", "errorlist").text()
        for div in fields.find_all("div")
        if div.find("label").attrs["for"] == f"id_{field}"
    ]
    assert message in shown  # next to its field
    assert not Synthesis.objects.exists()
    assert Material.objects.count() == materials
    assert list(Sample.objects.filter(lab=labs["a"]).values_list("code", flat=True)) == ["S1"]


def test_synthesis_and_property_errors_are_shown_next_to_their_fields(client, labs):
    client.force_login(labs["alice"])
    data = create_data(
        material=labs["sample_a"].material_id,
        **{"syntheses-0-temperature_c": "-300", "properties-0-value": "a lot"},
    )
    response = client.post(reverse("sample-create"), data)
    forms = response.context["forms"]
    assert response.status_code == 200
    assert "greater than or equal to -273.15" in forms.syntheses.forms[0].errors["temperature_c"][0]
    assert forms.properties.forms[0].errors["value"] == ["Enter a number."]
    assert not Sample.objects.filter(code="N1").exists()


def test_repeated_parameter_names_are_an_error(client, labs):
    client.force_login(labs["alice"])
    data = create_data(
        material=labs["sample_a"].material_id,
        **management("syntheses-0-parameters", 2),
        **{"syntheses-0-parameters-1-name": "stirring rate", "syntheses-0-parameters-1-value": "5"},
    )
    response = client.post(reverse("sample-create"), data)
    assert response.status_code == 200
    assert response.context["forms"].syntheses.forms[0].parameters.non_form_errors()
    assert not Sample.objects.filter(code="N1").exists()


def test_a_member_edits_a_sample_its_steps_and_properties(client, labs):
    sample = labs["sample_a"]
    step = Synthesis.objects.create(sample=sample, precursor="Pd2dba3", temperature_c=80)
    kept = PropertyMeasurement.objects.create(sample=sample, name="BET", value=10.0)
    dropped = PropertyMeasurement.objects.create(sample=sample, name="XPS C/O", value=20.0)
    client.force_login(labs["alice"])
    form = client.get(reverse("sample-edit", args=[sample.pk])).context["forms"]
    assert form.sample.initial["material"] == sample.material_id
    data = {
        "code": "S1-b",
        "material": sample.material_id,
        "description": "",
        **management("syntheses", 1, 1),
        "syntheses-0-id": step.pk,
        "syntheses-0-sample": sample.pk,
        "syntheses-0-kind": "pd_decoration",
        "syntheses-0-precursor": "Pd2dba3",
        "syntheses-0-temperature_c": "60",
        **management("syntheses-0-parameters", 1),
        "syntheses-0-parameters-0-name": "stirring rate",
        "syntheses-0-parameters-0-value": "300",
        **management("properties", 2, 2),
        "properties-0-id": kept.pk,
        "properties-0-name": "BET",
        "properties-0-value": "11",
        "properties-1-id": dropped.pk,
        "properties-1-name": "XPS C/O",
        "properties-1-value": "20",
        "properties-1-DELETE": "on",
    }
    response = client.post(reverse("sample-edit", args=[sample.pk]), data)
    assert response.status_code == 302
    sample.refresh_from_db()
    step.refresh_from_db()
    assert sample.code == "S1-b"
    assert step.temperature_c == 60.0
    assert list(SynthesisParameter.objects.values_list("synthesis", "name")) == [
        (step.pk, "stirring rate")
    ]
    assert list(sample.properties.values_list("name", "value")) == [("BET", 11.0)]


def test_viewers_may_not_create_or_edit(client, labs):
    client.force_login(labs["charlie"])
    edit = reverse("sample-edit", args=[labs["sample_a"].pk])
    data = create_data(material=labs["sample_a"].material_id)
    for url in (reverse("sample-create"), edit):
        assert client.get(url).status_code == 403
        assert client.post(url, data).status_code == 403
    assert not Sample.objects.filter(code="N1").exists()
    detail = client.get(labs["sample_a"].get_absolute_url())
    assert detail.status_code == 200
    assert edit.encode() not in detail.content


def test_another_labs_sample_is_a_404(client, labs):
    client.force_login(labs["bob"])
    sample = labs["sample_a"]
    assert client.get(sample.get_absolute_url()).status_code == 404
    assert client.get(reverse("sample-edit", args=[sample.pk])).status_code == 404
    data = create_data(material=labs["sample_b"].material_id, code="stolen")
    assert client.post(reverse("sample-edit", args=[sample.pk]), data).status_code == 404
    sample.refresh_from_db()
    assert sample.code == "S1"


def test_another_labs_material_cannot_be_chosen(client, labs):
    client.force_login(labs["alice"])
    data = create_data(material=labs["sample_b"].material_id)
    response = client.post(reverse("sample-create"), data)
    assert "material" in response.context["forms"].sample.errors
    assert not Sample.objects.filter(code="N1").exists()


# --- the sample page --------------------------------------------------------------


def analysed_image(sample, name, score, lengths_nm=(120.0, 40.0, 10.0)):
    """An image with an older run and a current run carrying scores and statistics."""
    image = make_image(sample, name)
    analyse(image, 0.99, day=1)
    run = analyse(image, score, day=2)
    for defect_class, length in zip(
        ("sheet_border", "grain_boundary", "topological_defect"), lengths_nm, strict=True
    ):
        DefectStatistic.objects.create(
            run=run,
            defect_class=defect_class,
            area_fraction=0.0125,
            skeleton_length_nm=length,
            segment_count=3,
            branch_point_count=1,
        )
    DefectStatistic.objects.create(
        run=run,
        defect_class="point_defect",
        area_fraction=0.002,
        cluster_count=7,
        density_per_um2=218.75,
    )
    ParticleStatistics.objects.create(
        run=run, count=321, density_per_um2=4012.5, mean_diameter_nm=2.75, clark_evans_r=0.612
    )
    OrderLabel.objects.create(image=image, label="ordered", annotator=sample.created_by)
    mask = DefectMask.objects.create(image=image, sheet_border="m.png", annotator=None)
    return image, run, mask


def simulations(sample, image, run, mask, index):
    """A Monte Carlo run on the mask, one on the segmentation, with an adsorption energy."""
    calcs = [
        XtbCalculation.objects.create(
            lab=sample.lab, name=f"{part} {index}", task="opt", input_xyz="1\n\nPd 0 0 0\n"
        )
        for part in ("Pd4 on C54", "Pd4", "C54")
    ]
    energy = AdsorptionEnergy.objects.create(
        lab=sample.lab,
        site="zigzag_edge",
        complex_calculation=calcs[0],
        cluster_calculation=calcs[1],
        surface_calculation=calcs[2],
        energy_kcal_mol=-42.5,
        electronic_temperature_k=300,
    )
    on_mask = MonteCarloRun.objects.create(
        lab=sample.lab, sample=sample, source_image=image, defect_mask=mask, clark_evans_r=0.5
    )
    on_mask.adsorption_energies.add(energy)
    MonteCarloRun.objects.create(
        lab=sample.lab, sample=sample, source_image=image, segmentation_run=run
    )


def test_the_sample_page_shows_analyses_simulations_and_provenance(client, labs):
    sample = labs["sample_a"]
    sample.created_by = labs["alice"]
    sample.save()
    Synthesis.objects.create(sample=sample, precursor="Pd2dba3", temperature_c=80)
    PropertyMeasurement.objects.create(
        sample=sample, name="BET surface area", value=12.5, unit="m2/g", method="N2, 77 K"
    )
    image, run, mask = analysed_image(sample, "flake.png", 0.8124)
    simulations(sample, image, run, mask, 0)
    XtbCalculation.objects.create(
        lab=sample.lab, sample=sample, name="Pd13 on flake", task="sp", input_xyz="x"
    )
    XtbCalculation.objects.create(lab=labs["b"], name="lab B secret", task="sp", input_xyz="x")
    client.force_login(labs["alice"])
    response = client.get(sample.get_absolute_url())
    html = response.content.decode()
    page = parse_html(html)
    on_mask = MonteCarloRun.objects.get(defect_mask=mask)
    on_prediction = MonteCarloRun.objects.get(segmentation_run=run)
    label = OrderLabel.objects.get(image=image)

    assert table_after(page, "Synthesis") == [
        ["Step", "Pd nanoparticle decoration"],
        ["Precursor", "Pd2dba3"],
        ["Support", ""],
        ["Solvent", ""],
        ["Temperature", "80.0 °C"],
        ["Duration", ""],
    ]
    assert table_after(page, "Properties")[1:] == [
        ["BET surface area", "12.5 m2/g", "N2, 77 K", ""]
    ]
    (row,) = response.context["image_rows"]
    assert row.current == run  # the newer of the two succeeded runs
    # The gallery and the provenance show the current score, not the older run's 0.99.
    assert captions(page) == ["flake.png\nS = 0.812\nanalysis succeeded\n2.000 nm/px"]
    assert "S = 0.990" not in html
    (thumbnail,) = page.find("div", "gallery").find_all("img")
    assert thumbnail.attrs["src"] == reverse("image-thumbnail", args=[image.pk])
    assert table_after(page, "Defect statistics")[1:] == [
        ["flake.png", "Sheet borders", "0.0125", "120.0", "3", "1", "", ""],
        ["", "Grain boundaries", "0.0125", "40.0", "3", "1", "", ""],
        ["", "Topological defects", "0.0125", "10.0", "3", "1", "", ""],
        ["", "Point defects", "0.0020", "", "", "", "7", "218.750"],
    ]
    assert table_after(page, "Particles")[1:] == [
        ["flake.png", "321", "4012.500", "2.75", "0.612", "LoG"]
    ]
    assert reverse("plotly-js") in [script.attrs.get("src") for script in page.find_all("script")]
    assert len(page.find_all("div", "plotly-graph-div")) == 2
    assert external_urls(html) == []  # plotly is served by NanoMark, not a CDN
    assert table_after(page, "Monte Carlo depositions")[1:] == [
        [str(on_prediction.pk), "flake.png", f"segmentation of run {run.pk}", "Queued", "", ""],
        [str(on_mask.pk), "flake.png", f"mask {mask.pk}", "Queued", "", "0.500"],
    ]
    via = f"Monte Carlo run {on_mask.pk}"
    assert table_after(page, "xtb calculations")[1:] == [  # not lab B's secret
        ["Pd13 on flake", "Single point", "Queued", "", "this sample"],
        ["C54 0", "Geometry optimisation", "Queued", "", via],
        ["Pd4 0", "Geometry optimisation", "Queued", "", via],
        ["Pd4 on C54 0", "Geometry optimisation", "Queued", "", via],
    ]
    # Provenance: label, mask -> simulation -> xtb, prediction with its model version.
    assert provenance_tree(page) == [
        "synthesis: Pd nanoparticle decoration, Pd2dba3, 80.0 °C",
        "  sample: S1 — Graphite",
        "    image: flake.png",
        f"      label: Ordered — alice, {label.created_at:%Y-%m-%d}",
        f"      mask: defect mask {mask.pk} — Human annotator",
        f"        simulation: Monte Carlo run {on_mask.pk} (queued, Clark–Evans R 0.500)",
        "          xtb: Zigzag edge: -42.5 kcal/mol from Pd4 on C54 0, Pd4 0, C54 0",
        f"      prediction: analysis run {run.pk}: S = 0.812, 2026-01-02 00:00 — models:"
        f" classifier {run.classifier.name} (version {run.classifier_id})",
        f"        simulation: Monte Carlo run {on_prediction.pk} (queued)",
        "    xtb: Pd13 on flake (Single point, queued)",
    ]
    assert f"classifier <em>{run.classifier.name}</em> (version {run.classifier_id})" in html
    calcs = {calc.name: calc.via for calc in response.context["xtb_calculations"]}
    assert calcs["Pd13 on flake"] == "this sample"
    assert calcs["Pd4 0"].startswith("Monte Carlo run ")
    assert "lab B secret" not in calcs
    assert len(response.context["monte_carlo_runs"]) == 2
    (provenance,) = response.context["provenance"]
    assert provenance.analyses.image == image
    assert [r.segmentation_run_id for r in provenance.prediction_runs] == [run.pk]
    assert [r.defect_mask_id for r in provenance.masks[0][1]] == [mask.pk]


def test_an_image_being_analysed_shows_its_status(client, labs):
    image = make_image(labs["sample_a"])
    analyse(image, 0.5, status=RunStatus.QUEUED)
    client.force_login(labs["alice"])
    response = client.get(labs["sample_a"].get_absolute_url())
    page = parse_html(response.content.decode())
    assert captions(page) == ["a.png\nno order score\nanalysis queued\n2.000 nm/px"]
    assert page.find("div", "gallery").find("span", "status-queued").text() == "analysis queued"
    assert response.context["score_plot"] == ""


def test_the_sample_page_takes_a_constant_number_of_queries(
    client, labs, django_assert_max_num_queries
):
    sample = labs["sample_a"]
    client.force_login(labs["alice"])

    def add_images(count, start):
        for index in range(start, start + count):
            image, run, mask = analysed_image(sample, f"{index}.png", 0.5)
            simulations(sample, image, run, mask, index)

    add_images(2, 0)
    with CaptureQueriesContext(connection) as two:
        client.get(sample.get_absolute_url())
    add_images(4, 2)
    with django_assert_max_num_queries(len(two.captured_queries)):
        response = client.get(sample.get_absolute_url())
    assert len(response.context["image_rows"]) == 6
    assert len(response.context["monte_carlo_runs"]) == 12
