"""``manage.py import_sem``: files in, a summary of imported / duplicate / rejected out."""

import io

import pytest
from django.core.management import CommandError, call_command

from nanomark.imaging.models import SEMImage
from tests.factories import bad_files, hitachi_sidecar, png_bytes, sem_pixels, tiff_bytes

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_sem", *args, stdout=out, verbosity=0)
    return out.getvalue()


def test_it_imports_a_folder_with_sidecars(labs, tmp_path):
    folder = tmp_path / "session"
    (folder / "sub").mkdir(parents=True)
    (folder / "1-ordered.tif").write_bytes(tiff_bytes(sem_pixels(seed=1)))
    (folder / "1-ordered.txt").write_bytes(hitachi_sidecar(pixel_size_nm=1.5))
    (folder / "sub" / "2.png").write_bytes(png_bytes(sem_pixels(seed=2)))
    (folder / ".hidden.png").write_bytes(png_bytes(sem_pixels(seed=3)))

    out = run(str(folder), "--sample", "S1", "--lab", "lab-a", "--user", "alice")

    assert "2 imported, 0 duplicate, 0 skipped, 0 rejected" in out
    image = SEMImage.objects.get(original_filename="1-ordered.tif")
    assert (image.pixel_size_nm, image.uploaded_by) == (1.5, labs["alice"])
    assert image.lab == labs["a"]


def test_it_reports_duplicates_and_rejections(labs, tmp_path):
    data = tiff_bytes(sem_pixels())
    (tmp_path / "a.tif").write_bytes(data)
    (tmp_path / "copy.tif").write_bytes(data)
    (tmp_path / "notes.tif").write_bytes(bad_files()["plain_text"])

    out = io.StringIO()
    with pytest.raises(CommandError, match="1 file\\(s\\) rejected"):
        call_command(
            "import_sem", str(tmp_path), "--sample", "S1", "--lab", "lab-a", stdout=out, verbosity=0
        )
    text = out.getvalue()
    assert "1 imported, 1 duplicate, 0 skipped, 1 rejected" in text
    assert "rejected: notes.tif:" in text
    assert SEMImage.objects.count() == 1


def test_it_needs_the_lab_when_the_code_is_ambiguous(labs, tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(sem_pixels()))
    with pytest.raises(CommandError, match="several labs have a sample 'S1'"):
        run(str(tmp_path), "--sample", "S1")


def test_it_fails_clearly_on_unknown_sample_and_path(labs, tmp_path):
    with pytest.raises(CommandError, match="no sample with code 'NOPE'"):
        run(str(tmp_path), "--sample", "NOPE")
    with pytest.raises(CommandError, match="no such file or folder"):
        run(str(tmp_path / "missing"), "--sample", "S1", "--lab", "lab-a")


def test_it_skips_the_mask_layers_of_a_simulated_data_set(labs, tmp_path):
    from simulation.dataset import write_dataset

    write_dataset(tmp_path / "set", n_images=2, shape=(96, 128), seed=0)
    out = run(str(tmp_path / "set"), "--sample", "S1", "--lab", "lab-a")
    assert "2 imported, 0 duplicate, 13 skipped, 0 rejected" in out
    assert "the name marks a mask or label layer" in out
    assert all(
        name.endswith(".tif")
        for name in SEMImage.objects.values_list("original_filename", flat=True)
    )


def test_a_pattern_chooses_the_files_and_content_still_tells_masks(labs, tmp_path):
    mask = sem_pixels() > 128
    (tmp_path / "a.png").write_bytes(png_bytes(sem_pixels(seed=1)))
    (tmp_path / "b.png").write_bytes(png_bytes(mask.astype("uint8") * 255))
    (tmp_path / "c.tif").write_bytes(tiff_bytes(sem_pixels(seed=2)))
    out = run(str(tmp_path), "--sample", "S1", "--lab", "lab-a", "--pattern", "*.png")
    assert "1 imported, 0 duplicate, 1 skipped, 0 rejected" in out
    assert "b.png: the image has 2 grey levels" in out
