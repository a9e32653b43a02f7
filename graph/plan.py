"""`distillgraph plan`: projected teacher calls, tokens and dollars of a config, spending nothing.

The projection renders the real prompt templates with real data (pool texts, labels) to estimate
prompt tokens (chars/4, the same estimate the ledger reserves with), assumes answers of about a
third of `teacher.max_tokens`, and follows the loop's own arithmetic: bootstrap first, then the
rest spread over K rounds, with one analyst call per round and synthesis for part of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from distillgraph.agents.budget import estimate_prompt_tokens
from distillgraph.graph.config import RunConfig
from distillgraph.prompts import PromptLibrary
from distillgraph.store.schema import Example


@dataclass
class Row:
    node: str
    calls: float
    tokens: float
    usd: float


def project(cfg: RunConfig, data: dict[str, list[Example]], prompts: PromptLibrary) -> list[Row]:
    pool = data["pool"]
    sample = pool[len(pool) // 2].text if pool else ""
    t = cfg.task
    out_tokens = max(cfg.teacher.max_tokens // 3, 32)

    def tokens(name: str, **v) -> int:
        return estimate_prompt_tokens(prompts.get(name).render(**v)) + out_tokens

    demos = [{"text": sample, "target": t.label_names[0] if t.label_names else "..."}] * cfg.teacher.demonstrations
    ann = tokens("annotator", task_type=t.type, instruction=t.instruction, labels=t.labels, demonstrations=demos, text=sample)
    rows_ex = [{"id": "x", "text": sample, "target": "a", "predicted": "b", "cluster": 0}] * cfg.loop.analyst_examples
    ana = tokens("analyst", task_type=t.type, instruction=t.instruction, labels=t.labels, metrics="accuracy 0.8",
                 per_label=[], per_cluster=[], confusions=[], wrong=rows_ex, correct=rows_ex)
    gen = tokens("generator", task_type=t.type, instruction=t.instruction, labels=t.labels, cluster_name="c0",
                 weakness="...", examples=rows_ex[:4], errors=rows_ex[:3], n_hard=3, n_easy=1) + out_tokens
    votes = cfg.teacher.self_consistency
    if cfg.store.use_domains:
        k = len({e.domain for e in pool if e.domain is not None}) or 1
    else:
        k = cfg.store.n_clusters if isinstance(cfg.store.n_clusters, int) else cfg.store.k_max
    oracle = cfg.teacher.provider == "oracle"

    boot_calls = k * cfg.loop.bootstrap_per_cluster * votes if not data["seed"] else 0
    if not data["dev"]:
        boot_calls += min(cfg.loop.dev_from_pool, len(pool) // 3) * votes
    cap_calls = _calls_cap(cfg, ann)
    left = max(cap_calls - boot_calls, 0)
    rounds = cfg.loop.rounds
    ana_calls = 0 if oracle else rounds
    left = max(left - ana_calls, 0)
    synth_share = 0.0 if oracle or cfg.loop.synthesis == "off" else (1.0 if cfg.loop.synthesis == "only" else 0.3)
    per_sample = (1 - synth_share) * votes + synth_share * (votes + 1 / cfg.loop.synth_per_call)
    samples = math.floor(left / per_sample) if per_sample else 0
    gen_calls = math.ceil(samples * synth_share / cfg.loop.synth_per_call)
    ann_calls = samples * votes
    price = lambda tok: tok * 0.75 * cfg.teacher.price_input_per_1m / 1e6 + tok * 0.25 * cfg.teacher.price_output_per_1m / 1e6  # noqa: E731
    rows = [
        Row("bootstrap", boot_calls, boot_calls * ann, price(boot_calls * ann)),
        Row("analyst", ana_calls, ana_calls * ana, price(ana_calls * ana)),
        Row("generator", gen_calls, gen_calls * gen, price(gen_calls * gen)),
        Row("annotator", ann_calls, ann_calls * ann, price(ann_calls * ann)),
    ]
    rows.append(Row("total", sum(r.calls for r in rows), sum(r.tokens for r in rows), sum(r.usd for r in rows)))
    return rows


def _calls_cap(cfg: RunConfig, tokens_per_call: int) -> float:
    """The tightest cap expressed in calls of the typical (annotator) size."""
    caps = []
    b = cfg.budget
    if b.max_calls is not None:
        caps.append(float(b.max_calls))
    if b.max_tokens is not None:
        caps.append(b.max_tokens / tokens_per_call)
    if b.max_usd is not None:
        usd = tokens_per_call * 0.75 * cfg.teacher.price_input_per_1m / 1e6 + tokens_per_call * 0.25 * cfg.teacher.price_output_per_1m / 1e6
        if usd > 0:
            caps.append(b.max_usd / usd)
    return min(caps) if caps else 0.0
