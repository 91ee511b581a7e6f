"""Particle labels of an image: uploaded as a mask or a CSV (page and API), shown, scored."""

import csv
import io
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from nanomark.imaging.models import ParticleAnnotation, SEMImage
from nanomark.results.models import AnalysisRun, ParticleStatistics
from nanomark.runs import RunStatus
from tests.factories import png_bytes, sem_pixels
from tests.platform.html import parse_html

pytestmark = pytest.mark.django_db

HEIGHT, WIDTH = 96, 128  # of sem_pixels()
#: Labelled particles: (x, y, radius) px; the last two touch.
DISCS = [(20, 20, 4), (60, 30, 3), (90, 70, 5), (101, 70, 5)]


@pytest.fixture
def image(labs) -> SEMImage:
    from nanomark.imaging.services import ingest_sem_image

    return ingest_sem_image(
        sample=labs["sample_a"], data=png_bytes(sem_pixels()), filename="a.png", pixel_size_nm=2.0
    ).image


def _mask_png(shape=(HEIGHT, WIDTH), discs=DISCS) -> bytes:
    mask = np.zeros(shape, np.uint8)
    for x, y, r in discs:
        cv2.circle(mask, (x, y), r, 255, -1)
    return png_bytes(mask)


def _rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def _post(client, image, name: str, data: bytes, note: str = ""):
    body = {"image": image.pk, "file": SimpleUploadedFile(name, data), "note": note}
    return client.post("/api/particle-annotations/", body, format="multipart")


def test_a_mask_is_stored_with_its_particles_touching_ones_split(api, labs, image):
    alice = api("alice")
    response = _post(alice, image, "labels.png", _mask_png(), note="GIMP")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["count"], body["annotator"], body["note"]) == (4, "alice", "GIMP")
    rows = _rows(b"".join(alice.get(body["particles_url"]).streaming_content))
    centres = sorted((round(float(r["x_px"])), round(float(r["y_px"]))) for r in rows)
    assert centres == sorted((x, y) for x, y, _ in DISCS)
    for row in rows:
        radius = next(r for x, y, r in DISCS if abs(float(row["x_px"]) - x) < 1.5)
        assert float(row["diameter_px"]) == pytest.approx(2 * radius + 1, rel=0.15)
    mask = alice.get(body["mask_url"])
    assert mask["Content-Type"] == "image/png"
    decoded = cv2.imdecode(np.frombuffer(b"".join(mask.streaming_content), np.uint8), 0)
    assert decoded.shape == (HEIGHT, WIDTH)
    assert (decoded[20, 20], decoded[0, 0]) == (255, 0)


def test_a_csv_is_stored_as_given_in_px_or_nm(api, labs, image):
    alice = api("alice")
    px = _post(alice, image, "p.csv", b"x_px,y_px,diameter_px\n10.5,20,6\n100,90,3.5\n")
    assert px.status_code == 201, px.json()
    assert px.json()["mask_url"] is None
    rows = _rows(b"".join(alice.get(px.json()["particles_url"]).streaming_content))
    assert rows == [
        {"x_px": "10.50", "y_px": "20.00", "diameter_px": "6.00"},
        {"x_px": "100.00", "y_px": "90.00", "diameter_px": "3.50"},
    ]
    nm = _post(alice, image, "n.csv", b"x_px,y_px,diameter_nm\n10,20,8\n")  # 2 nm/px
    rows = _rows(b"".join(alice.get(nm.json()["particles_url"]).streaming_content))
    assert rows[0]["diameter_px"] == "4.00"
    listed = alice.get("/api/particle-annotations/", {"image": image.pk}).json()["results"]
    assert [row["count"] for row in listed] == [1, 2]  # newest first


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "p.csv",
            b"x_px,y_px,diameter_px\n10,20,6\n500,20,6\n",
            "1 particle(s) lie off the 128x96",
        ),
        ("p.csv", b"x_px,y_px\n10,20\n", "diameter"),
        ("m.png", _mask_png(shape=(50, 50), discs=[]), "the mask is 50x50 px, expected 128x96"),
        ("m.png", b"not an image", "not a PNG or TIFF"),
    ],
)
def test_labels_that_do_not_fit_are_a_400_and_store_nothing(api, labs, image, name, data, message):
    response = _post(api("alice"), image, name, data)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not ParticleAnnotation.objects.exists()


def test_labels_need_write_access_and_stay_in_their_lab(api, labs, image):
    assert _post(api("charlie"), image, "p.csv", b"x_px,y_px,diameter_px\n").status_code == 403
    assert _post(api("bob"), image, "p.csv", b"x_px,y_px,diameter_px\n").status_code == 400
    stored = _post(api("alice"), image, "m.png", _mask_png()).json()
    bob = api("bob")
    assert bob.get(f"/api/particle-annotations/{stored['id']}/").status_code == 404
    assert bob.get(stored["particles_url"]).status_code == 404
    assert bob.get(stored["mask_url"]).status_code == 404


def test_a_field_sized_mask_is_stored_at_the_frame_size(api, labs, image):
    image.field_height_px = 80  # a 16-px data bar below the field
    image.save()
    response = _post(
        api("alice"), image, "field.png", _mask_png(shape=(80, WIDTH), discs=DISCS[:2])
    )
    assert response.status_code == 201, response.json()
    annotation = ParticleAnnotation.objects.get()
    with annotation.mask.open("rb") as handle:
        mask = cv2.imdecode(np.frombuffer(handle.read(), np.uint8), 0)
    assert mask.shape == (HEIGHT, WIDTH)
    assert annotation.count == 2


def _current_run(image, detections: list[tuple[float, float, float]]) -> AnalysisRun:
    """A succeeded run of ``image`` whose particles are (x px, y px, diameter nm)."""
    run = AnalysisRun.objects.get(image=image)  # queued when the image was stored
    run.status, run.finished_at = RunStatus.SUCCEEDED, datetime(2026, 1, 1, tzinfo=UTC)
    run.pixel_size_nm = 2.0
    run.save()
    text = "x_px,y_px,diameter_nm\n" + "".join(f"{x},{y},{d}\n" for x, y, d in detections)
    stats = ParticleStatistics(run=run, count=len(detections))
    stats.positions.save(f"run{run.pk}.particles.csv", ContentFile(text.encode()))
    return run


def test_the_image_page_shows_the_labels_and_the_current_analysis_against_them(client, labs, image):
    client.force_login(labs["alice"])
    upload = client.post(
        reverse("image-particles-upload", args=[image.pk]),
        {"file": SimpleUploadedFile("labels.png", _mask_png()), "note": "by hand"},
    )
    assert upload.status_code == 302
    annotation = ParticleAnnotation.objects.get()
    # Three of the four found (diameters in nm at 2 nm/px), one false detection.
    _current_run(image, [(20, 20, 18), (60, 30, 14), (90.5, 70, 22), (5, 90, 6)])
    page = parse_html(client.get(image.get_absolute_url()).content.decode())
    scores = _with(page, "id", "particle-scores")
    cells = [cell.text() for cell in scores.find_all("td")]
    # P 3/4, R 3/4, F1 0.75; count error 0 %; sizes: 18/2=9 vs 9, 7 vs 7, 11 vs 11 px.
    assert cells[:5] == [str(annotation.pk), "0.750", "0.750", "0.750", "0 %"]
    toggle = _with(page, "data-toggle", f"labels-{annotation.pk}")
    assert toggle.tag == "input"
    layer = _with(page, "data-layer", f"labels-{annotation.pk}")
    assert layer.attrs["data-src"] == reverse("particle-annotation-csv", args=[annotation.pk])


def _with(root, name: str, value: str):
    """The one element of ``root`` whose attribute ``name`` is ``value``."""
    (element,) = [e for e in root.descendants() if e.attrs.get(name) == value]
    return element


def test_a_bad_label_file_on_the_page_is_a_400_naming_it(client, labs, image):
    client.force_login(labs["alice"])
    response = client.post(
        reverse("image-particles-upload", args=[image.pk]),
        {"file": SimpleUploadedFile("p.csv", b"x_px,y_px,diameter_px\n1,2,-3\n")},
    )
    assert response.status_code == 400
    assert "p.csv" in response.content.decode()
    assert not ParticleAnnotation.objects.exists()


def test_evaluate_particles_prints_each_image_and_the_pooled_score(labs, image):
    from nanomark.imaging.particleannotations import read_particle_upload, store_particle_annotation

    mask, particles = read_particle_upload(image, "m.png", _mask_png())
    store_particle_annotation(image, particles, mask=mask)
    run = _current_run(image, [(20, 20, 18), (60, 30, 14)])
    out = io.StringIO()
    call_command("evaluate_particles", "--image", str(image.pk), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1].split()[:8] == [
        str(image.pk),
        str(ParticleAnnotation.objects.get().pk),
        str(run.pk),
        "4",
        "2",
        "1.000",
        "0.500",
        "0.667",
    ]
    assert lines[-1] == "pooled over 1 label set(s): precision 1.000, recall 0.500, F1 0.667"
    with pytest.raises(Exception, match="has no particle labels"):
        call_command("evaluate_particles", "--sample", "NOPE", "--lab", "lab-a")
