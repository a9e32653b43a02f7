"""One round's training in child processes started by Hugging Face `accelerate launch` (DDP; FSDP or
DeepSpeed through `student.accelerate_config`).

The run's process stays the single source of truth: it encodes the training rows, saves the pristine
base model and the LoRA config once, writes a job folder, and starts

    python -m accelerate.commands.launch --num_processes N [--cpu] [--config_file F] \
        -m distillgraph.trainer.launch JOB_DIR

Every child builds the same fresh adapter from the same seed, trains on its share of each batch
(`trainer.loop.train_loop` with an Accelerator) and rank 0 saves the adapter into the round's folder.
The parent then loads that adapter as if it had trained it itself, so the checkpointed state (the
adapter path) means the same thing either way, and a crash mid-training is resumed by re-running the
trainer node. The children's output goes to `<adapter dir>/launch.log`; a failure is one line.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distillgraph.store.schema import UserError

if TYPE_CHECKING:
    from distillgraph.trainer.lora import LoraStudent

LOG_FILE = "launch.log"
STATS_FILE = "launch-stats.json"
JOB_FILE = "job.json"


def load_heads(model: Any, states: Mapping[str, Any]) -> None:
    """Load state dicts into the model's submodules by name (classification heads; before peft wraps them)."""
    for name, state in states.items():
        model.get_submodule(name).load_state_dict(state)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command(cfg: Any, job_dir: Path, *, cpu: bool, python: str = sys.executable) -> list[str]:
    """The `accelerate launch` command line for one round (a list; no shell)."""
    cmd = [python, "-m", "accelerate.commands.launch"]
    if cfg.accelerate_config:
        cmd += ["--config_file", str(cfg.accelerate_config)]
    cmd += ["--num_processes", str(cfg.num_processes), "--num_machines", "1"]
    if not cfg.accelerate_config:
        cmd += ["--main_process_port", str(free_port()), "--mixed_precision", "no", "--dynamo_backend", "no"]
        # several processes go through torchrun (--multi_gpu; gloo on a CPU); --cpu would mean one process
        cmd += ["--multi_gpu"] if cfg.num_processes > 1 else (["--cpu"] if cpu else [])
    return cmd + ["-m", "distillgraph.trainer.launch", str(job_dir)]


class Launcher:
    """Trains rounds of one LoRA student through `accelerate launch`; holds the saved base model."""

    def __init__(self, student: LoraStudent, env: Mapping[str, str] | None = None):
        self.student = student
        self.env = dict(env) if env is not None else None  # None: the children inherit the environment
        self._base_dir: Path | None = None
        self.python = sys.executable

    def _save_base(self) -> Path:
        """The pristine base model + tokenizer, saved once per student (children load it from here)."""
        if self._base_dir is None:
            folder = Path(tempfile.mkdtemp(prefix="distillgraph-base-"))
            weakref.finalize(self, shutil.rmtree, folder, True)
            self.student._reset()
            self.student.base.save_pretrained(folder)  # type: ignore[operator]  # a transformers model
            self._base_dir = folder
        return self._base_dir

    def fit(self, rows: list[dict], out_dir: Path, *, previous: Path | None,
            heads: dict[str, Any] | None = None) -> dict:
        """Train on encoded rows in child processes; the adapter lands in out_dir. Returns the stats.
        `heads`: state dicts by module name that a fresh adapter's heads start from (the student's head_init)."""
        import torch
        from peft import LoraConfig

        st = self.student
        if st.cfg.accelerate_config and not Path(st.cfg.accelerate_config).is_file():
            raise UserError(f"student.accelerate_config: {st.cfg.accelerate_config} not found")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        base = self._save_base()
        job = Path(tempfile.mkdtemp(prefix="distillgraph-job-"))
        try:
            lora: LoraConfig = st._lora_config()
            lora.save_pretrained(str(job / "lora"))
            spec = {
                "kind": st.kind,
                "cfg": st.cfg.model_dump(),
                "base": str(base),
                "previous": str(previous) if previous else None,
                "bf16": st.bf16,
                "cpu": st.device.type == "cpu",
                "pad_id": st.pad_id,
                "out_dir": str(out_dir),
                "heads": str(job / "heads.pt") if heads else None,
            }
            if heads:
                torch.save(heads, job / "heads.pt")
            (job / JOB_FILE).write_text(json.dumps(spec))
            with (job / "rows.jsonl").open("w") as handle:
                for row in rows:
                    handle.write(json.dumps(row) + "\n")
            log = out_dir / LOG_FILE
            (out_dir / STATS_FILE).unlink(missing_ok=True)
            cmd = command(st.cfg, job, cpu=st.device.type == "cpu", python=self.python)
            with log.open("w") as handle:
                handle.write(" ".join(cmd) + "\n")
                handle.flush()
                try:
                    rc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=self.env).returncode
                except OSError as exc:
                    raise UserError(f"student: cannot start accelerate launch ({exc.strerror})") from None
            stats_path = out_dir / STATS_FILE
            if rc != 0 or not stats_path.exists():
                raise UserError(
                    f"student: training with accelerate launch ({st.cfg.num_processes} processes) failed "
                    f"(exit {rc}): {last_error(log)}; log: {log}"
                )
            return json.loads(stats_path.read_text())
        finally:
            shutil.rmtree(job, ignore_errors=True)


def last_error(log: Path) -> str:
    """The most telling line of a child log: the last exception line, else the last non-empty line."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception")) or line.startswith("UserError"):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


# ---------------------------------------------------------------- the child side


def _child(job_dir: Path) -> None:
    import torch
    from accelerate import Accelerator
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    from distillgraph.store.device import no_hub_kernels
    from distillgraph.trainer.config import StudentConfig
    from distillgraph.trainer.loop import set_seed, train_loop

    spec = json.loads((job_dir / JOB_FILE).read_text())
    cfg = StudentConfig(**spec["cfg"])
    rows = [json.loads(line) for line in (job_dir / "rows.jsonl").read_text().splitlines() if line]
    accelerator = Accelerator(mixed_precision="no", cpu=spec["cpu"])
    autos = {"causal-lm": AutoModelForCausalLM, "token-classifier": AutoModelForTokenClassification}
    auto = autos.get(spec["kind"], AutoModelForSequenceClassification)
    base = auto.from_pretrained(spec["base"], dtype=torch.float32, **no_hub_kernels())
    if spec["previous"]:
        model = PeftModel.from_pretrained(base, spec["previous"], is_trainable=True)
    else:
        load_heads(base, torch.load(spec["heads"]) if spec.get("heads") else {})  # the parent's head_init
        set_seed(cfg.seed)
        model = get_peft_model(base, LoraConfig.from_pretrained(str(job_dir / "lora")))
    model.to(accelerator.device)
    stats = train_loop(
        model, rows, cfg, device=accelerator.device, bf16=spec["bf16"], pad_id=spec["pad_id"],
        progress=False, accelerator=accelerator,
    )
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        out = Path(spec["out_dir"])
        model.save_pretrained(str(out))
        stats["num_processes"] = accelerator.num_processes
        (out / STATS_FILE).write_text(json.dumps(stats))
    accelerator.end_training()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m distillgraph.trainer.launch JOB_DIR (started by accelerate launch)")
    _child(Path(sys.argv[1]))
