"""Loading simulation/ data sets into a lab, and the demo that `make run` loads."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from nanomark.accounts.models import Lab
from nanomark.computations.models import MonteCarloRun
from nanomark.imaging.models import DefectMask, OrderLabel, SEMImage
from nanomark.results.models import AnalysisRun
from nanomark.runs import RunStatus
from simulation.dataset import write_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dataset")
    write_dataset(folder, 3, seed=5, shape=(180, 240), progress=False)
    return folder


def test_it_loads_images_labels_and_masks_once(labs, dataset):
    out = io.StringIO()
    call_command("load_synthetic", str(dataset), "--lab", "lab-a", stdout=out)
    assert "3 images imported, 0 already there; 3 order labels and 3 defect masks" in out.getvalue()
    manifest = json.loads((dataset / "manifest.json").read_text())
    for item in manifest["items"]:
        image = SEMImage.objects.get(original_filename=item["image"])
        assert image.pixel_size_nm == pytest.approx(item["pixel_size_nm"])
        assert image.order_labels.get().label == item["class"]
        assert image.defect_masks.get().load_layers().shape == (4, 180, 240)
        assert image.sample.syntheses.get().temperature_c == 80.0

    call_command("load_synthetic", str(dataset), "--lab", "lab-a", stdout=io.StringIO())
    assert (SEMImage.objects.count(), OrderLabel.objects.count(), DefectMask.objects.count()) == (
        3,
        3,
        3,
    )


def test_it_rejects_a_folder_without_a_manifest(labs, tmp_path):
    with pytest.raises(CommandError, match=r"no manifest\.json"):
        call_command("load_synthetic", str(tmp_path), "--lab", "lab-a")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("load_synthetic", str(tmp_path), "--lab", "lab-a")
    assert not SEMImage.objects.exists()


def test_the_demo_prints_a_fresh_working_password_each_run(client, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    passwords = []
    for _ in range(2):
        out = io.StringIO()
        call_command(
            "load_demo", "--images", "3", "--monte-carlo-runs", "1", "--no-training", stdout=out
        )
        passwords.append(out.getvalue().split("password: ")[1].split()[0])
    assert passwords[0] != passwords[1]
    assert not client.login(username="demo", password=passwords[0])
    assert client.login(username="demo", password=passwords[1])
    lab = Lab.objects.get(slug="demo")
    assert SEMImage.objects.filter(lab=lab).count() == 3
    assert MonteCarloRun.objects.get(lab=lab).status == RunStatus.SUCCEEDED
    # Without models, the analysis is the model-free part (particles).
    runs = AnalysisRun.objects.filter(lab=lab)
    assert [run.status for run in runs] == [RunStatus.SUCCEEDED] * 3
    assert client.get("/").status_code == 200
