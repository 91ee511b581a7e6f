"""CSV import of samples: parsing with per-row errors, the preview page, and the confirmation.

An import only adds samples (an existing code is an error) and saves every row or none.
"""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from nanomark.samples.csvimport import MAX_CSV_BYTES, CSVImportError
from nanomark.samples.csvrows import read_csv
from nanomark.samples.csvsaving import prepare_import, save_import
from nanomark.samples.csvtemplate import template_csv
from nanomark.samples.models import Material, PropertyMeasurement, Sample, Synthesis
from nanomark.samples.views import IMPORT_SESSION_KEY

pytestmark = pytest.mark.django_db

HEADER = "code,material,material_kind,temperature_c,performed_on,prop:BET surface area [m2/g]"


def csv_bytes(*lines: str, encoding="utf-8") -> bytes:
    return "\r\n".join(lines).encode(encoding)


def errors_by_line(preview) -> dict[int, list[str]]:
    return {row.line: row.errors for row in preview.rows if row.errors}


# --- parsing ------------------------------------------------------------------------


def test_a_semicolon_file_with_bom_decimal_commas_and_empty_lines():
    data = "\ufeff" + "\n".join(
        [
            "Code;Material;Material_Kind;Temperature_C;Performed_On;prop:BET surface area [m2/g]",
            "",
            "N1;Graphite;;80,5;2024-05-02;12,25",
            ";;;;;",
            "N2;MWCNT;Carbon nanotubes;;;",
            "",
        ]
    )
    preview = read_csv(data.encode())
    assert preview.delimiter == ";"
    assert [(row.line, row.code, row.material_kind) for row in preview.rows] == [
        (3, "N1", ""),
        (5, "N2", "cnt"),
    ]
    first, second = preview.rows
    assert first.synthesis["temperature_c"] == 80.5
    assert first.synthesis["performed_on"].isoformat() == "2024-05-02"
    (column, value), *_ = first.properties
    assert (column.name, column.unit, value) == ("BET surface area", "m2/g", 12.25)
    assert (second.synthesis, second.properties, second.errors) == ({}, [], [])


def test_row_errors_are_listed_per_line():
    preview = read_csv(
        csv_bytes(
            HEADER,
            "N1,Graphite,graphite,hot,2024-05-02,12",
            "N2,Graphite,diamond,80,02/05/2024,",
            "N1,Graphite,,-300,,many",
            ",,,,,",
            ",Graphite,,,,",
            "N5,Graphite,,,,,extra cell",
        )
    )
    errors = errors_by_line(preview)
    assert errors[2] == ["temperature_c: Enter a number. (got 'hot')"]
    assert errors[3][0].startswith("material_kind: unknown kind 'diamond'; expected one of ")
    assert errors[3][1] == "performed_on: Enter a valid date. (got '02/05/2024')"
    assert "temperature_c: Ensure this value is greater than or equal to -273.15" in errors[4][0]
    assert errors[4][1].startswith("prop:BET surface area [m2/g]: Enter a number.")
    assert errors[4][2] == "code: N1 is also on line 2."
    assert 5 not in errors  # an all-empty line is skipped
    assert errors[6] == ["code: This field is required."]
    assert errors[7] == ["7 cells, but the header has 6 columns."]
    assert [row.line for row in preview.rows] == [2, 3, 4, 6, 7]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"\n\n", "The file is empty."),
        (HEADER.encode(), "a header but no samples"),
        (b"code,description\nS9,x", "missing required column(s) material"),
        (b"code,material,temprature_c\nS9,G,1", "unknown column 'temprature_c'"),
        (b"code,material,code\nS9,G,S9", "repeated column(s) code"),
        (b"code,material,prop: [mg]\nS9,G,1", "is not 'prop:<name> [<unit>]'"),
        ("code,material\nS9,Graphit\xe9".encode("latin-1"), "not UTF-8 text (byte 0xe9"),
        (b"code,material\n" + b"S,G\n" * (MAX_CSV_BYTES // 4), "the limit is 2,097,152 bytes"),
    ],
)
def test_files_that_cannot_be_read_are_refused_with_a_reason(data, message):
    with pytest.raises(CSVImportError, match=re.escape(message)):
        read_csv(data)


def test_lab_checks_existing_codes_and_material_kinds(labs):
    lab = labs["a"]
    preview = prepare_import(
        csv_bytes(
            "code,material,material_kind",
            "S1,Graphite,",  # S1 exists in lab A
            "N2,Graphite,cnt",  # lab A's Graphite is graphite
            "N3,rGO,",  # a new material needs its kind
            "N4,rGO,graphene_oxide",
            "N5,rGO,graphene",  # contradicts line 5
            "N6,Graphite,Graphite",
        ),
        lab,
    )
    errors = errors_by_line(preview)
    assert errors[2] == [
        "code: Lab A already has a sample S1; an import only adds samples (edit it on its page)."
    ]
    assert errors[3] == [
        "material_kind: Graphite is graphite, not cnt (as stored, or as given on an earlier line)."
    ]
    assert errors[4] == [
        "material: 'rGO' is not a material of Lab A; give its material_kind to create it."
    ]
    assert errors[6][0].startswith("material_kind: rGO is graphene_oxide, not graphene")
    assert set(errors) == {2, 3, 4, 6}
    assert preview.new_materials == {"rGO": "graphene_oxide"}


def test_a_clean_file_is_saved_whole(labs):
    data = csv_bytes(
        HEADER + ",precursor,prop:ID/IG",
        "N1,Graphite,,80,2024-05-02,12.5,Pd2dba3,0.21",
        "N2,MWCNT,cnt,,,,,",
    )
    samples = save_import(data, labs["a"], labs["alice"])
    assert [sample.code for sample in samples] == ["N1", "N2"]
    first = Sample.objects.get(lab=labs["a"], code="N1")
    assert (first.material, first.created_by) == (labs["sample_a"].material, labs["alice"])
    step = first.syntheses.get()
    assert (step.kind, step.precursor, step.temperature_c) == ("pd_decoration", "Pd2dba3", 80.0)
    assert sorted(first.properties.values_list("name", "value", "unit")) == [
        ("BET surface area", 12.5, "m2/g"),
        ("ID/IG", 0.21, ""),
    ]
    second = Sample.objects.get(lab=labs["a"], code="N2")
    assert (second.material.name, second.material.kind) == ("MWCNT", "cnt")
    assert not second.syntheses.exists()
    assert not second.properties.exists()


def test_a_file_with_any_error_saves_nothing(labs):
    data = csv_bytes("code,material,material_kind", "N1,New carbon,other", "S1,Graphite,")
    with pytest.raises(CSVImportError, match="1 of 2 lines have errors; nothing was imported"):
        save_import(data, labs["a"], labs["alice"])
    assert not Sample.objects.filter(code="N1").exists()
    assert not Material.objects.filter(name="New carbon").exists()


def test_the_template_imports_cleanly(labs):
    preview = prepare_import(template_csv().encode(), labs["b"])
    assert preview.is_clean
    (row,) = preview.rows
    assert row.synthesis["temperature_c"] == 80.0
    assert [column.name for column in preview.property_columns] == ["BET surface area", "ID/IG"]


# --- pages ---------------------------------------------------------------------------


def upload(client, data: bytes, name="samples.csv"):
    return client.post(reverse("sample-import"), {"file": SimpleUploadedFile(name, data)})


def test_upload_preview_and_confirm(client, labs):
    client.force_login(labs["alice"])
    page = client.get(reverse("sample-import"))
    assert page.status_code == 200
    assert "prop:&lt;name&gt; [&lt;unit&gt;]" in page.content.decode()
    assert reverse("sample-import-template") in page.content.decode()

    response = upload(client, csv_bytes(HEADER, "N1,Graphite,,80,,12.5", "N2,Graphite,,,,"))
    assert response.status_code == 302
    assert response["Location"] == reverse("sample-import-preview")
    preview = client.get(reverse("sample-import-preview"))
    html = preview.content.decode()
    assert "Import 2 samples into Lab A" in html
    assert not Sample.objects.filter(code="N1").exists()  # nothing before the confirmation

    token = client.session[IMPORT_SESSION_KEY]["token"]
    done = client.post(reverse("sample-import-confirm"), {"token": token})
    assert done.status_code == 200
    assert "Imported 2 samples into Lab A" in done.content.decode()
    assert sorted(Sample.objects.filter(lab=labs["a"]).values_list("code", flat=True)) == [
        "N1",
        "N2",
        "S1",
    ]
    assert Synthesis.objects.get().temperature_c == 80.0
    assert PropertyMeasurement.objects.get().value == 12.5
    assert IMPORT_SESSION_KEY not in client.session
    again = client.post(reverse("sample-import-confirm"), {"token": token})
    assert again.status_code == 409  # a second confirmation imports nothing twice
    assert Sample.objects.filter(lab=labs["a"]).count() == 3


def test_the_preview_lists_row_errors_and_offers_no_confirmation(client, labs):
    client.force_login(labs["alice"])
    upload(client, csv_bytes(HEADER, "S1,Graphite,,80,,", "N2,Graphite,,warm,,"))
    html = client.get(reverse("sample-import-preview")).content.decode()
    assert "2 of 2 lines have errors" in html
    assert "Lab A already has a sample S1" in html
    assert "temperature_c: Enter a number. (got &#x27;warm&#x27;)" in html
    assert reverse("sample-import-confirm") not in html
    token = client.session[IMPORT_SESSION_KEY]["token"]
    response = client.post(reverse("sample-import-confirm"), {"token": token})
    assert response.status_code == 409
    assert "nothing was imported" in response.content.decode()
    assert not Sample.objects.filter(code="N2").exists()


def test_a_sample_added_after_the_preview_stops_the_import(client, labs):
    client.force_login(labs["alice"])
    upload(client, csv_bytes("code,material", "N1,Graphite", "N2,Graphite"))
    Sample.objects.create(lab=labs["a"], code="N2", material=labs["sample_a"].material)
    token = client.session[IMPORT_SESSION_KEY]["token"]
    response = client.post(reverse("sample-import-confirm"), {"token": token})
    assert response.status_code == 409
    assert "Lab A already has a sample N2" in response.content.decode()
    assert not Sample.objects.filter(code="N1").exists()


def test_a_newer_upload_replaces_the_preview(client, labs):
    client.force_login(labs["alice"])
    upload(client, csv_bytes("code,material", "OLD,Graphite"))
    old_token = client.session[IMPORT_SESSION_KEY]["token"]
    upload(client, csv_bytes("code,material", "NEW,Graphite"))
    response = client.post(reverse("sample-import-confirm"), {"token": old_token})
    assert response.status_code == 409
    assert "upload the file again" in response.content.decode()
    assert not Sample.objects.filter(code__in=["OLD", "NEW"]).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("code,material\nN1,Graphit\xe9".encode("cp1252"), "is not UTF-8 text"),
        (b"code,material\n" + b"S,G\n" * (MAX_CSV_BYTES // 4), "the limit is 2,097,152 bytes"),
        (b"name,material\nN1,Graphite", "missing required column(s) code"),
    ],
)
def test_an_unreadable_upload_is_reported_and_nothing_kept(client, labs, data, message):
    client.force_login(labs["alice"])
    response = upload(client, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert IMPORT_SESSION_KEY not in client.session


def test_viewers_may_not_import(client, labs):
    client.force_login(labs["charlie"])
    assert client.get(reverse("sample-import")).status_code == 403
    assert upload(client, csv_bytes("code,material", "N1,Graphite")).status_code == 403
    assert IMPORT_SESSION_KEY not in client.session
    assert not Sample.objects.filter(code="N1").exists()


def test_a_preview_cannot_be_confirmed_by_a_viewer_of_its_lab(client, labs):
    from nanomark.accounts.models import Membership

    client.force_login(labs["alice"])
    upload(client, csv_bytes("code,material", "N1,Graphite"))
    token = client.session[IMPORT_SESSION_KEY]["token"]
    Membership.objects.filter(user=labs["alice"], lab=labs["a"]).update(role="viewer")
    assert client.post(reverse("sample-import-confirm"), {"token": token}).status_code == 403
    assert not Sample.objects.filter(code="N1").exists()


def test_the_template_download(client, labs):
    client.force_login(labs["charlie"])
    response = client.get(reverse("sample-import-template"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    assert response.content.decode().startswith("code,material,material_kind,description,")
