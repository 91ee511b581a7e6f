"""API of materials, samples, syntheses and properties: scoping, writes, filters, conflicts."""

import pytest

from nanomark.accounts.models import Membership
from nanomark.samples.models import Material, Sample, Synthesis, SynthesisParameter

pytestmark = pytest.mark.django_db


def _codes(response) -> list[tuple[str, str]]:
    return [(row["lab"], row["code"]) for row in response.json()["results"]]


def test_lists_show_only_the_users_labs(api, labs):
    Sample.objects.create(lab=labs["b"], code="B2", material=labs["sample_b"].material)
    assert _codes(api("alice").get("/api/samples/")) == [("lab-a", "S1")]
    assert _codes(api("bob").get("/api/samples/")) == [("lab-b", "B2"), ("lab-b", "S1")]
    assert _codes(api("alice").get("/api/samples/", {"lab": "lab-b"})) == []
    materials = api("bob").get("/api/materials/").json()["results"]
    assert [(m["lab"], m["name"]) for m in materials] == [("lab-b", "Graphite")]


def test_another_labs_sample_is_a_404_for_every_method(api, labs):
    url = f"/api/samples/{labs['sample_a'].pk}/"
    bob = api("bob")
    assert bob.get(url).status_code == 404
    assert bob.patch(url, {"description": "mine"}, format="json").status_code == 404
    assert bob.delete(url).status_code == 404
    assert Sample.objects.get(pk=labs["sample_a"].pk).description == ""


def test_viewers_read_but_cannot_write(api, labs):
    charlie = api("charlie")
    url = f"/api/samples/{labs['sample_a'].pk}/"
    assert charlie.get(url).status_code == 200
    assert charlie.patch(url, {"description": "x"}, format="json").status_code == 403
    assert charlie.delete(url).status_code == 403
    material = labs["sample_a"].material.pk
    created = charlie.post(
        "/api/samples/", {"lab": "lab-a", "code": "S9", "material": material}, format="json"
    )
    assert created.status_code == 403
    assert not Sample.objects.filter(code="S9").exists()


def test_a_viewer_in_one_lab_cannot_write_there_while_a_member_elsewhere(api, labs):
    # charlie becomes a member of lab B: writes in lab A stay refused.
    Membership.objects.create(user=labs["charlie"], lab=labs["b"], role="member")
    material = labs["sample_a"].material.pk
    created = api("charlie").post(
        "/api/samples/", {"lab": "lab-a", "code": "S9", "material": material}, format="json"
    )
    assert created.status_code == 403


def test_a_member_creates_and_edits_a_sample(api, labs):
    alice = api("alice")
    material = labs["sample_a"].material.pk
    created = alice.post(
        "/api/samples/",
        {"lab": "lab-a", "code": "S2", "material": material, "parent": labs["sample_a"].pk},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["lab"], body["code"], body["created_by"], body["image_count"]) == (
        "lab-a",
        "S2",
        "alice",
        0,
    )
    changed = alice.patch(f"/api/samples/{body['id']}/", {"description": "heated"}, format="json")
    assert changed.status_code == 200
    assert Sample.objects.get(pk=body["id"]).description == "heated"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"code": "S1"}, "non_field_errors"),  # the code is taken in lab A
        ({"lab": "lab-b"}, "lab"),  # not alice's lab: does not exist for her
        ({"material": "other-lab"}, "material"),
        ({"code": ""}, "code"),
    ],
)
def test_bad_samples_are_400_naming_the_field(api, labs, payload, field):
    data = {"lab": "lab-a", "code": "S2", "material": labs["sample_a"].material.pk, **payload}
    if data["material"] == "other-lab":
        data["material"] = labs["sample_b"].material.pk
    response = api("alice").post("/api/samples/", data, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Sample.objects.count() == 2


def test_the_models_rules_hold_across_a_users_labs(api, labs):
    # alice in both labs may name lab B's material, but a lab A sample cannot use it.
    Membership.objects.create(user=labs["alice"], lab=labs["b"], role="member")
    response = api("alice").post(
        "/api/samples/",
        {"lab": "lab-a", "code": "S2", "material": labs["sample_b"].material.pk},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"material": ["The material belongs to another lab."]}
    moved = api("alice").patch(
        f"/api/samples/{labs['sample_a'].pk}/", {"lab": "lab-b"}, format="json"
    )
    assert moved.status_code == 400
    assert "lab" in moved.json()


def test_a_sample_others_depend_on_is_a_409_on_delete(api, labs):
    Sample.objects.create(
        lab=labs["a"], code="S1-child", material=labs["sample_a"].material, parent=labs["sample_a"]
    )
    response = api("alice").delete(f"/api/samples/{labs['sample_a'].pk}/")
    assert response.status_code == 409
    assert "samples" in response.json()["detail"]
    material = api("alice").delete(f"/api/materials/{labs['sample_a'].material.pk}/")
    assert material.status_code == 409
    assert Sample.objects.filter(pk=labs["sample_a"].pk).exists()


def test_syntheses_carry_their_parameters(api, labs):
    alice = api("alice")
    created = alice.post(
        "/api/syntheses/",
        {
            "sample": labs["sample_a"].pk,
            "precursor": "Pd2dba3",
            "temperature_c": 80.0,
            "duration_min": 3.0,
            "parameters": [
                {"name": "stirring rate", "value": 600, "unit": "rpm"},
                {"name": "pressure", "value": 1.0, "unit": "bar"},
            ],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    synthesis = Synthesis.objects.get(pk=created.json()["id"])
    assert synthesis.kind == "pd_decoration"
    params = {p.name: (p.value, p.unit) for p in synthesis.parameters.all()}
    assert params == {"stirring rate": (600.0, "rpm"), "pressure": (1.0, "bar")}

    replaced = alice.patch(
        f"/api/syntheses/{synthesis.pk}/",
        {"parameters": [{"name": "stirring rate", "value": 300, "unit": "rpm"}]},
        format="json",
    )
    assert replaced.status_code == 200
    assert list(synthesis.parameters.values_list("name", "value")) == [("stirring rate", 300.0)]

    sample = alice.get(f"/api/samples/{labs['sample_a'].pk}/").json()
    assert sample["syntheses"][0]["temperature_c"] == 80.0
    assert sample["syntheses"][0]["parameters"] == [
        {"name": "stirring rate", "value": 300.0, "unit": "rpm"}
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"temperature_c": -300.0}, "temperature_c"),
        ({"precursor_mass_mg": -1.0}, "precursor_mass_mg"),
        (
            {"parameters": [{"name": "p", "value": 1}, {"name": "p", "value": 2}]},
            "parameters",
        ),
    ],
)
def test_bad_syntheses_are_400(api, labs, payload, field):
    response = api("alice").post(
        "/api/syntheses/", {"sample": labs["sample_a"].pk, **payload}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not Synthesis.objects.exists()
    assert not SynthesisParameter.objects.exists()


def test_syntheses_and_properties_follow_their_samples_lab(api, labs):
    Synthesis.objects.create(sample=labs["sample_a"], temperature_c=80.0)
    bob, charlie = api("bob"), api("charlie")
    assert bob.get("/api/syntheses/").json()["count"] == 0
    refused = bob.post(
        "/api/properties/", {"sample": labs["sample_a"].pk, "name": "BET", "value": 1}
    )
    assert refused.status_code == 400
    assert "sample" in refused.json()
    viewer = charlie.post(
        "/api/properties/", {"sample": labs["sample_a"].pk, "name": "BET", "value": 1}
    )
    assert viewer.status_code == 403
    created = api("alice").post(
        "/api/properties/",
        {"sample": labs["sample_a"].pk, "name": "BET", "value": 512.0, "unit": "m2/g"},
    )
    assert created.status_code == 201
    assert api("charlie").get("/api/properties/", {"name": "bet"}).json()["count"] == 1
    assert bob.get(f"/api/properties/{created.json()['id']}/").status_code == 404


def test_the_sample_filters_of_the_web_ui_apply(api, labs):
    material = labs["sample_a"].material
    hot = Sample.objects.create(lab=labs["a"], code="HOT", material=material)
    Synthesis.objects.create(sample=hot, temperature_c=120.0, precursor="Pd(OAc)2")
    Synthesis.objects.create(sample=labs["sample_a"], temperature_c=80.0, precursor="Pd2dba3")
    alice = api("alice")
    assert _codes(alice.get("/api/samples/", {"temperature_min": 100})) == [("lab-a", "HOT")]
    assert _codes(alice.get("/api/samples/", {"precursor": "dba"})) == [("lab-a", "S1")]
    assert _codes(alice.get("/api/samples/", {"q": "ho"})) == [("lab-a", "HOT")]
    assert _codes(alice.get("/api/samples/", {"ordering": "-code"})) == [
        ("lab-a", "S1"),
        ("lab-a", "HOT"),
    ]


def test_pages_hold_page_size_rows(api, labs):
    material = labs["sample_a"].material
    Sample.objects.bulk_create(
        Sample(lab=labs["a"], code=f"P{i:02d}", material=material) for i in range(5)
    )
    page = api("alice").get("/api/samples/", {"page_size": 2, "page": 2}).json()
    assert page["count"] == 6
    assert [row["code"] for row in page["results"]] == ["P02", "P03"]
    assert page["next"].endswith("page=3&page_size=2")
    assert api("alice").get("/api/samples/", {"page": 9}).status_code == 404


def test_materials_are_unique_per_lab(api, labs):
    alice = api("alice")
    duplicate = alice.post("/api/materials/", {"lab": "lab-a", "name": "Graphite"}, format="json")
    assert duplicate.status_code == 400
    created = alice.post(
        "/api/materials/", {"lab": "lab-a", "name": "Graphene", "kind": "graphene"}
    )
    assert created.status_code == 201
    assert Material.objects.filter(lab=labs["a"]).count() == 2
