"""`distillgraph plan`: projected teacher calls, tokens and dollars of a config, spending nothing.

The projection renders the real prompt templates with real data (pool texts, labels) to estimate
prompt tokens (chars/4: a typical count; the ledger reserves a larger upper bound per call and settles
the actual usage), assumes answers of about a third of `teacher.max_tokens`, and follows the loop's own
arithmetic: bootstrap first, then the rest spread over K rounds, with one analyst call per round and
synthesis for part of it. Dollars use the teacher's resolved prices (`agents/prices.py`: config, else
the genai-prices table), tokens split 3:1 between prompt and answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from distillgraph.agents.audit import planned_audit
from distillgraph.agents.budget import estimate_prompt_tokens
from distillgraph.agents.prices import Prices
from distillgraph.graph.config import RunConfig
from distillgraph.graph.policies import build_policy, cold_start_cap, resolve_cold_start_share
from distillgraph.graph.task_kinds import task_kind
from distillgraph.prompts import PromptLibrary
from distillgraph.store.schema import Example


@dataclass
class Row:
    node: str
    calls: float
    tokens: float
    usd: float


def usd(tokens: float, prices: Prices) -> float:
    """Dollars for `tokens` at a 3:1 prompt:answer split."""
    return tokens * (0.75 * prices.input_per_1m + 0.25 * prices.output_per_1m) / 1e6


def call_tokens(cfg: RunConfig, pool: list[Example], prompts: PromptLibrary) -> tuple[int, int, int]:
    """Estimated tokens of one labelling, one analysis and one synthesis call: the packaged (or user) templates
    rendered with a middle pool text and placeholder rows, plus a third of max_tokens for the answer (twice for
    synthesis, which answers with texts)."""
    sample = pool[len(pool) // 2].text if pool else ""
    t = cfg.task
    out_tokens = max(cfg.teacher.max_tokens // 3, 32)

    def tokens(name: str, **v: Any) -> int:
        return estimate_prompt_tokens(prompts.get(name).render(**v)) + out_tokens

    demos = [{"text": sample, "target": t.label_names[0] if t.label_names else "..."}] * cfg.teacher.demonstrations
    ann = tokens("annotator", task_type=t.type, instruction=t.instruction, labels=t.labels, demonstrations=demos, text=sample)
    rows_ex = [{"id": "x", "text": sample, "target": "a", "predicted": "b", "cluster": 0}] * cfg.loop.analyst_examples
    ana = tokens("analyst", task_type=t.type, instruction=t.instruction, labels=t.labels, metrics="accuracy 0.8",
                 per_label=[], per_cluster=[], confusions=[], wrong=rows_ex, correct=rows_ex)
    gen = tokens("generator", task_type=t.type, instruction=t.instruction, labels=t.labels, cluster_name="c0",
                 weakness="...", examples=rows_ex[:4], errors=rows_ex[:3], missed=t.label_names[:2], n_hard=3,
                 n_easy=1) + out_tokens
    return ann, ana, gen


def project(cfg: RunConfig, data: dict[str, list[Example]], prompts: PromptLibrary, prices: Prices) -> list[Row]:
    pool, t = data["pool"], cfg.task
    ann, ana, gen = call_tokens(cfg, pool, prompts)
    votes = cfg.teacher.self_consistency
    if cfg.store.use_domains:
        k = len({e.domain for e in pool if e.domain is not None}) or 1
    else:
        k = cfg.store.n_clusters if isinstance(cfg.store.n_clusters, int) else cfg.store.k_max
    oracle = cfg.teacher.provider == "oracle"

    policy = build_policy(cfg.loop)
    boot_calls = k * cfg.loop.bootstrap_per_cluster * votes if not data["seed"] else 0
    dev_calls = 0 if data["dev"] else min(cfg.loop.dev_from_pool, len(pool) // 3) * votes
    cap_calls = _calls_cap(cfg, ann, prices)
    gold = len([e for e in data["seed"] if e.target]) + (len([e for e in data["dev"] if e.target]) if data["dev"] else 0)
    audit_calls = planned_audit(cfg.teacher, cap_calls, gold) * votes if t.type == "classification" else 0
    share = resolve_cold_start_share(policy.cold_start_share, task_kind(t))
    if (cap := cold_start_cap(share, cap_calls - dev_calls - audit_calls, votes)) is not None:  # as the node caps it
        boot_calls = min(boot_calls, cap * votes)
    boot_calls += dev_calls
    left = max(cap_calls - boot_calls - audit_calls, 0)
    rounds = cfg.loop.rounds
    reads_report = cfg.loop.wants_analysis(cfg.loop.synthesis != "off")
    ana_calls = rounds if policy.uses_analysis and reads_report and not oracle else 0  # paid only where it is read
    ana_calls += 1 if cfg.store.teacher_names and not oracle else 0  # the index step's cluster names
    left = max(left - ana_calls, 0)
    synth_share = 0.0 if oracle or cfg.loop.synthesis == "off" else (1.0 if cfg.loop.synthesis == "only" else 0.3)
    per_sample = (1 - synth_share) * votes + synth_share * (votes + 1 / cfg.loop.synth_per_call)
    samples = math.floor(left / per_sample) if per_sample else 0
    gen_calls = math.ceil(samples * synth_share / cfg.loop.synth_per_call)
    ann_calls = samples * votes
    per_call = {"bootstrap": (boot_calls, ann), "audit": (audit_calls, ann), "analyst": (ana_calls, ana),
                "generator": (gen_calls, gen), "annotator": (ann_calls, ann)}
    rows = [Row(node, calls, calls * tok, usd(calls * tok, prices)) for node, (calls, tok) in per_call.items()]
    rows.append(Row("total", sum(r.calls for r in rows), sum(r.tokens for r in rows), sum(r.usd for r in rows)))
    return rows


def _calls_cap(cfg: RunConfig, tokens_per_call: int, prices: Prices) -> float:
    """The tightest cap expressed in calls of the typical (annotator) size."""
    caps = []
    b = cfg.budget
    if b.max_calls is not None:
        caps.append(float(b.max_calls))
    if b.max_tokens is not None:
        caps.append(b.max_tokens / tokens_per_call)
    if b.max_usd is not None:
        per_call = usd(tokens_per_call, prices)
        if per_call > 0:
            caps.append(b.max_usd / per_call)
    return min(caps) if caps else 0.0
