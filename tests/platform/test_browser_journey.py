"""A new user's first session in a real browser: login → upload → analysis → search → export.

Headless Chromium (Debian's ``chromium``, which ``make test`` installs) is
driven by Playwright against a live server on the test database, with a real
django-q2 worker analysing the uploads. Skipped where Chromium is missing.
"""

import csv
import io
import os
import shutil
import time

import pytest

from nanomark.imaging.models import SEMImage
from nanomark.results.models import AnalysisRun
from nanomark.runs import RunStatus

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None, reason="Chromium is not installed (make test installs it)"
    ),
]
ANALYSIS_TIMEOUT_MS = 180_000


@pytest.fixture
def page():
    """A fresh headless Chromium page (Playwright's event loop needs Django's async guard off)."""
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        context = browser.new_context(accept_downloads=True)
        context.set_default_timeout(30_000)
        yield context.new_page()
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def test_a_new_user_uploads_sees_the_analysis_searches_and_exports(
    labs, active_models, rendered_png, cluster, live_server, page
):
    from playwright.sync_api import expect

    cluster()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-pw-Long-9")
    page.click("button[type=submit], input[type=submit]")
    expect(page.get_by_role("link", name="S1", exact=True)).to_be_visible()

    # Upload two images to sample S1: inspected first, then stored with a pixel size.
    page.get_by_role("link", name="S1", exact=True).click()
    page.get_by_role("link", name="Upload images").click()
    page.set_input_files(
        "input[type=file]",
        [
            {"name": "first.png", "mimeType": "image/png", "buffer": rendered_png(1)},
            {"name": "second.png", "mimeType": "image/png", "buffer": rendered_png(2)},
        ],
    )
    page.click("#upload-button")
    expect(page.get_by_text("first.png")).to_be_visible()
    for field in page.locator("input[name^=pixel_size_nm_]").all():
        field.fill("1.0")
    page.get_by_role("button", name="Store the chosen images").click()
    expect(page.get_by_text("second.png").first).to_be_visible()
    first = SEMImage.objects.get(original_filename="first.png")

    # The worker analyses them; the image page refreshes itself and shows the order score.
    page.goto(f"{live_server.url}/images/{first.pk}/")
    expect(page.get_by_text("Order score S")).to_be_visible(timeout=ANALYSIS_TIMEOUT_MS)
    expect(page.locator("meter")).to_have_count(1)

    # Similar-material search by the whole first image finds the second one, once analysed.
    deadline = time.monotonic() + ANALYSIS_TIMEOUT_MS / 1000
    while AnalysisRun.objects.exclude(status=RunStatus.SUCCEEDED).exists():
        assert time.monotonic() < deadline, "the worker did not finish the analyses"
        time.sleep(0.5)
    page.goto(f"{live_server.url}/search/?image={first.pk}")
    expect(page.get_by_text("second.png").first).to_be_visible()

    # Export one tidy row per image, with the analysis in it.
    page.goto(f"{live_server.url}/")
    with page.expect_download() as download:
        page.get_by_role("link", name="images CSV").click()
    with open(download.value.path(), encoding="utf-8") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    by_name = {row["filename"]: row for row in rows}
    assert set(by_name) == {"first.png", "second.png"}
    assert 0.0 < float(by_name["first.png"]["order_score"]) < 1.0
