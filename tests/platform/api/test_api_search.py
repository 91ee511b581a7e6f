"""API of the similar-material search, on stored embeddings with known similarities.

Vectors are unit vectors in 8 dimensions: e0, e1, e2 (orthogonal) and
v = 0.8 e0 + 0.6 e1, so cos(v, e0) = 0.8, cos(v, e1) = 0.6, cos(v, e2) = 0.
"""

import numpy as np
import pytest
from django.utils import timezone

from nanomark.imaging.models import SEMImage
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.results.models import AnalysisRun, PatchEmbedding
from nanomark.runs import RunStatus
from nanomark.samples.models import Material, Sample
from nanomark.search.index import sync_index
from tests.platform.rows import image_row

pytestmark = pytest.mark.django_db

E = np.eye(8, dtype=np.float32)
V = (0.8 * E[0] + 0.6 * E[1]).astype(np.float32)


def _image(sample, name: str) -> SEMImage:
    return image_row(
        sample, name, original=f"originals/{name}", size_bytes=1000, height_px=64, pixel_size_nm=1.0
    )


def _embedded(image, embedder, patches: list[tuple[int, np.ndarray]]) -> None:
    """A succeeded run of ``image`` with one 64-px patch at x for each (x, vector)."""
    run = AnalysisRun.objects.create(
        lab=image.lab,
        image=image,
        embedder=embedder,
        status=RunStatus.SUCCEEDED,
        finished_at=timezone.now(),
    )
    PatchEmbedding.objects.bulk_create(
        PatchEmbedding(run=run, x_px=x, y_px=0, size_px=64, vector=vector.astype("<f4").tobytes())
        for x, vector in patches
    )


@pytest.fixture
def corpus(labs):
    """Lab A: sample S1 with i1 (e0 | e1) and i3 (e2); graphene sample S2 with i2 (v); i4 bare."""
    embedder = ModelVersion.objects.create(
        lab=labs["a"], task=ModelTask.PATCH_EMBEDDER, name="emb", architecture="resnet34"
    )
    graphene = Material.objects.create(lab=labs["a"], name="Graphene", kind="graphene")
    s2 = Sample.objects.create(lab=labs["a"], code="S2", material=graphene)
    images = {
        "i1": _image(labs["sample_a"], "i1.png"),
        "i2": _image(s2, "i2.png"),
        "i3": _image(labs["sample_a"], "i3.png"),
        "i4": _image(labs["sample_a"], "i4.png"),
    }
    _embedded(images["i1"], embedder, [(0, E[0]), (64, E[1])])
    _embedded(images["i2"], embedder, [(0, V)])
    _embedded(images["i3"], embedder, [(0, E[2])])
    sync_index(embedder)
    return {"embedder": embedder, "s2": s2, **images}


def _search(client, filters: str = "", **body):
    """POST a search with ``body`` and the sample filters ``filters`` (a query string)."""
    return client.post(f"/api/search/?{filters}", body, format="json")


def test_an_image_query_ranks_patches_images_and_samples(api, labs, corpus):
    response = _search(api("alice"), image=corpus["i1"].pk)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["embedder"]["id"] == corpus["embedder"].pk
    patches = [(p["image"], p["x_px"], round(p["similarity"], 4)) for p in body["patches"]]
    assert patches == [(corpus["i2"].pk, 0, 0.8), (corpus["i3"].pk, 0, 0.0)]
    assert [(i["image"], i["filename"]) for i in body["images"]] == [
        (corpus["i2"].pk, "i2.png"),
        (corpus["i3"].pk, "i3.png"),
    ]
    assert [(s["code"], round(s["similarity"], 4)) for s in body["samples"]] == [
        ("S2", 0.8),
        ("S1", 0.0),
    ]
    assert body["patches"][0]["thumbnail_url"].endswith(f"/images/{corpus['i2'].pk}/thumbnail.png")


def test_a_region_query_leaves_out_only_the_patches_under_the_region(api, corpus):
    region = {"image": corpus["i1"].pk, "x": 0, "y": 0, "width": 32, "height": 32}
    body = _search(api("charlie"), region=region, k=2).json()
    patches = [(p["image"], p["x_px"], round(p["similarity"], 4)) for p in body["patches"]]
    assert patches[0] == (corpus["i2"].pk, 0, 0.8)
    assert (corpus["i1"].pk, 0, 1.0) not in patches


def test_a_sample_query_leaves_out_the_samples_own_images(api, labs, corpus):
    body = _search(api("alice"), sample=labs["sample_a"].pk).json()
    assert [(p["image"], round(p["similarity"], 4)) for p in body["patches"]] == [
        (corpus["i2"].pk, 0.8)
    ]


def test_filters_restrict_the_hits(api, labs, corpus):
    alice = api("alice")
    graphene = _search(alice, "material_kind=graphene", image=corpus["i1"].pk).json()
    assert [p["image"] for p in graphene["patches"]] == [corpus["i2"].pk]
    material = _search(alice, f"material={labs['sample_a'].material.pk}", image=corpus["i1"].pk)
    assert [p["image"] for p in material.json()["patches"]] == [corpus["i3"].pk]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Give exactly one of image, region, sample (got none)."),
        ({"image": "i1", "sample": "s2"}, "Give exactly one of image, region, sample (got 2)."),
        ({"image": "i1", "k": 0}, "greater than or equal to 1"),
        ({"image": "i1", "material_kind": "graphene"}, "Filters are query parameters"),
        ({"region": {"image": "i1", "x": 0, "y": 0, "width": 0, "height": 5}}, "greater than"),
    ],
)
def test_a_bad_query_is_a_400(api, corpus, body, message):
    def resolve(value):
        if isinstance(value, dict):
            return {key: resolve(item) for key, item in value.items()}
        return corpus[value].pk if value in ("i1", "s2") else value

    response = _search(api("alice"), **resolve(body))
    assert response.status_code == 400
    assert message in str(response.json())


def test_a_backward_temperature_range_is_a_400_naming_the_filter(api, corpus):
    response = _search(api("alice"), "temperature_min=90&temperature_max=80", image=corpus["i1"].pk)
    assert response.status_code == 400
    assert response.json() == {"temperature_min": ["T min 90 °C is above T max 80 °C."]}


def test_an_image_without_embeddings_is_a_400_that_says_so(api, corpus):
    response = _search(api("alice"), image=corpus["i4"].pk)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "i4.png (S1) has no analysis with patch embeddings yet (is an embedder active?)"
    }
    region = {"image": corpus["i1"].pk, "x": 200, "y": 0, "width": 10, "height": 10}
    outside = _search(api("alice"), region=region)
    assert outside.json() == {"detail": "no embedded patch overlaps that region of the image"}


def test_another_labs_image_cannot_be_searched_with(api, corpus):
    response = _search(api("bob"), image=corpus["i1"].pk)
    assert response.status_code == 400
    assert "image" in response.json()


def test_similar_samples_are_ranked_by_energy_distance(api, labs, corpus):
    response = api("charlie").get(f"/api/samples/{labs['sample_a'].pk}/similar/")
    assert response.status_code == 200, response.json()
    # S1 holds {e0, e1, e2}, S2 {v}: 2·mean‖x−v‖ − mean‖x−x'‖ (chords √(2 − 2 cos))
    # = 2(√0.4 + √0.8 + √2)/3 − 6√2/9 = 1.01791.
    [row] = response.json()
    assert (row["id"], row["code"], row["lab"]) == (corpus["s2"].pk, "S2", "lab-a")
    assert row["distance"] == pytest.approx(1.01791, abs=1e-4)
    filtered = api("alice").get(
        f"/api/samples/{labs['sample_a'].pk}/similar/", {"material_kind": "cnt"}
    )
    assert filtered.json() == []


def test_similar_samples_of_a_sample_without_embeddings_is_a_400(api, labs, corpus):
    bare = Sample.objects.create(lab=labs["a"], code="S3", material=corpus["s2"].material)
    response = api("alice").get(f"/api/samples/{bare.pk}/similar/")
    assert response.status_code == 400
    assert response.json() == {"detail": "no image of sample S3 has patch embeddings yet"}
    assert api("bob").get(f"/api/samples/{bare.pk}/similar/").status_code == 404
    bad = api("alice").get(f"/api/samples/{labs['sample_a'].pk}/similar/", {"limit": 0})
    assert bad.status_code == 400
    assert "limit" in bad.json()
