"""Deep learning for NanoMark (PyTorch only, never Django): model builders for order
classification, defect segmentation and patch embeddings, training with
cross-validation, inference and saliency.
"""
