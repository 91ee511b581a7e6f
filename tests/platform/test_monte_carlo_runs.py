"""Monte Carlo runs on stored defect masks: the task stores kinetics, positions and an image."""

import csv
import io

import numpy as np
import pytest
from django.urls import reverse
from django_q.models import OrmQ
from PIL import Image

from nanomark.computations.models import MonteCarloRun
from nanomark.computations.services import SimulationRejected, create_monte_carlo_run
from nanomark.computations.tasks import run_monte_carlo
from nanomark.imaging.masks import MaskRejected, store_defect_mask
from nanomark.imaging.services import ingest_sem_image
from nanomark.runs import RunStatus
from simulation.montecarlo import DepositionParams
from tests.factories import sem_pixels, tiff_bytes

pytestmark = pytest.mark.django_db

PARAMS = DepositionParams(n_particles=300, n_steps=400)


@pytest.fixture
def mask(labs):
    image = ingest_sem_image(
        sample=labs["sample_a"],
        data=tiff_bytes(sem_pixels(120, 160)),
        filename="a.tif",
        pixel_size_nm=2.0,
    ).image
    layers = np.zeros((4, 120, 160), bool)
    layers[0, 60, :] = True  # a sheet border across the field
    layers[3, 20:24, 20:24] = True  # a point-defect cluster
    return store_defect_mask(image, layers)


@pytest.fixture
def finished_run(mask) -> MonteCarloRun:
    """A run on ``mask`` that the task has simulated and stored."""
    run = create_monte_carlo_run(defect_mask=mask, params=PARAMS, seed=3, enqueue=False)
    run_monte_carlo(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


def _stored(field) -> bytes:
    with field.open("rb") as handle:
        return handle.read()


def test_the_task_stores_kinetics_positions_and_a_rendered_image(mask):
    run = create_monte_carlo_run(defect_mask=mask, params=PARAMS, seed=3, enqueue=False)
    run_monte_carlo(run.pk)
    run.refresh_from_db()

    assert run.status == RunStatus.SUCCEEDED
    counts = np.asarray(run.kinetics["counts"])
    assert counts.shape == (401, 3)
    assert (counts.sum(axis=1) == 300).all()
    assert counts[-1, 2] > 0  # particles reached the defects
    assert run.rate_r_squared > 0.99
    assert 0 < run.clark_evans_r < 1
    rows = run.final_positions.read().decode().splitlines()
    assert rows[0] == "x_px,y_px,state"
    assert len(rows) == 301
    assert run.rendered_image.read().startswith(b"\x89PNG")
    assert (run.sample, run.source_image) == (mask.image.sample, mask.image)


def test_a_second_delivery_changes_nothing(mask):
    run = create_monte_carlo_run(defect_mask=mask, params=PARAMS, enqueue=False)
    run_monte_carlo(run.pk)
    first = MonteCarloRun.objects.get(pk=run.pk)
    run_monte_carlo(run.pk)
    again = MonteCarloRun.objects.get(pk=run.pk)
    assert (again.attempts, again.finished_at, again.final_positions.name) == (
        1,
        first.finished_at,
        first.final_positions.name,
    )


def test_a_failing_run_saves_its_error_and_is_requeued(mask):
    run = create_monte_carlo_run(defect_mask=mask, params=PARAMS, enqueue=False)
    mask.sheet_border.storage.delete(mask.sheet_border.name)
    OrmQ.objects.all().delete()
    run_monte_carlo(run.pk)
    run.refresh_from_db()
    assert (run.status, run.attempts) == (RunStatus.QUEUED, 1)
    assert run.error.startswith("FileNotFoundError")
    assert not run.final_positions
    assert OrmQ.objects.count() == 1  # queued again at once


def test_it_needs_a_pixel_size(mask):
    mask.image.pixel_size_nm = None
    mask.image.save()
    with pytest.raises(SimulationRejected, match="pixel size is unknown"):
        create_monte_carlo_run(defect_mask=mask, params=PARAMS)


def test_a_mask_of_the_wrong_size_is_rejected(mask):
    with pytest.raises(MaskRejected, match=r"expected 4 layers of 160x120 px"):
        store_defect_mask(mask.image, np.zeros((4, 10, 10), bool))


def test_the_run_page_shows_the_plots_and_hides_other_labs(client, labs, mask):
    run = create_monte_carlo_run(defect_mask=mask, params=PARAMS, enqueue=False)
    run_monte_carlo(run.pk)
    url = reverse("montecarlo-detail", args=[run.pk])
    client.force_login(labs["bob"])
    assert client.get(url).status_code == 404
    assert client.get(reverse("montecarlo-rendered", args=[run.pk])).status_code == 404
    client.force_login(labs["alice"])
    page = client.get(url).content.decode()
    assert "first-order fit" in page
    assert "on defects" in page
    assert "preview.png" in page  # the overlay's background, fetched through the scoped view
    assert client.get(reverse("plotly-js")).status_code == 200


def test_the_positions_download_as_the_stored_csv(client, labs, finished_run):
    client.force_login(labs["charlie"])  # viewers may read
    response = client.get(reverse("montecarlo-positions", args=[finished_run.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    body = b"".join(response.streaming_content)
    assert body == _stored(finished_run.final_positions)
    header, *rows = csv.reader(io.StringIO(body.decode()))
    assert header == ["x_px", "y_px", "state"]
    states = np.array([int(state) for _, _, state in rows])
    # One row per particle, in the states the kinetics ended with (solution, pristine, defect).
    assert np.bincount(states, minlength=3).tolist() == finished_run.kinetics["counts"][-1]
    assert all(x == y == "" for x, y, state in rows if state == "0")  # in solution: no position
    on_surface = np.array([(float(x), float(y)) for x, y, state in rows if state != "0"])
    assert ((on_surface >= 0) & (on_surface < [160, 120])).all()  # in the image's field, px


def test_the_rendered_image_downloads_as_the_stored_png(client, labs, finished_run):
    client.force_login(labs["alice"])
    response = client.get(reverse("montecarlo-rendered", args=[finished_run.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    body = b"".join(response.streaming_content)
    assert body == _stored(finished_run.rendered_image)
    with Image.open(io.BytesIO(body)) as png:
        assert (png.format, png.size) == ("PNG", (160, 120))  # the mask's image, width x height


def test_a_queued_run_has_no_downloads(client, labs, mask):
    run = create_monte_carlo_run(defect_mask=mask, params=PARAMS, enqueue=False)
    client.force_login(labs["alice"])
    for name in ("montecarlo-positions", "montecarlo-rendered"):
        assert client.get(reverse(name, args=[run.pk])).status_code == 404, name


def test_it_hides_other_labs_downloads(client, labs, finished_run):
    client.force_login(labs["bob"])
    for name in ("montecarlo-positions", "montecarlo-rendered"):
        assert client.get(reverse(name, args=[finished_run.pk])).status_code == 404, name
