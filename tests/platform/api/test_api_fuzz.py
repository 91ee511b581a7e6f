"""Schemathesis fuzzes every API operation against a live server: no 5xx, all as documented.

Every operation of ``/api/schema/`` is one test (``schema.parametrize``), run
against pytest-django's ``live_server`` (a real HTTP server in a thread, so
requests go through the same WSGI stack, middleware and content negotiation
as in production) with alice's token. Each test gets its own lab data (a
fresh database per test, as ``live_server`` needs a transactional one), so a
DELETE or PATCH of one operation's test never spoils another's.

All of Schemathesis's checks are on. One is configured: a schema-valid
request may still be refused with 400 for a reason OpenAPI cannot state
(a referenced row that does not exist or is in another lab, "exactly one
of image, region or sample", a synthesis parameter given twice). Such a 400
must still be documented and match its schema; only a 2xx is not required.

Generated ids rarely name a row, so half of the examples replace the path's
id and the ids in a JSON body with those of the test's rows: the success
responses are checked too, not only the 404s.

The multipart uploads (``POST /api/images/``, ``POST /api/defect-masks/``)
are fuzzed like the rest, but random bytes are never an SEM image or a mask,
so their success responses are checked by the two tests at the end, which
send real files through a Schemathesis case of the same operation.
"""

import io
from typing import Any

import hypothesis
import numpy as np
import pytest
import schemathesis
import tifffile
from drf_spectacular.generators import SchemaGenerator
from hypothesis import strategies as st

from analysis.defects import DEFECT_CLASSES
from tests.factories import png_bytes, sem_pixels

#: Fuzzed examples per operation (besides the schema's examples and the coverage phase's).
EXAMPLES = 30
#: A fixed seed: CI runs the same cases every time; change it to explore others.
SEED = 20261202


def _api_schema() -> dict:
    """The schema ``/api/schema/`` serves, built in-process so tests can be collected from it."""
    return SchemaGenerator().get_schema(request=None, public=True)


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": EXAMPLES, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            # See the module docstring: 400 is a documented answer to a well-formed request.
            "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "404", "409"]},
        },
    }
)
schema = schemathesis.openapi.from_dict(_api_schema(), config=CONFIG)

# The first path segment after /api/ → the row of the test's data its {id} or {slug} names.
_ROW_OF_PATH = {
    "labs": "lab",
    "materials": "material",
    "samples": "sample",
    "syntheses": "synthesis",
    "properties": "property",
    "images": "image",
    "calibration-changes": "calibration_change",
    "order-labels": "order_label",
    "defect-masks": "defect_mask",
    "analysis-runs": "analysis_run",
}
# Body fields that hold an id of one of the test's rows.
_BODY_IDS = {"sample": "sample", "image": "image", "material": "material", "parent": "sample"}


@pytest.fixture
def rows(labs) -> dict[str, Any]:
    """Lab A's rows of every kind the API serves, and alice's token.

    Lab B's sample (``labs``) is there too, so cross-lab ids are in the database.
    """
    from rest_framework.authtoken.models import Token

    from nanomark.imaging.calibration import Correction, recalibrate
    from nanomark.imaging.masks import store_defect_mask
    from nanomark.imaging.models import OrderLabel
    from nanomark.imaging.services import ingest_sem_image
    from nanomark.results.models import AnalysisRun
    from nanomark.samples.models import PropertyMeasurement, Synthesis, SynthesisParameter

    alice, sample = labs["alice"], labs["sample_a"]
    image = ingest_sem_image(
        sample=sample, data=png_bytes(sem_pixels()), filename="a.png", pixel_size_nm=1.0
    ).image
    # One image without a pixel size (its pixel_size_source is "").
    ingest_sem_image(sample=sample, data=png_bytes(sem_pixels(seed=1)), filename="b.png")
    synthesis = Synthesis.objects.create(sample=sample, kind="pd_decoration", temperature_c=80)
    SynthesisParameter.objects.create(synthesis=synthesis, name="rate", value=5, unit="K/min")
    measurement = PropertyMeasurement.objects.create(
        sample=sample, name="BET surface area", value=12.5, unit="m2/g"
    )
    label, _ = OrderLabel.record(image, alice, "ordered", "")
    (change,) = recalibrate(
        [image], Correction(pixel_size_nm=2.0, field=None, note="fuzz"), user=alice
    )
    layers = np.zeros((len(DEFECT_CLASSES), image.height_px, image.width_px), dtype=bool)
    mask = store_defect_mask(image, layers, annotator=None, note="")
    return {
        "token": Token.objects.create(user=alice).key,
        "lab": labs["a"].slug,
        "material": sample.material_id,
        "sample": sample.pk,
        "synthesis": synthesis.pk,
        "property": measurement.pk,
        "image": image.pk,
        "calibration_change": change.pk,
        "order_label": label.pk,
        "defect_mask": mask.pk,
        "analysis_run": AnalysisRun.objects.filter(image=image).latest("pk").pk,
    }


def _use_rows(case: schemathesis.Case, rows: dict[str, Any]) -> None:
    """Point the case's path parameter and JSON body ids at the test's rows."""
    resource = case.operation.path.split("/")[2]
    row = _ROW_OF_PATH.get(resource)
    for name in ("id", "slug"):
        if row is not None and name in (case.path_parameters or {}):
            case.path_parameters[name] = rows[row]
    if isinstance(case.body, dict) and case.media_type == "application/json":
        for field, row in _BODY_IDS.items():
            if isinstance(case.body.get(field), int):
                case.body[field] = rows[row]


@pytest.fixture
def fuzz_settings(settings):
    # The live server answers on 127.0.0.1 whatever the environment allows.
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]


@schema.parametrize()
@schema.given(data=st.data())
@hypothesis.settings(
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    print_blob=True,
)
def test_every_operation_answers_as_documented(case, data, live_server, rows, fuzz_settings):
    if data.draw(st.booleans(), label="use the test's rows"):
        _use_rows(case, rows)
    case.call_and_validate(
        base_url=live_server.url, headers={"Authorization": f"Token {rows['token']}"}
    )


def test_an_image_upload_answers_as_documented(live_server, rows, fuzz_settings):
    operation = schema["/api/images/"]["POST"]
    for name, pixels in [("new.png", sem_pixels(seed=7)), ("again.png", sem_pixels(seed=7))]:
        case = operation.Case(
            body={"file": png_bytes(pixels), "sample": rows["sample"]},
            media_type="multipart/form-data",
        )
        response = case.call_and_validate(
            base_url=live_server.url, headers={"Authorization": f"Token {rows['token']}"}
        )
        assert response.status_code == (201 if name == "new.png" else 200)


def test_a_mask_upload_answers_as_documented(live_server, rows, fuzz_settings):
    from nanomark.imaging.models import SEMImage

    image = SEMImage.objects.get(pk=rows["image"])
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as writer:
        for _ in DEFECT_CLASSES:  # one page per class, in class order
            writer.write(np.zeros((image.height_px, image.width_px), dtype=np.uint8))
    case = schema["/api/defect-masks/"]["POST"].Case(
        body={"image": image.pk, "file": buffer.getvalue()}, media_type="multipart/form-data"
    )
    response = case.call_and_validate(
        base_url=live_server.url, headers={"Authorization": f"Token {rows['token']}"}
    )
    assert response.status_code == 201, response.text
