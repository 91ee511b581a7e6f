"""Similar-material search pages: image, region and sample search, patch crops, embedding map."""

import io
from datetime import UTC, datetime

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from analysis.projection import principal_components
from nanomark.imaging.models import OrderLabel
from nanomark.imaging.services import ingest_sem_image
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion
from nanomark.results.models import AnalysisRun, PatchEmbedding
from nanomark.runs import RunStatus
from nanomark.samples.models import Material, Sample, Synthesis
from nanomark.search.embeddingmap import embedding_map
from nanomark.search.index import sync_index
from tests.factories import png_bytes

DIM = 16
PATCH = 256
# 10 patches side by side; the preview is half the size (1280 × 128).
WIDTH, HEIGHT = 10 * PATCH, PATCH
DARK, BRIGHT = 20, 230


def _direction(axis: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    vector = np.zeros(DIM, np.float32)
    vector[axis] = 1.0
    vector += noise * np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def _image(sample, name: str, seed: int):
    """An ingested 2560 × 256 image: dark left half, bright right half, a little noise."""
    pixels = np.full((HEIGHT, WIDTH), DARK, np.uint8)
    pixels[:, WIDTH // 2 :] = BRIGHT
    noise = np.random.default_rng(seed).integers(0, 4, pixels.shape, dtype=np.uint8)
    return ingest_sem_image(sample=sample, data=png_bytes(pixels + noise), filename=name).image


def _analysed(image, embedder, vectors: list[np.ndarray]) -> AnalysisRun:
    """A succeeded run of ``image`` with one patch per vector, left to right."""
    run = AnalysisRun.objects.create(
        lab=image.lab,
        image=image,
        embedder=embedder,
        status=RunStatus.SUCCEEDED,
        finished_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    PatchEmbedding.objects.bulk_create(
        PatchEmbedding(run=run, x_px=PATCH * i, y_px=0, size_px=PATCH, vector=v.tobytes())
        for i, v in enumerate(vectors)
    )
    return run


@pytest.fixture
def collection(labs):
    """Lab A: S1's "query" (axis 0, its last two patches axis 5) and "twin" (axis 0) images,
    S2's (carbon black, 25 °C) "other" image (axis 5); lab B: "foreign" (axis 5)."""
    embedder = ModelVersion.objects.create(
        lab=labs["a"], task=ModelTask.PATCH_EMBEDDER, name="emb-a"
    )
    s1 = labs["sample_a"]
    carbon = Material.objects.create(lab=labs["a"], name="Carbon black", kind="carbon_black")
    s2 = Sample.objects.create(lab=labs["a"], code="S2", material=carbon)
    Synthesis.objects.create(sample=s1, precursor="Pd2dba3", temperature_c=80)
    Synthesis.objects.create(sample=s2, precursor="Pd2dba3", temperature_c=25)
    images = {
        "query": _image(s1, "query.png", 1),
        "twin": _image(s1, "twin.png", 2),
        "other": _image(s2, "other.png", 3),
        "bare": _image(s2, "bare.png", 4),
    }
    query = [_direction(0, 0.01, i) for i in range(8)] + [_direction(5), _direction(5, 0.01, 9)]
    runs = {
        "query": _analysed(images["query"], embedder, query),
        "twin": _analysed(
            images["twin"], embedder, [_direction(0, 0.1, 10 + i) for i in range(10)]
        ),
        "other": _analysed(
            images["other"], embedder, [_direction(5, 0.1, 20 + i) for i in range(10)]
        ),
    }
    embedder_b = ModelVersion.objects.create(
        lab=labs["b"], task=ModelTask.PATCH_EMBEDDER, name="emb-b"
    )
    images["foreign"] = _image(labs["sample_b"], "foreign.png", 5)
    _analysed(images["foreign"], embedder_b, [_direction(5)] * 3)
    for version in (embedder, embedder_b):
        sync_index(version)
    return {
        "embedder": embedder,
        "embedder_b": embedder_b,
        "s1": s1,
        "s2": s2,
        "runs": runs,
        **images,
    }


def _search(client, **params):
    return client.get(reverse("search"), params)


def test_a_region_search_finds_the_patches_like_the_region(client, labs, collection):
    client.force_login(labs["alice"])
    query = collection["query"]
    # The last two patches of the query image: axis 5, like the "other" image.
    response = _search(client, image=query.pk, x=2048, y=0, width=512, height=256, k=12)
    assert response.status_code == 200
    context = response.context
    assert context["region"] == (2048, 0, 512, 256)
    hits = context["patches"]
    # The two patches under the region are not hits; the rest of its image may be.
    assert not {(row[0].image_id, row[0].x_px) for row in hits} & {
        (query.pk, 2048),
        (query.pk, 2304),
    }
    assert hits[0][0].image_id == collection["other"].pk
    assert hits[0][0].similarity > 0.9
    assert context["ranked_images"][0][1].original_filename == "other.png"
    assert [sample.code for _, sample in context["ranked_samples"]] == ["S2", "S1"]
    page = response.content.decode()
    assert reverse("search-patch", args=[hits[0][0].embedding_id]) in page
    assert 'data-region="2048,0,512,256"' in page
    assert "foreign.png" not in page


def test_an_image_search_leaves_the_image_out_and_applies_filters(client, labs, collection):
    client.force_login(labs["charlie"])  # viewers may search
    response = _search(client, image=collection["query"].pk)
    assert response.status_code == 200
    found = {image.original_filename for _, image in response.context["ranked_images"]}
    assert found == {"twin.png", "other.png"}
    response = _search(client, image=collection["query"].pk, material_kind="carbon_black")
    assert [image.original_filename for _, image in response.context["ranked_images"]] == [
        "other.png"
    ]
    response = _search(client, image=collection["query"].pk, temperature_min=50)
    assert {s.code for _, s in response.context["ranked_samples"]} == {"S1"}


def test_a_sample_search_shows_the_samples_most_like_it(client, labs, collection):
    client.force_login(labs["alice"])
    response = _search(client, sample=collection["s1"].pk)
    assert response.status_code == 200
    similar = response.context["similar_samples"]
    assert [sample.code for sample, _ in similar] == ["S2"]
    assert similar[0][1] > 0
    # The sample's own images are left out of the hits.
    assert {image.original_filename for _, image in response.context["ranked_images"]} == {
        "other.png"
    }
    assert "Samples most like S1" in response.content.decode()


def test_nothing_to_search_with_is_a_message(client, labs, collection):
    client.force_login(labs["alice"])
    response = _search(client, image=collection["bare"].pk)
    assert response.status_code == 200
    assert "no analysis with patch embeddings" in response.content.decode()
    response = _search(client, image=collection["query"].pk, x=5000, y=0, width=10, height=10)
    assert response.status_code == 200
    assert "no embedded patch overlaps that region" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"image": "abc"}, "Enter a whole number"),
        ({"image": "QUERY", "x": 5}, "x, y, width and height together"),
        ({"x": 0, "y": 0, "width": 5, "height": 5}, "choose the image first"),
        ({"image": "QUERY", "sample": 1}, "not both"),
        (
            {"image": "QUERY", "temperature_min": 90, "temperature_max": 10},
            "T min 90 °C is above T max 10 °C",
        ),
        ({"image": "QUERY", "width": 0, "x": 0, "y": 0, "height": 3}, "greater than or equal to 1"),
    ],
)
def test_bad_queries_are_a_message(client, labs, collection, params, message):
    client.force_login(labs["alice"])
    params = {k: collection["query"].pk if v == "QUERY" else v for k, v in params.items()}
    response = _search(client, **params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_another_labs_images_samples_and_patches_are_not_found(client, labs, collection):
    client.force_login(labs["bob"])
    assert _search(client, image=collection["query"].pk).status_code == 404
    assert _search(client, sample=collection["s1"].pk).status_code == 404
    patch = collection["runs"]["query"].embeddings.first()
    assert client.get(reverse("search-patch", args=[patch.pk])).status_code == 404
    picker = _search(client).content.decode()
    assert "foreign.png" in picker
    assert "query.png" not in picker
    # Bob's searches see only his lab, whatever they resemble.
    response = _search(client, image=collection["foreign"].pk)
    assert response.context["patches"] == []


def test_the_picker_finds_images_and_samples_of_the_current_lab(client, labs, collection):
    client.force_login(labs["alice"])
    response = _search(client, find="twin")
    assert [image.original_filename for image in response.context["picker_images"]] == ["twin.png"]
    response = _search(client, find="S2")
    assert [sample.code for sample in response.context["picker_samples"]] == ["S2"]


def _png(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_a_patch_thumbnail_is_cut_from_the_preview_where_the_patch_is(client, labs, collection):
    client.force_login(labs["charlie"])
    patches = list(collection["runs"]["query"].embeddings.order_by("x_px"))
    # Patches 4 and 5 meet at the original's middle column 1280, the preview's 640.
    left = client.get(reverse("search-patch", args=[patches[4].pk]))
    right = client.get(reverse("search-patch", args=[patches[5].pk]))
    assert left.status_code == right.status_code == 200
    assert left["Content-Type"] == "image/png"
    assert "max-age" in left["Cache-Control"]
    left, right = _png(left), _png(right)
    assert left.shape == right.shape == (128, 128)
    assert left.max() < DARK + 10
    assert right.min() > BRIGHT - 10


def test_principal_components_order_the_variance_and_orient_the_axes():
    points = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    projection = principal_components(points)
    # Variance 4.5 along x, 0.5 along y.
    assert projection.explained_variance_ratio == pytest.approx([0.9, 0.1])
    assert projection.coordinates[:, 0] == pytest.approx([3.0, -3.0, 0.0, 0.0])
    assert np.abs(projection.coordinates[:, 1]) == pytest.approx([0.0, 0.0, 1.0, 1.0])
    # The same points in another order land in the same places (the axes' signs are fixed).
    shuffled = principal_components(points[[2, 0, 3, 1]])
    assert shuffled.coordinates == pytest.approx(projection.coordinates[[2, 0, 3, 1]])
    for bad in (np.zeros(5), np.zeros((1, 4)), np.array([[0.0, np.nan], [1.0, 1.0]])):
        with pytest.raises(ValueError, match=r"vectors|NaN"):
            principal_components(bad)


def test_principal_components_separate_two_clusters():
    a = np.array([_direction(0, 0.3, seed) for seed in range(50)])
    b = np.array([_direction(1, 0.3, 100 + seed) for seed in range(50)])
    projection = principal_components(np.vstack([a, b]))
    first = projection.coordinates[:, 0]
    low, high = sorted([first[:50], first[50:]], key=np.mean)
    assert low.max() < high.min()
    ratio = projection.explained_variance_ratio
    assert ratio[0] > 2 * ratio[1]
    assert ratio.sum() <= 1


def test_the_map_labels_patches_and_caps_them_reproducibly(labs, collection):
    OrderLabel.objects.create(image=collection["twin"], label="ordered", annotator=labs["alice"])
    points = embedding_map(labs["a"], collection["embedder"])
    assert points.total == 30
    assert len(points.sample_codes) == 30
    classes = dict(zip(points.image_names, points.order_classes, strict=True))
    assert classes == {"query.png": "unlabelled", "twin.png": "ordered", "other.png": "unlabelled"}
    assert points.projection.coordinates.shape == (30, 2)
    capped = embedding_map(labs["a"], collection["embedder"], max_points=7)
    assert capped.total == 30
    assert len(capped.image_names) == 7
    again = embedding_map(labs["a"], collection["embedder"], max_points=7)
    assert again.image_names == capped.image_names
    assert again.projection.coordinates == pytest.approx(capped.projection.coordinates)
    with pytest.raises(ValueError, match="at least 2"):
        embedding_map(labs["b"], collection["embedder"])


def test_the_map_page_colours_by_order_class_or_sample(client, labs, collection):
    client.force_login(labs["charlie"])
    response = client.get(reverse("search-map"))
    assert response.status_code == 200
    assert response.context["embedder"] == collection["embedder"]
    assert response.context["shown"] == 30
    page = response.content.decode()
    assert '"name":"unlabelled"' in page
    assert "PC 1" in page
    response = client.get(reverse("search-map"), {"colour": "sample"})
    page = response.content.decode()
    assert '"name":"S1"' in page
    assert '"name":"S2"' in page
    response = client.get(reverse("search-map"), {"colour": "rainbow"})
    assert response.status_code == 400


def test_the_map_shows_nothing_of_another_lab(client, labs, collection):
    client.force_login(labs["bob"])
    response = client.get(reverse("search-map"))
    assert response.context["embedder"] == collection["embedder_b"]
    assert response.context["shown"] == 3
    assert "query.png" not in response.content.decode()
    response = client.get(reverse("search-map"), {"embedder": collection["embedder"].pk})
    assert response.status_code == 400
    assert "No patch embedder" in response.content.decode()
