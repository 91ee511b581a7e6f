"""Deep learning for NanoMark (PyTorch only, never Django): model builders for order
classification, defect segmentation and patch embeddings, training with
cross-validation, inference and saliency.

Modules, by topic:

* :mod:`ml.registry` — ``MODELS`` and ``create_model(task, architecture, encoder)``;
  the families are :mod:`ml.classifiers` (ResNet34, VGG-13, AlexNet),
  :mod:`ml.segmenters` (smp FPN / U-Net), :mod:`ml.embedder` and
  :mod:`ml.particles` (native-resolution particle U-Net: training, tiled
  inference, watershed instances, k-fold scores); every model
  carries the :class:`ml.spec.ModelSpec` that rebuilds it.
* :mod:`ml.data` (records, preprocessing to a physical scale, datasets) and
  :mod:`ml.augment` (the paper's augmentations).
* :mod:`ml.training` (loop, early stopping, checkpoints, seeding),
  :mod:`ml.recipes` (per-task losses and validation), :mod:`ml.metrics` and
  :mod:`ml.crossval` (k-fold, Table 1).
* :mod:`ml.inference` (order score, tiled defect maps, saliency, patch embeddings),
  :mod:`ml.persistence` (``config.json`` + safetensors, SHA-256) and
  :mod:`ml.device` (``resolve_device``, mixed precision).

No weights or data are ever downloaded.
"""
