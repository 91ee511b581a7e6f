"""Torch device choice and mixed precision.

The platform passes ``NANOMARK_DEVICE`` (``auto``, ``cpu``, ``cuda``) to
:func:`resolve_device`. On CUDA, work runs under :func:`autocast`: bfloat16
where the GPU supports it (no loss scaling needed), else float16 with the
:func:`grad_scaler` that float16 needs. On a CPU, work stays float32 unless
bfloat16 is asked for (``cpu=True``, the CPU recipe's training) and the CPU
computes it natively (AVX512-BF16 or AMX: :func:`cpu_bf16_supported`).
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


def cpu_bf16_supported() -> bool:
    """Whether this CPU computes bfloat16 natively (oneDNN's AVX512-BF16 or AMX kernels)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def amp_dtype(device: torch.device, cpu: bool = False) -> torch.dtype | None:
    """Autocast dtype on ``device``: bfloat16 or float16 on CUDA; on a CPU ``None`` (float32).

    With ``cpu``, a CPU that computes bfloat16 natively gets bfloat16 (without such
    kernels it would be emulated, slower than float32).
    """
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if cpu and device.type == "cpu" and cpu_bf16_supported():
        return torch.bfloat16
    return None


def autocast(
    device: torch.device, enabled: bool = True, cpu: bool = False
) -> contextlib.AbstractContextManager:
    """Mixed-precision context for forward passes on ``device`` (on a CPU only with ``cpu``)."""
    dtype = amp_dtype(device, cpu)
    if not enabled or dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, enabled: bool = True) -> torch.amp.GradScaler:
    """Loss scaler, active only where autocast runs in float16 (bfloat16 needs none)."""
    active = enabled and amp_dtype(device) == torch.float16
    return torch.amp.GradScaler(device.type, enabled=active)
