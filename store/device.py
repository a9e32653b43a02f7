"""Where models run: device resolution, bf16 choice and batch sizes that fit the accelerator's memory.

Shared by the embedder (`store.device`) and the students (`student.device`); kept in store/ because
trainer/ may import store/ but not the other way round. Every decision is a small pure-ish function of
`torch.cuda`'s answers, so tests mock `torch.cuda` and check the choices without a GPU.
On a CPU nothing changes: the device is `cpu` and the configured batch sizes are used as they are.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from distillgraph.store.schema import UserError

if TYPE_CHECKING:
    import torch

MEMORY_FRACTION = 0.6  # of the free accelerator memory that batches may take (the rest: weights, optimizer, fragmentation)
INFERENCE_GROWTH = 8  # inference batches grow up to this factor on a GPU (no effect on results, only speed)
MAX_INFERENCE_BATCH = 1024


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 matmuls (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slow."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def no_hub_kernels() -> dict[str, Any]:
    """`from_pretrained` kwargs that keep transformers from swapping in Hugging Face Hub kernels.

    With the `kernels` package installed (transformers 5 depends on it), transformers kernelizes a model on CUDA
    the first time it enters train or eval mode, fetching the kernels from the Hub: a download at run time, and
    an error offline (seen on an H200, bench/gpu.sh). Empty where transformers has no such switch.
    """
    try:
        from transformers.utils import is_kernels_available
    except ImportError:
        return {}
    return {"use_kernels": False} if is_kernels_available() else {}


def resolve_device(setting: str, key: str = "student.device") -> torch.device:
    """`auto`: the first CUDA GPU when one is visible, else the CPU; `cuda` without a GPU is a user error."""
    import torch

    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"{key}: {setting!r} asked for, but no CUDA GPU is visible (use auto or cpu)")
    try:
        return torch.device(setting)
    except RuntimeError:
        raise UserError(f"{key}: unknown device {setting!r} (auto, cpu, cuda, cuda:N)") from None


def bf16_native(device: torch.device) -> bool:
    """Does this device run bf16 matmuls natively (Ampere+ GPUs; AVX512-BF16/AMX CPUs)?"""
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return cpu_supports_bf16()


def use_bf16(mode: str, device: torch.device) -> bool:
    """`on` / `off` as said; `auto` turns bf16 on only where the hardware runs it natively."""
    if mode != "auto":
        return mode == "on"
    return bf16_native(device)


def free_memory(device: torch.device) -> int | None:
    """Free bytes on a CUDA device; None elsewhere (the CPU path never resizes batches)."""
    import torch

    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def bytes_per_item(model_config: Any, seq_len: int, *, training: bool, bf16: bool) -> int:
    """Rough activation memory of one sequence through a transformer (Korthikanti et al., 2022, per layer:
    seq*hidden*34 + 5*heads*seq^2 half-precision bytes when training), plus the logits of a causal LM.
    Inference keeps about one layer's activations at a time. An estimate, erring on the large side."""
    hidden = int(getattr(model_config, "hidden_size", 0) or getattr(model_config, "d_model", 0) or 768)
    layers = int(getattr(model_config, "num_hidden_layers", 0) or getattr(model_config, "n_layer", 0) or 12)
    heads = int(getattr(model_config, "num_attention_heads", 0) or getattr(model_config, "n_head", 0) or 12)
    vocab = int(getattr(model_config, "vocab_size", 0) or 0)
    width = 2 if bf16 else 4
    per_layer = (seq_len * hidden * 34 + 5 * heads * seq_len * seq_len) * width // 2
    logits = seq_len * vocab * 4 * (3 if training else 1)  # fp32 logits (+ softmax and grad when training)
    return int((per_layer * layers if training else per_layer * 2) + logits)


def fit_batch(requested: int, device: torch.device, item_bytes: int, *, inference: bool) -> int:
    """The batch size to use on `device`: unchanged on CPU; on a GPU at most what fits in MEMORY_FRACTION
    of the free memory, and for inference grown up to INFERENCE_GROWTH x (capped) when it fits."""
    free = free_memory(device)
    if free is None:
        return requested
    fits = max(1, int(free * MEMORY_FRACTION) // max(1, item_bytes))
    want = min(requested * INFERENCE_GROWTH, max(requested, MAX_INFERENCE_BATCH)) if inference else requested
    return max(1, min(want, fits))


def micro_batches(requested: int, accumulation: int, fits: int) -> tuple[int, int]:
    """(micro batch, accumulation steps) keeping the effective batch `requested x accumulation` when only
    `fits` examples fit at once: a smaller micro-batch and proportionally more accumulation."""
    if fits >= requested:
        return requested, accumulation
    steps = math.ceil(requested / max(1, fits))
    return math.ceil(requested / steps), accumulation * steps


def describe(device: torch.device, bf16: bool) -> str:
    """One short line for logs: `cuda:0 (NVIDIA H100, bf16)` or `cpu (fp32)`."""
    import torch

    precision = "bf16" if bf16 else "fp32"
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)}, {precision})"
    return f"{device} ({precision})"
