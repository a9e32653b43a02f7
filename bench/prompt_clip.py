"""How much of an article the annotator prompt shows the embedded teacher (issue 15: `make demo` in <= 15
minutes). The llama.cpp teacher spends most of a labelling call reading the prompt (~80 tokens/s on 2
cores), so clipping the article and its demonstrations shorter buys minutes; this measures what it costs,
on the demo's DEV split only (never test), paired on the same articles, variant by variant so that each
call shares the system prompt with the one before it, as in a run.

Variants are the packaged annotator template with its `clip(...)` lengths replaced (a user prompts folder).
The rule, fixed before the run: keep the shortest variant whose dev accuracy is at most one article below
the packaged template's. Run on 2026-12-02 against template version 2 (demonstrations 500 / input 1500
characters): it chose 300 / 1000, now version 3 (bench/results/teacher_quality.json, prompt_clip_check).

    .venv/bin/python -m bench.prompt_clip [--n 50]
    .venv/bin/python -m bench.prompt_clip --demos 3,2   # the number of demonstrations instead (demos_check)
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.distill_local import stratified  # noqa: E402
from bench.teacher_quality import demo_split, merge, nearest_seed_jobs, timed_label  # noqa: E402
from distillgraph.agents.budget import BudgetLedger  # noqa: E402
from distillgraph.agents.cache import AnswerCache  # noqa: E402
from distillgraph.agents.config import BudgetConfig, TeacherConfig  # noqa: E402
from distillgraph.agents.teacher import build_teacher  # noqa: E402
from distillgraph.prompts import PACKAGED_DIR, PromptLibrary  # noqa: E402

PACKAGED = (500, 1500)  # (demonstration clip, input clip) of prompts/annotator.yaml version 2, when this ran
VARIANTS = [PACKAGED, (500, 1000), (300, 1000)]  # the chosen one, (300, 1000), is version 3's
DEMO_CLIP, INPUT_CLIP = re.compile(r"d\.text \| clip\(\d+\)"), re.compile(r"\{\{ text \| clip\(\d+\)")


def variant_dir(root: Path, demo_clip: int, input_clip: int) -> Path:
    """A prompts folder whose annotator template clips demonstrations and input to the given lengths."""
    text = (PACKAGED_DIR / "annotator.yaml").read_text(encoding="utf-8")
    if not DEMO_CLIP.search(text) or not INPUT_CLIP.search(text):
        raise SystemExit("prompts/annotator.yaml no longer clips its demonstrations and input the way this check edits")
    out = root / f"clip-{demo_clip}-{input_clip}"
    out.mkdir(parents=True, exist_ok=True)
    text = DEMO_CLIP.sub(f"d.text | clip({demo_clip})", text)
    text = INPUT_CLIP.sub(f"{{{{ text | clip({input_clip})", text)
    (out / "annotator.yaml").write_text(text, encoding="utf-8")
    return out


def check(n: int) -> dict[str, Any]:
    task, data = demo_split()
    dev = stratified(data["dev"], n)
    gold = {e.id: e.target or "" for e in dev}
    jobs = nearest_seed_jobs(dev, data["seed"])
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
    return {"split": "dev (the demo's BBC split, stratified)", "n": n, "demonstrations": "3 nearest of the 10 gold seeds",
            "rule": "keep the shortest variant whose dev accuracy is at most one article below the packaged template's",
            "variants": rows, "chosen": choose(rows)}


def demos_check(n: int, counts: list[int]) -> dict[str, Any]:
    """The packaged template with `counts` nearest gold seeds as demonstrations (the first is the reference),
    on the same dev articles, chosen by the same rule (a prompt with fewer demonstrations is shorter: faster)."""
    task, data = demo_split()
    dev = stratified(data["dev"], n)
    gold = {e.id: e.target or "" for e in dev}
    cfg = TeacherConfig(provider="local", max_tokens=400, temperature=0.0, max_concurrency=1, timeout=600,
                        demonstrations=max(counts))
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, AnswerCache(Path(tmp) / "c.sqlite") as cache:
        teacher = build_teacher(cfg, BudgetLedger(BudgetConfig(max_calls=100_000)), cache, env={},
                                prompts=PromptLibrary(), no_cache=True)
        try:
            for k in counts:
                got = timed_label(teacher, nearest_seed_jobs(dev, data["seed"], k=k), task, PromptLibrary(), gold,
                                  per_item=True)
                rows[f"{k} demonstrations"] = got
                print(k, got, flush=True)
        finally:
            teacher.close()
    return {"split": "dev (the demo's BBC split, stratified)", "n": n, "demonstrations": "nearest of the 10 gold seeds",
            "template": "packaged (annotator.yaml)", "rule": "keep the fewest demonstrations whose dev accuracy is at "
            "most one article below the first row's", "variants": rows, "chosen": choose(rows)}


def choose(rows: dict[str, dict[str, Any]]) -> str:
    """The last (shortest) variant with at most one more wrong article than the first (the packaged template);
    each row gains `gained` / `lost`: articles right here but wrong there, and the reverse (paired)."""
    base = next(iter(rows.values()))
    for r in rows.values():
        r["gained"], r["lost"] = len(set(r["right"]) - set(base["right"])), len(set(base["right"]) - set(r["right"]))
    return [k for k, r in rows.items() if len(r["right"]) >= len(base["right"]) - 1][-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--demos", help="instead of the clip lengths, compare numbers of demonstrations, e.g. 3,2")
    args = ap.parse_args()
    if args.demos:
        merge("demos_check", demos_check(args.n, [int(k) for k in args.demos.split(",")]))
    else:
        merge("prompt_clip_check", check(args.n))


if __name__ == "__main__":
    main()
