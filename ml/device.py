"""Torch device choice and mixed precision.

The platform passes ``NANOMARK_DEVICE`` (``auto``, ``cpu``, ``cuda``) to
:func:`resolve_device`. On CUDA, work runs under :func:`autocast`: bfloat16
where the GPU supports it (no loss scaling needed), else float16 with the
:func:`grad_scaler` that float16 needs. On a CPU, work stays float32 unless
bfloat16 is asked for (``cpu=True``, the CPU recipe's training) and the CPU
computes it natively (AVX512-BF16 or AMX-BF16: :func:`cpu_bf16_supported`).
"""

import contextlib
import functools
from pathlib import Path
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


#: CPU flags (Linux ``/proc/cpuinfo``) of native bfloat16 arithmetic.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags of this machine's first CPU; empty where ``cpuinfo`` is absent."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


@functools.cache
def cpu_bf16_supported() -> bool:
    """Whether this CPU computes bfloat16 natively: AVX512-BF16 or AMX-BF16, and oneDNN has it.

    oneDNN's own check (``torch.ops.mkldnn._is_mkldnn_bf16_supported``) also says yes on
    plain AVX-512, where bfloat16 is emulated: on such a Xeon, a ResNet18 training step
    at 128 px ran at 0.56 x float32's speed (8.3 vs 14.8 crops/s, one thread), so the
    flags decide. Elsewhere than Linux no flags are read, and float32 is kept.
    """
    native = bool(BF16_CPU_FLAGS & cpu_flags())
    return native and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


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
