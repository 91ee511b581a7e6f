"""Training model versions from a lab's labelled images (a background run per request).

The run cross-validates the network on the lab's labels or masks (the
paper's Table 1 metrics), trains the final model on all of them for the
median best epoch of the folds, and stores it as a ModelVersion that freezes
its training set. A classifier run also stores its encoder as a patch
embedder version, since the embedder is the classifier's trunk.

What the request leaves open (``recipe``, architecture or encoder
``"auto"``, crop, patience) the worker fills in from the recipe of the device
it trains on (:mod:`ml.devicerecipes`: the paper's on a GPU, the CPU recipe
elsewhere), recorded in the version's metadata.
"""

from dataclasses import dataclass, replace

import numpy as np
from django.conf import settings
from django.db import transaction

from ml.crossval import (
    CrossValResult,
    cross_validate_classifier,
    cross_validate_segmenter,
    format_table,
)
from ml.data import LabelledImage, make_record
from ml.device import resolve_device
from ml.devicerecipes import AUTO, RECIPES, Recipe, recipe_for
from ml.embedder import PatchEmbedder
from ml.inference import patch_embeddings
from ml.recipes import fit_classifier, fit_segmenter
from ml.registry import create_model, registered_models
from ml.training import TrainConfig
from nanomark.imaging.choices import AnnotationSource
from nanomark.imaging.models import DefectMask, OrderLabel, SEMImage, latest_per_image
from nanomark.registry.choices import ModelTask
from nanomark.registry.models import ModelVersion, TrainingRun
from nanomark.registry.particletraining import (
    PARTICLE_SETTINGS,
    particle_request_problem,
    train_particles,
)
from nanomark.registry.storing import store_model, version_name
from nanomark.registry.trainingtime import even_share_s, planned_time_problem

#: Settings a training request may give, with their defaults; None leaves the value to
#: the recipe (crop, crops per image, patience) or, for the minutes of the final fit and
#: of each fold, shares the worker's allowed time evenly among the folds and the final fit.
DEFAULT_SETTINGS = {
    "folds": 5,
    "epochs": 100,
    "batch_size": 16,
    "patience": None,
    "seed": 0,
    "crop_size": None,
    "samples_per_image": None,
    "minutes": None,
    "fold_minutes": None,
    "recipe": AUTO,
}


class TrainingRejected(ValueError):
    """The request cannot be trained; the message says why."""


@dataclass(frozen=True)
class TrainingSet:
    """Records for ml/ and the rows they came from (frozen into the model version)."""

    records: list[LabelledImage]
    image_ids: list[int]
    label_ids: list[int]
    mask_ids: list[int]


def create_training_run(
    *,
    lab,
    task: str,
    architecture: str,
    encoder: str | None = None,
    options: dict | None = None,
    created_by=None,
    enqueue: bool = True,
) -> TrainingRun:
    """Check a training request against the registry and the lab's data, store it, queue it.

    Raises:
        TrainingRejected: unknown model, unknown option, or too few labelled images.
    """
    _check_model(task, architecture, encoder)
    defaults = task_settings(task)
    unknown = set(options or {}) - set(defaults)
    if unknown:
        raise TrainingRejected(f"unknown training options {sorted(unknown)}")
    config = {**defaults, **(options or {})}
    if config.get("embedding_dim") is not None and config["embedding_dim"] < 1:
        raise TrainingRejected("embedding_dim must be at least 1")
    if task == ModelTask.PARTICLE_SEGMENTER:
        problem = particle_request_problem(lab, config)
    else:
        problem = _recipe_problem(config)
    if problem:
        raise TrainingRejected(problem)
    if task != ModelTask.PARTICLE_SEGMENTER:
        _check_enough(lab, task, config["folds"])
    with transaction.atomic():
        run = TrainingRun.objects.create(
            lab=lab,
            task=task,
            config={"architecture": architecture, "encoder": encoder, **config},
            created_by=created_by,
        )
        if enqueue:
            transaction.on_commit(lambda: TrainingRun.enqueue(run.pk))
    return run


def _check_model(task: str, architecture: str, encoder: str | None) -> None:
    """Refuse an unknown model; ``"auto"`` stands for the recipe's architecture or encoder.

    Particle segmenters have no recipes (:mod:`nanomark.registry.particletraining`).
    """
    models = [(a, e) for t, a, e in registered_models() if t == task]
    if AUTO in (architecture, encoder) and task == ModelTask.PARTICLE_SEGMENTER:
        known = False
    elif architecture == AUTO:
        known = encoder in (None, AUTO)
    elif encoder == AUTO:
        known = any(a == architecture and e is not None for a, e in models)
    else:
        known = (architecture, encoder) in models
    if not known:
        valid = ", ".join(f"{a}" + (f"/{e}" if e else "") for a, e in models)
        raise TrainingRejected(
            f"unknown {task} {architecture}/{encoder}; valid: {AUTO} (the recipe's), {valid}"
        )


def _recipe_problem(options: dict) -> str:
    """Why a classifier or segmenter request's recipe or time plan fails ("" if it does not)."""
    if options["recipe"] != AUTO and options["recipe"] not in RECIPES:
        return f"unknown recipe {options['recipe']!r}; valid: {AUTO}, {', '.join(RECIPES)}"
    return planned_time_problem(options["minutes"], options["fold_minutes"], options["folds"])


def task_settings(task: str) -> dict:
    """The options a training request for ``task`` may give, with their defaults.

    A classifier's ``embedding_dim`` is its patch embedder's output dimension
    (None: the trunk's 512 channels); a smaller one makes search faster.
    """
    if task == ModelTask.PARTICLE_SEGMENTER:
        return PARTICLE_SETTINGS
    if task == ModelTask.ORDER_CLASSIFIER:
        return {**DEFAULT_SETTINGS, "embedding_dim": None}
    return DEFAULT_SETTINGS


def _check_enough(lab, task: str, folds: int) -> None:
    if folds < 2:
        raise TrainingRejected("cross-validation needs at least 2 folds")
    if task == ModelTask.ORDER_CLASSIFIER:
        labels = _latest_labels(lab)
        counts = {
            name: sum(1 for label in labels.values() if label.label == name)
            for name in ("ordered", "disordered")
        }
        if min(counts.values()) < folds:
            raise TrainingRejected(
                f"{folds}-fold cross-validation needs at least {folds} ordered and {folds} "
                f"disordered labelled images; the lab has {counts['ordered']} and "
                f"{counts['disordered']}"
            )
    elif len(_latest_masks(lab)) < folds:
        raise TrainingRejected(
            f"{folds}-fold cross-validation needs at least {folds} images with defect masks"
        )


def _latest_labels(lab) -> dict[int, OrderLabel]:
    """One label per image: human labels before simulated ones, then the newest."""
    labels: dict[int, OrderLabel] = {}
    ordered = OrderLabel.objects.current().filter(image__lab=lab).order_by("-created_at", "-pk")
    for label in sorted(ordered, key=lambda row: row.source != AnnotationSource.HUMAN):
        labels.setdefault(label.image_id, label)
    return labels


def _latest_masks(lab) -> dict[int, DefectMask]:
    """One mask per image: reviewed masks first, then the newest."""
    return latest_per_image(DefectMask.objects.filter(image__lab=lab))


def training_set(lab, task: str) -> TrainingSet:
    """The lab's labelled images for ``task``, read into ml/ records (ordered by image key).

    Each record is the image's field (data bar cut off), with its mask cut to the same box.
    """
    classifier = task == ModelTask.ORDER_CLASSIFIER
    rows = _latest_labels(lab) if classifier else _latest_masks(lab)
    image_ids = sorted(rows)
    images = SEMImage.objects.in_bulk(image_ids)
    records = []
    for image_id in image_ids:
        image, row = images[image_id], rows[image_id]
        field = image.field_box
        records.append(
            make_record(
                field.crop(image.read_pixels()),
                image.pixel_size_nm,
                label=row.label if classifier else None,
                mask=None if classifier else field.crop(row.load_layers()),
                key=f"image {image_id}",
            )
        )
    row_ids = [rows[i].pk for i in image_ids]
    return TrainingSet(
        records,
        image_ids,
        label_ids=row_ids if classifier else [],
        mask_ids=[] if classifier else row_ids,
    )


def train(run: TrainingRun) -> ModelVersion:
    """Cross-validate, train the final model and store it (and, for a classifier, its embedder)."""
    if run.task == ModelTask.PARTICLE_SEGMENTER:
        return train_particles(run)
    options = run.config
    data = training_set(run.lab, run.task)
    recipe = recipe_for(resolve_device(settings.NANOMARK_DEVICE), options.get("recipe", AUTO))
    architecture = recipe.architecture(run.task, options["architecture"])
    encoder = recipe.encoder(run.task, options["encoder"])
    model_kwargs = recipe.model_kwargs(run.task)
    fold_config = _train_config(recipe, run.task, options, options.get("fold_minutes"))
    classifier = run.task == ModelTask.ORDER_CLASSIFIER
    folds = {
        "k": options["folds"],
        "config": fold_config,
        "val_fraction": recipe.validation_fraction,
        **model_kwargs,
    }
    if classifier:
        cv = cross_validate_classifier(data.records, architecture, **folds)
    else:
        cv = cross_validate_segmenter(data.records, architecture, encoder, **folds)
    final_epochs = cv.final_epochs()
    model = create_model(run.task, architecture, encoder, **model_kwargs)
    final_config = _train_config(recipe, run.task, options, options.get("minutes"))
    fit = fit_classifier if classifier else fit_segmenter
    fit(model, data.records, None, replace(final_config, epochs=final_epochs, patience=None))

    with transaction.atomic():
        version = _store(run, model, data, cv, final_epochs, recipe)
        if classifier:
            embedder = embedder_of(model, data.records, options.get("embedding_dim"))
            _store(run, embedder, data, cv, final_epochs, recipe, of=version)
    return version


def _train_config(recipe: Recipe, task: str, options: dict, minutes: float | None) -> TrainConfig:
    """The recipe's training settings for one fit of ``minutes`` (None: an even share)."""
    config = TrainConfig(
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        patience=options["patience"],
        seed=options["seed"],
        device=settings.NANOMARK_DEVICE,
        crop_size=options["crop_size"],
        samples_per_image=options["samples_per_image"],
        progress=False,
        # The folds and the final fit share the task's time; each stops in time to store.
        time_limit_s=even_share_s(options["folds"]) if minutes is None else 60.0 * minutes,
    )
    return recipe.train_config(task, config)


def embedder_of(classifier, records: list[LabelledImage], dim: int | None) -> PatchEmbedder:
    """The classifier's patch embedder; with ``dim``, projected to the principal directions.

    The projection is fitted (:meth:`ml.embedder.PatchEmbedder.fit_projection`) on the
    full embeddings of the training images' patches, on the search's grid.
    """
    if dim is None:
        return PatchEmbedder.from_classifier(classifier)
    full = PatchEmbedder.from_classifier(classifier)
    vectors = np.concatenate(
        [patch_embeddings(full, r.image, r.pixel_size_nm).vectors for r in records]
    )
    if len(vectors) < dim:
        raise TrainingRejected(
            f"embedding_dim {dim} needs at least {dim} patches; the training images hold "
            f"{len(vectors)}"
        )
    embedder = PatchEmbedder.from_classifier(classifier, dim=dim)
    embedder.fit_projection(vectors)
    return embedder


def _store(
    run, model, data: TrainingSet, cv: CrossValResult, epochs: int, recipe: Recipe, of=None
) -> ModelVersion:
    name = version_name(model.spec, run.pk, "-embedder" if of is not None else "")
    version = store_model(
        model,
        lab_id=run.lab_id,
        name=name,
        metadata={"training_run": run.pk, "final_epochs": epochs, "recipe": recipe.to_dict()},
        metrics={
            "cross_validation": {
                "mean": cv.mean(),
                "std": cv.std(),
                "folds": [fold.metrics for fold in cv.folds],
                "n_params": cv.n_params,
                "wall_time_s": cv.wall_time_s(),
                "table": format_table({name: cv}),
            },
            "derived_from": of.name if of is not None else None,
        },
        created_by=run.created_by,
        derived_from=of,
    )
    version.training_images.set(data.image_ids)
    version.training_labels.set(data.label_ids)
    version.training_masks.set(data.mask_ids)
    return version
