#!/usr/bin/env bash
# GPU check: embedding throughput and LoRA step time on CUDA against CPU, then the demo config on the GPU.
# Where there is no CUDA GPU it says so in one line and exits 0.
#   bash bench/gpu.sh            results: bench/results/gpu.json (and the "gpu" entry of bench/results/scale.json)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False TOKENIZERS_PARALLELISM=false

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "bench/gpu.sh: no CUDA GPU visible (torch.cuda.is_available() is false); nothing to measure"
  exit 0
fi

mkdir -p bench/results runs
"$PY" -m bench.scale --gpu | tail -n 1 > bench/results/gpu.json
# The demo's teacher: the embedded llama.cpp teacher where llama-cpp-python is installed; elsewhere the oracle teacher
# (a SIMULATION: it answers with the gold labels), so the index and the student still run the demo on the GPU.
teacher_args=()
teacher="local: the embedded Qwen2.5-Coder-1.5B-Instruct via llama.cpp"
if ! "$PY" -c 'import llama_cpp' 2>/dev/null; then
  teacher_args=(--set teacher.provider=oracle)
  teacher="oracle (SIMULATION: gold labels; llama-cpp-python is not installed on this machine)"
fi
start=$(date +%s)
"$PY" -m distillgraph.graph.cli run examples/bbc-topic.yaml --set student.device=cuda --set store.device=cuda \
  "${teacher_args[@]}" --set run.dir=runs/gpu-check > runs/gpu-check.log 2>&1 \
  || { echo "bench/gpu.sh: the demo on the GPU failed (runs/gpu-check.log)"; exit 1; }
demo_s=$(( $(date +%s) - start ))
"$PY" - "$demo_s" "$teacher" <<'PYEOF'
import json, re, sys
from pathlib import Path
gpu = json.loads(Path("bench/results/gpu.json").read_text())
gpu["demo_seconds"] = int(sys.argv[1])
gpu["demo_teacher"] = sys.argv[2]
found = re.search(r"in (runs/\S+)", Path("runs/gpu-check.log").read_text())
if found and (Path(found.group(1)) / "report" / "metrics.json").exists():
    rounds = json.loads((Path(found.group(1)) / "report" / "metrics.json").read_text())["rounds"]
    gpu["demo_test_macro_f1"] = [round(r["test"]["macro_f1"], 4) for r in rounds]
    gpu["demo_run"] = found.group(1)
Path("bench/results/gpu.json").write_text(json.dumps(gpu, indent=2) + "\n")
scale = Path("bench/results/scale.json")
if scale.exists():
    data = json.loads(scale.read_text())
    data["gpu"] = gpu
    scale.write_text(json.dumps(data, indent=2) + "\n")
print("bench/gpu.sh: " + json.dumps(gpu))
PYEOF
