"""Media in an S3 bucket on a real S3 API server (``moto_server``, its own process).

Each test gets a fresh bucket and selects it the way a deployment does, by the
``NANOMARK_S3_*`` environment variables read by ``nanomark.objectstorage``.
What the platform stored is then read back with boto3 directly from the server,
and the local media folder must stay empty: every file went to the bucket.
"""

import io
import shutil
import uuid

import pytest
from ase.build import molecule
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from nanomark.computations.models import XtbCalculation
from nanomark.computations.services import create_monte_carlo_run
from nanomark.computations.tasks import run_monte_carlo, run_xtb_calculation
from nanomark.imaging.masks import store_defect_mask
from nanomark.imaging.models import SEMImage
from nanomark.imaging.services import ingest_sem_image
from nanomark.objectstorage import media_storage
from nanomark.results.models import AnalysisRun, DefectStatistic, OrderScore, ParticleStatistics
from nanomark.results.storing import discard_partial_files, run_folder
from nanomark.results.tasks import analyse_image
from nanomark.runs import RunStatus
from nanomark.search.models import SearchIndex
from simulation.montecarlo import DepositionParams
from simulation.structures import atoms_to_xyz
from tests.factories import mask_layers, png_bytes, sem_pixels, tiff_bytes
from tests.platform import s3server
from tests.platform.waiting import wait_for

#: Key prefix inside the bucket (NANOMARK_S3_PREFIX), so that its handling is tested too.
PREFIX = "media"


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """The endpoint URL of one ``moto_server`` process for the whole session."""
    with s3server.running_s3_server(tmp_path_factory.mktemp("s3") / "moto_server.log") as url:
        yield url


@pytest.fixture(autouse=True)
def bucket(s3_endpoint, settings, monkeypatch) -> s3server.Bucket:
    """A new bucket, selected for media by environment variables (also for worker processes).

    Autouse, so that it is in place before any other fixture stores a file.
    """
    created = s3server.Bucket.create(s3_endpoint, f"nanomark-{uuid.uuid4().hex[:16]}")
    created.use_for_media(PREFIX, settings, monkeypatch)
    return created


@pytest.fixture
def assert_no_local_media(settings):
    """After the test: nothing was written to the filesystem's media folder."""
    yield
    assert not settings.MEDIA_ROOT.exists() or not any(settings.MEDIA_ROOT.rglob("*"))


def _key(field) -> str:
    return f"{PREFIX}/{field.name}"


def _download(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content)


def _refused(client, url: str) -> bool:
    return client.get(url).status_code == 404


@pytest.mark.django_db
def test_an_upload_goes_to_the_bucket_and_is_served_to_its_lab_only(
    api, labs, bucket, assert_no_local_media
):
    data = tiff_bytes(sem_pixels())
    body = {"file": SimpleUploadedFile("a.tif", data), "sample": labs["sample_a"].pk}
    assert api("alice").post("/api/images/", body, format="multipart").status_code == 201
    image = SEMImage.objects.get()

    files = [image.original, image.preview, image.thumbnail]
    assert set(bucket.object_keys()) == {_key(f) for f in files}
    assert bucket.read(_key(image.original)) == data
    alice, bob = api("alice"), api("bob")
    assert _download(alice, reverse("image-original", args=[image.pk])) == data
    for field, route in [(image.preview, "image-preview"), (image.thumbnail, "image-thumbnail")]:
        assert _download(alice, reverse(route, args=[image.pk])) == bucket.read(_key(field))
    for route in ("image-original", "image-preview", "image-thumbnail"):
        assert _refused(bob, reverse(route, args=[image.pk]))


@pytest.mark.django_db
def test_an_analysis_reads_the_bucket_and_stores_its_overlays_there(
    api, labs, active_models, rendered_png, bucket, assert_no_local_media
):
    for version in active_models.values():
        assert _key(version.weights) in bucket.object_keys()
    image = ingest_sem_image(
        sample=labs["sample_a"], data=rendered_png(), filename="a.png", pixel_size_nm=1.0
    ).image
    run = AnalysisRun.objects.get(image=image)
    analyse_image(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error

    saliency = OrderScore.objects.get(run=run).saliency
    positions = ParticleStatistics.objects.get(run=run).positions
    maps = {s.defect_class: s.probability_map for s in DefectStatistic.objects.filter(run=run)}
    index = SearchIndex.objects.get(embedder=active_models["embedder"]).file
    keys = set(bucket.object_keys())
    assert {_key(f) for f in [saliency, positions, index, *maps.values()]} <= keys
    alice, bob = api("alice"), api("bob")
    served = {
        reverse("analysis-saliency", args=[run.pk]): saliency,
        reverse("analysis-particles", args=[run.pk]): positions,
        **{
            reverse("analysis-probability", args=[run.pk, name]): field
            for name, field in maps.items()
        },
    }
    for url, field in served.items():
        assert _download(alice, url) == bucket.read(_key(field))
        assert _refused(bob, url)


@pytest.mark.django_db
def test_a_new_delivery_sweeps_what_an_interrupted_one_left_in_the_bucket(queued_run, bucket):
    folder = run_folder(queued_run)
    left = default_storage.save(f"{folder}/saliency.png", ContentFile(b"half a PNG"))
    assert f"{PREFIX}/{left}" in bucket.object_keys()
    discard_partial_files(queued_run)
    assert not [key for key in bucket.object_keys() if key.startswith(f"{PREFIX}/{folder}/")]


@pytest.mark.django_db
def test_masks_and_monte_carlo_outputs_live_in_the_bucket(api, labs, bucket, assert_no_local_media):
    image = ingest_sem_image(
        sample=labs["sample_a"], data=png_bytes(sem_pixels()), filename="a.png", pixel_size_nm=2.0
    ).image
    mask = store_defect_mask(image, mask_layers())
    run = create_monte_carlo_run(
        defect_mask=mask, params=DepositionParams(n_particles=100, n_steps=50), enqueue=False
    )
    run_monte_carlo(run.pk)  # reads the mask's layers back from the bucket
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error

    alice, bob = api("alice"), api("bob")
    served = {
        reverse("defect-mask-layer", args=[mask.pk, "sheet_border"]): mask.sheet_border,
        reverse("montecarlo-rendered", args=[run.pk]): run.rendered_image,
        reverse("montecarlo-positions", args=[run.pk]): run.final_positions,
    }
    for url, field in served.items():
        assert _download(alice, url) == bucket.read(_key(field))
        assert _refused(bob, url)


@pytest.mark.xtb
@pytest.mark.skipif(shutil.which("xtb") is None, reason="the xtb program is not installed")
@pytest.mark.django_db
def test_an_xtb_log_lives_in_the_bucket(api, labs, bucket, assert_no_local_media):
    calc = XtbCalculation.objects.create(
        lab=labs["a"], name="water", task="sp", input_xyz=atoms_to_xyz(molecule("H2O"))
    )
    run_xtb_calculation(calc.pk)
    calc.refresh_from_db()
    assert calc.status == RunStatus.SUCCEEDED, calc.error
    url = reverse("xtb-log", args=[calc.pk])
    assert _download(api("alice"), url) == bucket.read(_key(calc.log))
    assert _refused(api("bob"), url)


def test_create_bucket_makes_the_configured_bucket_once(s3_endpoint, settings, monkeypatch):
    name = f"nanomark-{uuid.uuid4().hex[:16]}"
    monkeypatch.setenv("NANOMARK_S3_BUCKET", name)
    settings.STORAGES = {**settings.STORAGES, "default": media_storage()}
    out = io.StringIO()
    call_command("create_bucket", stdout=out)
    call_command("create_bucket", stdout=out)  # as every start of docker-compose's migrate
    listed = s3server.client(s3_endpoint).list_buckets()["Buckets"]
    assert name in {bucket["Name"] for bucket in listed}
    assert out.getvalue().splitlines() == [f"Created bucket {name!r}.", f"Bucket {name!r} exists."]


@pytest.fixture
def worker_host(settings, monkeypatch, tmp_path):
    """A worker host's own folder, with no model cache: request it before ``cluster``.

    Hosts share the secret key by configuration: django-q2 signs the tasks with it.
    """
    folder = tmp_path / "worker-host"
    monkeypatch.setenv("NANOMARK_VAR_DIR", str(folder))
    monkeypatch.setenv("DJANGO_SECRET_KEY", settings.SECRET_KEY)
    return folder


@pytest.mark.django_db(transaction=True)
def test_a_worker_sharing_only_the_database_and_the_bucket_analyses_an_upload(
    worker_host, api, labs, active_models, rendered_png, bucket, cluster, assert_no_local_media
):
    body = {"file": SimpleUploadedFile("a.png", rendered_png()), "sample": labs["sample_a"].pk}
    assert api("alice").post("/api/images/", body, format="multipart").status_code == 201
    run_pk = AnalysisRun.objects.get().pk
    cluster()
    wait_for(
        lambda: AnalysisRun.objects.filter(pk=run_pk, status=RunStatus.SUCCEEDED).exists(),
        120,
        "the worker to analyse the upload",
    )
    # The worker fetched the weights from the bucket into its own, empty, model cache.
    assert {p.name for p in (worker_host / "model-cache").iterdir()} == {
        v.weights_sha256 for v in active_models.values()
    }
    saliency = OrderScore.objects.get(run_id=run_pk).saliency
    assert _download(api("alice"), reverse("analysis-saliency", args=[run_pk])) == bucket.read(
        _key(saliency)
    )
    assert _refused(api("bob"), reverse("analysis-saliency", args=[run_pk]))
