"""Torch device choice and mixed precision.

The platform passes ``NANOMARK_DEVICE`` (``auto``, ``cpu``, ``cuda``) to
:func:`resolve_device`. On CUDA, work runs under :func:`autocast`: bfloat16
where the GPU supports it (no loss scaling needed), else float16 with the
:func:`grad_scaler` that float16 needs; on CPU everything stays float32.
"""

import contextlib
from typing import Literal

import torch

DeviceName = Literal["auto", "cpu", "cuda"]


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device that ``name`` asks for.

    Args:
        name: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or
            an explicit ``"cuda:N"``.

    Raises:
        ValueError: unknown name.
        RuntimeError: CUDA asked for but not available.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} asked for, but CUDA is not available")
        return torch.device(name)
    raise ValueError(f"unknown device {name!r}; expected one of auto, cpu, cuda")


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """Autocast dtype on ``device``: bfloat16 or float16 on CUDA, ``None`` (float32) on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """Mixed-precision context for forward passes on ``device`` (a no-op on CPU)."""
    dtype = amp_dtype(device)
    if not enabled or dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, enabled: bool = True) -> torch.amp.GradScaler:
    """Loss scaler, active only where autocast runs in float16 (bfloat16 needs none)."""
    active = enabled and amp_dtype(device) == torch.float16
    return torch.amp.GradScaler(device.type, enabled=active)
