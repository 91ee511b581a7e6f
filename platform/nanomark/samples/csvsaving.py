"""Saving a sample CSV into a lab, after checking its rows against the lab's samples.

An import only ever adds: a code the lab already has is an error (its sample is edited
on its page), so a file imported twice cannot duplicate syntheses or overwrite values.
An import with any row in error saves nothing (:func:`save_import` refuses), so a
corrected file can then be imported whole, without first working out which rows of
a partial import went in.
"""

from django.db import IntegrityError, transaction

from nanomark.accounts.models import Lab
from nanomark.samples.csvimport import CSVImportError
from nanomark.samples.csvrows import ImportPreview, read_csv
from nanomark.samples.models import Material, PropertyMeasurement, Sample, Synthesis


def prepare_import(data: bytes, lab: Lab) -> ImportPreview:
    """Parse ``data`` (the file's bytes) and check every row, also against ``lab``'s rows.

    Raises:
        CSVImportError: the file cannot be read as a sample table at all (encoding,
            size, header); row-level problems are listed on the rows instead.
    """
    preview = read_csv(data)
    check_against_lab(preview, lab)
    return preview


def check_against_lab(preview: ImportPreview, lab: Lab) -> None:
    """Add the errors that depend on ``lab``'s stored samples and materials to the rows.

    A code the lab has is an error; a material the lab lacks is created when the row
    gives its kind; a kind that contradicts the material's (stored, or given on an
    earlier row) is an error. Marks the rows that create a material.
    """
    existing_codes = set(Sample.objects.filter(lab=lab).values_list("code", flat=True))
    kinds = dict(Material.objects.filter(lab=lab).values_list("name", "kind"))
    for row in preview.rows:
        if row.code in existing_codes:
            row.errors.append(
                f"code: {lab.name} already has a sample {row.code}; an import only adds "
                "samples (edit it on its page)."
            )
        if not row.material:
            continue
        known_kind = kinds.get(row.material)
        if known_kind is None:
            if row.material_kind:
                kinds[row.material] = row.material_kind
                row.creates_material = True
            else:
                row.errors.append(
                    f"material: {row.material!r} is not a material of {lab.name}; "
                    "give its material_kind to create it."
                )
        elif row.material_kind and row.material_kind != known_kind:
            row.errors.append(
                f"material_kind: {row.material} is {known_kind}, not {row.material_kind} "
                "(as stored, or as given on an earlier line)."
            )


def save_import(data: bytes, lab: Lab, user) -> list[Sample]:
    """Import the file into ``lab`` in one transaction: every sample, or none.

    The file is checked again inside the transaction, so rows stored since the
    preview are taken into account.

    Raises:
        CSVImportError: the file or any row has an error; nothing was saved.
    """
    try:
        with transaction.atomic():
            preview = prepare_import(data, lab)
            if not preview.is_clean:
                raise CSVImportError(
                    f"{len(preview.error_rows)} of {len(preview.rows)} lines have errors; "
                    "nothing was imported."
                )
            return _save_rows(preview, lab, user)
    except IntegrityError:
        raise CSVImportError(
            f"{lab.name}'s samples changed during the import; nothing was imported. "
            "Upload the file again."
        ) from None


def _save_rows(preview: ImportPreview, lab: Lab, user) -> list[Sample]:
    materials = {material.name: material for material in Material.objects.filter(lab=lab)}
    for name, kind in preview.new_materials.items():
        materials[name] = Material.objects.create(lab=lab, name=name, kind=kind)
    samples = Sample.objects.bulk_create(
        Sample(
            lab=lab,
            code=row.code,
            material=materials[row.material],
            description=row.description,
            created_by=user,
        )
        for row in preview.rows
    )
    pairs = list(zip(samples, preview.rows, strict=True))
    Synthesis.objects.bulk_create(
        Synthesis(sample=sample, **row.synthesis) for sample, row in pairs if row.synthesis
    )
    PropertyMeasurement.objects.bulk_create(
        PropertyMeasurement(sample=sample, name=column.name, unit=column.unit, value=value)
        for sample, row in pairs
        for column, value in row.properties
    )
    return samples
