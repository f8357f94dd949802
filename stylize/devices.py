"""Choosing the compute device: ``--device auto|cpu|cuda|cuda:N|mps`` or ``STYLIZE_DEVICE``."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import sys

import torch

from stylize.config import CONCRETE_PRECISIONS
from stylize.errors import DeviceError, UsageError

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def device_spec(spec: str | None) -> str:
    """The device string in force: the argument, else ``STYLIZE_DEVICE``, else 'auto'."""
    spec = (spec or os.environ.get("STYLIZE_DEVICE") or "auto").strip().lower()
    if not DEVICE_PATTERN.match(spec):
        raise UsageError(f"unknown device '{spec}'", "use auto, cpu, cuda, cuda:N or mps")
    return spec


def resolve_device(spec: str | None = None) -> torch.device:
    """Turn a device string into an available ``torch.device`` or raise :class:`DeviceError`."""
    spec = device_spec(spec)
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", _local_rank() % torch.cuda.device_count())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec.startswith("cuda"):
        _check_cuda(spec)
    elif spec == "mps" and not _mps_available():
        raise DeviceError("device 'mps' is not available", "use --device cpu")
    return torch.device(spec)


def _local_rank() -> int:
    """torchrun's LOCAL_RANK: each process of a node takes its own GPU."""
    value = os.environ.get("LOCAL_RANK", "0")
    return int(value) if value.isdigit() else 0


def _check_cuda(spec: str) -> None:
    if not torch.cuda.is_available():
        raise DeviceError(f"device '{spec}' requested but CUDA is not available", "use --device cpu or auto")
    index = int(spec.split(":")[1]) if ":" in spec else 0
    if index >= torch.cuda.device_count():
        raise DeviceError(f"device '{spec}' does not exist ({torch.cuda.device_count()} CUDA devices)")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def native_bf16(device: torch.device) -> bool:
    """True where bf16 matrix maths runs natively (AVX512-BF16/AMX CPUs, Ampere+ GPUs).

    oneDNN also *accepts* bf16 on plain AVX-512 CPUs (``_is_mkldnn_bf16_supported`` says yes) but emulates it
    there: a 3x3 conv ran 5x slower than in fp32 on such a Xeon, so only the CPU's own instructions count.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.backends.mkldnn.is_available() and _cpu_has_bf16_instructions()
    return False


def _cpu_has_bf16_instructions() -> bool:
    """AVX512-BF16 or AMX, as torch reads them off the CPU (False on a torch too old to say)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


AUTO_BF16 = ("native", "cuda", "never")  # where --precision auto means bf16: the one place that decides


def effective_precision(precision: str, device: torch.device, auto_bf16: str = "native") -> str:
    """``auto`` -> bf16 where ``auto_bf16`` allows it and the hardware has it, else fp32.

    ``native``: every device with native bf16 (inference, train-fast, train-adain: measured 2-3.6x
    on AVX512-BF16 CPUs); ``cuda``: GPUs only (GAN training, not measured in bf16 on CPUs);
    ``never``: always fp32 (GAN sampling, so every device gives the same image). fp16 is refused
    on CPU (no fast kernels there).
    """
    if precision == "auto":
        allowed = auto_bf16 == "native" or (auto_bf16 == "cuda" and device.type == "cuda")
        return "bf16" if allowed and native_bf16(device) else "fp32"
    _refuse_cpu_fp16(precision, device)
    return precision


def _refuse_cpu_fp16(precision: str, device: torch.device) -> None:
    if precision == "fp16" and device.type == "cpu":
        raise UsageError("fp16 is not supported on CPU", "use --precision bf16 or fp32")


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype for ``fp32|bf16|fp16`` (None means no autocast)."""
    if precision not in CONCRETE_PRECISIONS:
        raise UsageError(f"unknown precision '{precision}'", "use fp32, bf16 or fp16")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(device: torch.device, precision: str):
    """An autocast context for ``precision`` on ``device`` (a no-op for fp32)."""
    dtype = autocast_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    _refuse_cpu_fp16(precision, device)
    return torch.autocast(device_type=device.type, dtype=dtype)


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's largest: blocks up to 32 MiB come from the heap, not a fresh mmap
_KEEP_FREE = (1 << 31) - 1  # free heap memory kept for reuse instead of returned to the kernel (int max)


def tune_host_allocator() -> bool:
    """Keep freed activation buffers for reuse (glibc only); True if applied. Process-wide: the
    trainers and every stylizing run on a CPU (``backends.stylizer.start``) call it; freed memory
    is then kept for the process's life instead of returned to the kernel.

    Training frees and reallocates the same multi-megabyte tensors every step, inference every
    image. glibc serves each from a fresh mmap and returns it on free, so every step page-faults
    its activations in again: a train-adain step at 256² spent 30% of its time in the kernel.
    Raising the mmap and trim thresholds made it 1.7-1.9x faster, and `stylize adain`'s model on
    a 512² image 10% faster (BENCHMARKS.md).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    settings = ((_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _KEEP_FREE), (_M_TOP_PAD, 1 << 30))
    return all(mallopt(param, value) == 1 for param, value in settings)


def torch_facts(device: str | None = None) -> dict[str, object]:
    """torch's version, the device ``device`` resolves to (a bad one raises), the GPUs seen, CPU threads."""
    return {
        "torch": torch.__version__,
        "device": str(resolve_device(device)),
        "cuda_devices": torch.cuda.device_count(),
        "cpu_threads": torch.get_num_threads(),
    }
