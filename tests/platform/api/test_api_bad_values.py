"""Values the fuzzer found that were 500s: each is now a 400 (or an empty list) saying why."""

import pytest

from nanomark.idfilters import MAX_ID

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"  # past a 64-bit signed integer

ID_FILTERS = [
    "/api/images/?sample={}",
    "/api/analysis-runs/?image={}",
    "/api/analysis-runs/?models={}",
    "/api/order-labels/?image={}",
    "/api/properties/?sample={}",
    "/api/syntheses/?sample={}",
    "/api/defect-masks/?image={}",
    "/api/calibration-changes/?image={}",
    "/api/monte-carlo-runs/?source_image={}",
    "/api/xtb-calculations/?material={}",
    "/api/samples/?material={}",
]


@pytest.mark.parametrize("url", ID_FILTERS)
@pytest.mark.parametrize("value", [HUGE, "1e19", str(MAX_ID + 1), "0", "-3", "1.5"])
def test_an_id_filter_refuses_a_value_that_cannot_be_an_id(api, url, value):
    response = api("alice").get(url.format(value))
    assert response.status_code == 400
    (name,) = response.json()
    assert name in url


@pytest.mark.parametrize("url", ID_FILTERS)
def test_an_id_filter_still_takes_the_largest_id(api, url):
    response = api("alice").get(url.format(MAX_ID))
    assert response.status_code in (200, 400)  # material: a select of the user's materials
    if response.status_code == 200:
        assert response.json()["results"] == []


@pytest.mark.parametrize("table", ["images", "samples"])
def test_the_export_refuses_a_sample_id_past_the_range(api, table):
    response = api("alice").get(f"/api/export/{table}.csv?sample={HUGE}")
    assert response.status_code == 400
    assert "sample" in response.content.decode()


@pytest.mark.parametrize(
    "url", ["/?material={}", "/search/?image={}", "/search/?material={}", "/models/?is_active={}"]
)
def test_the_pages_show_a_bad_id_instead_of_failing(labs, client, url):
    client.force_login(labs["alice"])
    for value in (HUGE, "maybe"):
        response = client.get(url.format(value))
        assert response.status_code in (200, 400)


def test_a_partial_synthesis_parameter_is_a_400_naming_what_is_missing(api, labs):
    alice = api("alice")
    created = alice.post(
        "/api/syntheses/",
        {"sample": labs["sample_a"].pk, "kind": "pd_decoration"},
        format="json",
    ).json()
    response = alice.patch(
        f"/api/syntheses/{created['id']}/",
        {"parameters": [{"value": "1", "unit": ""}]},
        format="json",
    )
    assert response.status_code == 400
    assert "Parameter 1 has no name" in response.json()["parameters"][0]


def test_an_unreadable_yes_no_filter_is_a_400(api):
    response = api("alice").get("/api/order-labels/?include_replaced=maybe")
    assert response.status_code == 400
    assert response.json() == {"include_replaced": ["Give true or false."]}


def test_a_bad_page_size_is_a_400(api):
    assert api("alice").get("/api/samples/?page_size=null").status_code == 400
    assert api("alice").get("/api/samples/?page_size=").status_code == 200


def test_an_unmatched_api_url_is_a_json_404(api):
    response = api("alice").delete("/api/samples/1.5/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_lab_holding_nul_is_a_400_and_changes_nothing(api, labs):
    sample = labs["sample_a"]
    alice = api("alice")
    response = alice.patch(
        f"/api/samples/{sample.pk}/", {"lab": "}\x00", "description": "x"}, format="json"
    )
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    # A form body is not parsed as JSON: the lab field itself refuses it.
    response = alice.post("/api/samples/", {"lab": "lab-a\x00", "code": "NEW-1"})
    assert response.status_code == 400
    assert response.json()["lab"] == ["Invalid value."]
    sample.refresh_from_db()
    assert sample.description != "x"


def test_json_holding_nul_anywhere_is_a_400(api, labs):
    response = api("alice").post(
        "/api/syntheses/",
        {
            "sample": labs["sample_a"].pk,
            "kind": "pd_decoration",
            "parameters": [{"name": "T", "value": "1\x00", "unit": ""}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize(
    "url",
    ["/api/export/samples.csv?lab=%00", "/api/export/images.json?material=a%00b"],
)
def test_an_export_filter_holding_nul_is_a_400_naming_it(api, url):
    response = api("alice").get(url)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "Null characters are not allowed" in text
    assert url.split("?")[1].split("=")[0] in text


def test_a_text_filter_holding_nul_is_a_400(api):
    response = api("alice").get("/api/samples/?lab=%00")
    assert response.status_code == 400
    assert response.json() == {"lab": ["Null characters are not allowed."]}
