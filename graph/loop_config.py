"""LoopConfig: the `loop` section of the run config (rounds, the selection policy and its settings, synthesis).

graph/config.py composes it with the other sections into RunConfig.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from distillgraph.graph.policies import check_policy_name, policy_names
from distillgraph.store.schema import Strict


class LoopConfig(Strict):
    policy: str = Field(
        default="distillgraph",
        description="selection policy, one of: " + ", ".join(policy_names()) + " (graph/policies.py; "
        "distillgraph: coverage (TypiClust) + diverse uncertainty over the pool, synthesis for weak clusters)",
    )
    rounds: int = Field(default=4, gt=0, description="K: the budget is spread over K rounds (B/K each)")
    max_rounds: int = Field(default=6, gt=0, description="hard stop on rounds (>= rounds to use leftovers)")
    patience: int = Field(default=2, gt=0, description="stop when dev metric has not improved for N rounds")
    min_improvement: float = Field(default=0.0, ge=0)
    metric: str = Field(default="auto", description="dev metric for patience: macro_f1 / chrf / ... ")
    scoring: Literal["auto", "entropy", "margin", "ifd", "output_entropy", "judge", "embedding"] = "auto"
    diversity: float = Field(default=0.15, ge=0, description="min cosine distance between selected examples")
    cold_start: Literal["auto", "representatives", "random", "typical", "mixed", "checked", "adaptive"] = Field(
        default="auto", description="the first labels (no seed labels): auto = the policy's own way (the cluster "
        "policies: the clusters' representatives; uncertainty, margin, random: a random sample; typiclust: its "
        "typical examples; distillgraph: adaptive); typical: TypiClust's typical examples of the largest uncovered "
        "regions; mixed: each cluster's representative, then typical examples of the regions they leave uncovered; "
        "checked: mixed where the dev set's nearest neighbours share labels more often than chance (one-sided "
        "binomial test, p < 0.05), else a random sample; "
        "adaptive: checked for classification, a random sample for ner and generation",
    )
    coverage_share: Annotated[float, Field(ge=0, le=1)] | Literal["adaptive", "above_chance"] = Field(
        default="adaptive",
        description="distillgraph: share of a round's pool picks bought for coverage (TypiClust's typical examples "
        "of uncovered regions); the rest go to the student's uncertainty. adaptive: 1 - the student's last dev "
        "macro-F1 for classification (a weak student's uncertainty is trusted less); 0.25 for ner and generation. "
        "above_chance: as adaptive, with the dev macro-F1 measured above guessing, (F1 - 1/labels) / (1 - 1/labels), "
        "so a binary student at 0.55 trusts its uncertainty for a tenth of the picks, not a half (rejected on dev, "
        "2026-12-05: -0.87 points over nine tasks; policy_choice.md stage 24)",
    )
    select_within: Literal["pool", "clusters", "split", "surplus", "auto"] = Field(
        default="auto",
        description="distillgraph: pick a round's examples over the whole pool (the round's total), or within each "
        "cluster's quota (balancing raised by the cluster's dev error), each from the cluster's own pool; split: "
        "the informative share within the clusters' quotas (scaled to it), the coverage share over the whole pool; "
        "surplus: each cluster's quota beyond its density share of the round per cluster, the rest over the whole "
        "pool; auto: surplus for classification (chosen on dev, 2026-12-05; clusters until then), clusters for ner "
        "and generation (where surplus was never measured)",
    )
    sampling_power: float = Field(
        default=0.0, ge=0,
        description="distillgraph's uncertainty part: 0 takes the highest scores; p > 0 draws examples with "
        "probability proportional to score^p (stochastic batch acquisition, Kirsch et al. 2023)",
    )
    error_boost: float = Field(
        default=100.0, ge=0,
        description="how much per-cluster dev error raises a quota: share x (1 + boost x error); 100 chosen on dev "
        "(bench/suite.py tuning, 2026-12-02: 10 and 30 within 0.3 points of it, 0 lost 2.6; 30 until then)",
    )
    error_prior: float = Field(
        default=0.0, ge=0,
        description="distillgraph: before the boost, each cluster's dev error is pulled toward the overall error "
        "by this many pseudo-examples ((n x error + prior x mean) / (n + prior)); 0 uses the errors as measured",
    )
    allocation_trust: Literal["off", "adaptive", "checked"] = Field(
        default="off",
        description="distillgraph: adaptive blends the error-raised shares with the clusters' natural (density) "
        "shares, trusting the former as much as the student's dev accuracy (a weak student's per-cluster errors "
        "say little); checked uses the error-raised shares where the clusters' dev errors differ (chi-square test "
        "at 0.05), else the natural shares; off uses the error-raised shares as they are",
    )
    coverage_pool: Literal["sample", "all"] = Field(
        default="all",
        description="distillgraph: where the coverage part looks for typical examples: the round's scoring sample "
        "(loop.score_sample), as the informative part does (sample), or every unlabelled example of the cluster "
        "(or of the pool) (all; typicality needs no student scores, and is measured badly on a few dozen texts). "
        "all chosen on dev at the shipped loop.score_sample (2026-12-03: 0.4559 against 0.4516 mean dev macro-F1); "
        "the two are the same where the scoring sample holds the whole pool",
    )
    density_weight: float = Field(
        default=0.0, ge=0,
        description="distillgraph: the informative part's scores times each example's typicality in the pool "
        "raised to this power (information density, Settles & Craven 2008: of two equally uncertain examples the "
        "one in a denser region first); 0 leaves the scores as they are. Rejected on dev (policy_choice.md stage 53: "
        "beta 1 lost 1.6 / 2.4 points at 20 / 40 labels over 21 tasks' dev splits, up to 14 where the student "
        "learns fast), so 0",
    )
    rare_labels: float = Field(
        default=0.0, ge=0, lt=1,
        description="distillgraph: before each selection, set aside this share of the candidates, those the student "
        "finds most likely to belong to labels the labelled set already has many of (score: sum over labels of "
        "p(label | text) / (1 + labels bought of it)); 0 looks at every candidate. Classification only",
    )
    synthesis: Literal["auto", "off", "only"] = Field(
        default="auto", description="auto: synthesize for tail clusters and uncovered weaknesses"
    )
    hard_anchor: Literal["dev_half", "labelled", "dev"] = Field(
        default="dev_half",
        description="the student's errors that hard synthetic samples are written near: dev_half = its misclassified "
        "texts of a fixed half of the gold dev set (by id; its missed labels are counted there too), and a run that "
        "synthesises reports its dev figures on the other half, which the writer never sees (chosen on dev, stage "
        "27); labelled = this round's teacher labels it got wrong *before* it was trained on them (EvoKD; no dev "
        "text at all); dev = its misclassified texts of all of dev (until 2026-12-05; it makes dev figures "
        "optimistic: bench (b) dev-vs-test gap)",
    )
    missed_labels: bool = Field(
        default=True,
        description="classification: tell the writer which labels the student gets wrong on dev in the cluster "
        "(label names and their order only, no dev text); its hard samples are written with those labels",
    )
    weak_synth_share: float = Field(default=0.25, ge=0, le=1, description="share of a weak head cluster's quota "
                                    "that is synthesised (at least one sample; 0: none); tail clusters synthesise what "
                                    "their pool cannot cover")
    weak_synth_labels: Literal["any", "rare"] = Field(default="rare", description="which weak head clusters write: "
                                                      "any (until 2026-12-07); rare = classification: only where the "
                                                      "student misses on dev a label the labels so far are short of")
    easy_fraction: float = Field(default=0.3, ge=0, le=1, description="share of easy synthetic samples (EvoKD)")
    synth_per_call: int = Field(default=4, gt=0)
    synth_top_up: int = Field(
        default=1, ge=0, description="extra writer passes in a round for the synthetic texts it asked for and did not get (failed "
        "calls, fewer texts than asked, near-duplicates); what is still missing after them is bought from the pool "
        "(the policy's selection in that cluster, then anywhere), except with synthesis: only",
    )
    teacher_analysis: Literal["auto", "always", "off"] = Field(
        default="auto",
        description="the teacher's weakness report (a policy that uses it, e.g. distillgraph; one call a round): "
        "auto = only in a round that may synthesise, its one reader (the weak clusters and their descriptions "
        "steer the writer; quotas come from the dev error statistics either way), so `synthesis: off` no longer "
        "pays for a report nothing reads (until 2026-12-06 it did); always = every round, to read its explanations "
        "in the trace and report; off = never (weaknesses from the error statistics)",
    )
    writer_check: Literal["off", "first", "every", "per_call"] = Field(
        default="off", description="synthesis auto: also fit the student without synthetic texts and compare on "
        "dev (the half the writer never sees); unless they raised it, later rounds only buy from the pool. first = "
        "once, without the first writing round's texts (stage 61); every = each round until it stops, without all "
        "of them, and a stop also drops them from later training (stage 62); per_call = every, but the texts must "
        "beat as many calls of pool labels (stage 63). README: what each did; true / false read as first / off")
    tail_factor: float = Field(default=2.0, gt=0, description="a cluster is tail if pool < factor x quota")
    bootstrap_per_cluster: int = Field(default=2, ge=0, description="cold start: labelled reps per cluster")
    bootstrap_share: Annotated[float, Field(gt=0, le=1)] | Literal["auto"] = Field(
        default="auto",
        description="distillgraph: the most of the labels left at the cold start (the budget after a paid dev carve "
        "and the audit) that its cold start may take: min(bootstrap_per_cluster x k, share x labels left); when that "
        "is fewer than k, the largest clusters' representatives come first. 1.0: the cold start may take the whole "
        "budget (k = 10 at 20 labels leaves no round; the default until 2026-12-05); auto: 0.25 for classification "
        "(chosen on dev), 1.0 for ner and generation (never measured); other policies keep their own cold start")
    dev_from_pool: int = Field(default=40, ge=0, description="no gold dev: carve this many from the pool")
    score_sample: int = Field(default=400, gt=0, description="pool examples scored per round")
    analyst_examples: int = Field(default=6, ge=0, description="correct/wrong examples shown to the analyst")
    near_duplicate: float = Field(default=0.05, ge=0, description="cosine distance below which = duplicate")
    judge: bool = Field(default=False, description="generation: teacher-as-judge scores student outputs")
    judge_dev_sample: int = Field(default=20, ge=0, description="judge: dev outputs scored each round (paid)")

    @field_validator("policy")
    @classmethod
    def _registered(cls, name: str) -> str:
        return check_policy_name(name)

    @field_validator("writer_check", mode="before")
    @classmethod
    def _writer_check_bool(cls, value: Any) -> Any:  # stage 61's bool: true / false read as first / off
        return {True: "first", False: "off"}.get(value, value) if isinstance(value, bool) else value

    def wants_analysis(self, may_write: bool) -> bool:
        """`teacher_analysis`: whether a round asks for the weakness report, given whether it may write (the
        report's one reader). The analyst (`node_tools.pays_analysis`) and `distillgraph plan` both ask this."""
        return self.teacher_analysis == "always" or (self.teacher_analysis == "auto" and may_write)
