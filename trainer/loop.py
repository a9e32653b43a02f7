"""The training loop in plain PyTorch, plus the small helpers it and the students share.

Read top to bottom like nanoGPT: AdamW, linear warmup then linear decay, gradient accumulation,
gradient clipping, bf16 autocast where the hardware runs it natively. No HF Trainer: on a 2-core CPU
its overhead is noticeable and its knobs are harder to pin down for exact reproducibility.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from distillgraph.store import device as devices
from distillgraph.trainer.config import StudentConfig

Row = dict[str, Any]  # one encoded example: lists of token ids, or an int label
Advance = Callable[..., None]


def set_seed(seed: int) -> None:
    """Seed every RNG a round touches (LoRA init, dropout, shuffling) so a round is reproducible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(cfg: StudentConfig) -> torch.device:
    """student.device: `auto` is the GPU when CUDA is present, else the CPU (see store/device.py)."""
    return devices.resolve_device(cfg.device, "student.device")


def use_bf16(cfg: StudentConfig, device: torch.device) -> bool:
    """`auto` turns bf16 on only where it is native (recent CUDA GPUs, AVX512-BF16/AMX CPUs)."""
    return devices.use_bf16(cfg.bf16, device)


def autocast(device: torch.device, enabled: bool) -> AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else nullcontext()


@contextmanager
def progress_bar(enabled: bool, description: str, total: int) -> Iterator[Advance]:
    """Yield `advance(n=1, status="")`; a no-op when progress is off (tests, benchmarks, logs)."""
    if not enabled:
        yield lambda n=1, status="": None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1, status: str = "") -> None:
            bar.update(task, advance=n, description=f"{description} {status}".rstrip())

        yield advance


def pad_batch(rows: list[Row], pad_id: int, side: str = "right") -> dict[str, torch.Tensor]:
    """Stack rows into tensors: id lists padded with pad_id (labels with -100, masks with 0); ints stacked."""
    out: dict[str, torch.Tensor] = {}
    width = max(len(r["input_ids"]) for r in rows)
    fill = {"input_ids": pad_id, "attention_mask": 0, "labels": -100}
    for key, value in rows[0].items():
        if not isinstance(value, list):
            out[key] = torch.tensor([r[key] for r in rows])
            continue
        padded = []
        for r in rows:
            pad = [fill.get(key, 0)] * (width - len(r[key]))
            padded.append(pad + r[key] if side == "left" else r[key] + pad)
        out[key] = torch.tensor(padded)
    return out


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Index batches of similar length (longest first) so inference pads as little as possible."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _epoch_batches(lengths: list[int], batch_size: int, gen: torch.Generator) -> list[list[int]]:
    """One shuffled epoch, grouped by length inside windows of 8 batches (less padding, still random)."""
    perm = torch.randperm(len(lengths), generator=gen).tolist()
    window = batch_size * 8
    batches = []
    for start in range(0, len(perm), window):
        chunk = sorted(perm[start : start + window], key=lambda i: -lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    order = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in order]


def weighted_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per example times its sample weight, averaged over the batch (all weights 1: the usual loss).

    Token logits (batch, length, classes): each labelled token's loss times its example's weight, averaged
    over the labelled tokens of the batch (labels -100 are skipped, as in the token-classification loss).
    """
    if logits.dim() == 3:
        per_token = torch.nn.functional.cross_entropy(
            logits.float().flatten(0, 1), labels.flatten(), reduction="none", ignore_index=-100
        ).view(labels.shape)
        counted = (labels != -100).sum().clamp(min=1)
        return (per_token * weights.to(per_token.dtype)[:, None]).sum() / counted
    per = torch.nn.functional.cross_entropy(logits.float(), labels, reduction="none")
    return (per * weights.to(per.dtype)).mean()


def linear_schedule(warmup: int, total: int) -> Callable[[int], float]:
    """LR multiplier: 0 → 1 over `warmup` updates, then 1 → 0 at `total` updates."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def train_loop(
    model: torch.nn.Module,
    rows: list[Row],
    cfg: StudentConfig,
    *,
    device: torch.device,
    bf16: bool,
    pad_id: int,
    progress: bool = True,
    accelerator: Any = None,
) -> dict:
    """Train the parameters with requires_grad on `rows`; returns {seconds, steps, epochs, final_loss, n_train}.

    `num_train_epochs` may be fractional; the last accumulation group may be short; at least
    `min_train_steps` updates are made (more epochs on small data). `final_loss` is
    the mean loss over the last epoch's worth of micro-batches.

    With an `accelerate.Accelerator` (one process per device, `trainer/launch.py`), every process draws
    the same batches from the same seeded generator and trains on its share `batch[rank::world]`; its
    loss is weighted by its share of the batch, so the averaged gradients equal the single-process
    ones (exactly for per-example losses, up to token counts for a causal LM).
    """
    start = time.perf_counter()
    set_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    bs, accum = cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps
    per_epoch = math.ceil(len(rows) / bs)
    micro_total = max(1, math.ceil(cfg.num_train_epochs * per_epoch), cfg.min_train_steps * accum)
    updates = math.ceil(micro_total / accum)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, linear_schedule(int(cfg.warmup_ratio * updates), updates)
    )
    lengths = [len(r["input_ids"]) for r in rows]
    losses: list[float] = []
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    if accelerator is not None:
        model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    with progress_bar(progress and rank == 0, "training", micro_total) as advance:
        micro = 0
        while micro < micro_total:
            for idx in _epoch_batches(lengths, bs, gen):
                local, share = idx[rank::world], 1.0
                if world > 1:  # this process's share of the batch; an empty share still joins the all-reduce
                    share = len(local) * world / len(idx)
                    local, share = (local, share) if local else (idx[:1], 0.0)
                batch = {k: v.to(device) for k, v in pad_batch([rows[i] for i in local], pad_id).items()}
                weights = batch.pop("sample_weight", None)
                with autocast(device, bf16):
                    out = model(**batch)
                    loss = out.loss if weights is None else weighted_loss(out.logits, batch["labels"], weights)
                if accelerator is None:
                    (loss / accum).backward()
                    losses.append(loss.item())
                else:
                    accelerator.backward(loss * share / accum)
                    losses.append(float(accelerator.reduce(loss.detach() * share / world, "sum").item()))
                micro += 1
                if micro % accum == 0 or micro == micro_total:
                    if accelerator is None:
                        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                    else:
                        accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                advance(status=f"loss {losses[-1]:.3f}")
                if micro == micro_total:
                    break
    model.eval()
    return {
        "seconds": time.perf_counter() - start,
        "steps": updates,
        "epochs": micro_total / per_epoch,
        "final_loss": float(np.mean(losses[-per_epoch:])),
        "n_train": len(rows),
    }
