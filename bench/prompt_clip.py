"""How much of an article the annotator prompt shows the embedded teacher (issue 15: `make demo` in <= 15
minutes). The llama.cpp teacher spends most of a labelling call reading the prompt (~80 tokens/s on 2
cores), so clipping the article and its demonstrations shorter buys minutes; this measures what it costs,
on the demo's DEV split only (never test), paired on the same articles, variant by variant so that each
call shares the system prompt with the one before it, as in a run.

Variants are the packaged annotator template with its `clip(...)` lengths replaced (a user prompts folder).
The rule, fixed before the run: keep the shortest variant whose dev accuracy is at most one article below
the packaged template's.

    .venv/bin/python -m bench.prompt_clip [--n 50]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.distill_local import stratified  # noqa: E402
from bench.teacher_quality import demo_task, merge, timed_label  # noqa: E402
from distillgraph.agents.annotator import AnnotationJob  # noqa: E402
from distillgraph.agents.budget import BudgetLedger  # noqa: E402
from distillgraph.agents.cache import AnswerCache  # noqa: E402
from distillgraph.agents.config import BudgetConfig, TeacherConfig  # noqa: E402
from distillgraph.agents.records import Candidate  # noqa: E402
from distillgraph.agents.teacher import build_teacher  # noqa: E402
from distillgraph.prompts import PACKAGED_DIR, PromptLibrary  # noqa: E402
from distillgraph.store.datasets import load_bbc  # noqa: E402
from distillgraph.store.schema import BBCConfig  # noqa: E402

PACKAGED = (500, 1500)  # (demonstration clip, input clip) in prompts/annotator.yaml
VARIANTS = [PACKAGED, (500, 1000), (300, 1000)]


def variant_dir(root: Path, demo_clip: int, input_clip: int) -> Path:
    """A prompts folder whose annotator template clips demonstrations and input to the given lengths."""
    text = (PACKAGED_DIR / "annotator.yaml").read_text(encoding="utf-8")
    old_demo, old_input = f"d.text | clip({PACKAGED[0]})", f"text | clip({PACKAGED[1]})"
    if old_demo not in text or old_input not in text:
        raise SystemExit("prompts/annotator.yaml no longer has the clip lengths this check replaces")
    out = root / f"clip-{demo_clip}-{input_clip}"
    out.mkdir(parents=True, exist_ok=True)
    text = text.replace(old_demo, f"d.text | clip({demo_clip})").replace(old_input, f"text | clip({input_clip})")
    (out / "annotator.yaml").write_text(text, encoding="utf-8")
    return out


def check(n: int) -> dict[str, Any]:
    from distillgraph.store.embed import build_embedder
    from distillgraph.store.schema import StoreConfig

    task = demo_task()
    data = load_bbc(BBCConfig(pool_size=800, dev_size=100, test_size=300, seed_per_label=2), task)
    dev, seeds = stratified(data["dev"], n), data["seed"]
    gold = {e.id: e.target or "" for e in dev}
    emb = build_embedder(StoreConfig(), None)
    sv, dv = emb.encode([s.text for s in seeds]), emb.encode([e.text for e in dev])
    jobs = []
    for e, v in zip(dev, dv, strict=True):
        demos = [{"id": seeds[i].id, "text": seeds[i].text, "target": seeds[i].target} for i in (sv @ v).argsort()[::-1][:3]]
        jobs.append(AnnotationJob(Candidate(id=e.id, cluster=0, source="pool", round=0), e.text, demos))
    cfg = TeacherConfig(provider="local", max_tokens=400, temperature=0.0, max_concurrency=1, timeout=600, demonstrations=3)
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, AnswerCache(Path(tmp) / "c.sqlite") as cache:
        teacher = build_teacher(cfg, BudgetLedger(BudgetConfig(max_calls=100_000)), cache, env={},
                                prompts=PromptLibrary(), no_cache=True)
        try:
            for demo_clip, input_clip in VARIANTS:
                prompts = PromptLibrary(variant_dir(Path(tmp), demo_clip, input_clip))
                got = timed_label(teacher, jobs, task, prompts, gold, per_item=True)
                rows[f"demos {demo_clip} / input {input_clip} chars"] = got
                print(demo_clip, input_clip, got, flush=True)
        finally:
            teacher.close()
    base = rows[f"demos {PACKAGED[0]} / input {PACKAGED[1]} chars"]
    keep = [k for k, r in rows.items() if r["accuracy"] * n >= base["accuracy"] * n - 1 - 1e-9]
    for r in rows.values():  # paired on the same articles: right here but wrong with the packaged template, and back
        r["gained"], r["lost"] = len(set(r["right"]) - set(base["right"])), len(set(base["right"]) - set(r["right"]))
    return {"split": "dev (the demo's BBC split, stratified)", "n": n, "demonstrations": "3 nearest of the 10 gold seeds",
            "rule": "keep the shortest variant whose dev accuracy is at most one article below the packaged template's",
            "variants": rows, "chosen": keep[-1]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    args = ap.parse_args()
    merge("prompt_clip_check", check(args.n))


if __name__ == "__main__":
    main()
