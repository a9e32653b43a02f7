"""RunConfig: the one validated config object, loaded from YAML with `--set` overrides.

Errors are reported as one line naming the key path, e.g.
`budget.max_tokenz: unknown key (did you mean max_tokens?)`.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from distillgraph.agents.config import BudgetConfig, TeacherConfig
from distillgraph.graph.policies import check_policy_name, policy_names
from distillgraph.store.schema import DataConfig, StoreConfig, Strict, TaskConfig, UserError
from distillgraph.trainer.config import StudentConfig


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


class PromptsConfig(Strict):
    dir: str | None = Field(default=None, description="folder whose *.yaml override the packaged prompts")


class RunSection(Strict):
    dir: str = "runs"
    name: str | None = Field(default=None, description="run id prefix (default: config file name)")
    seed: int = 0
    no_cache: bool = False
    step: bool = False


class RunConfig(Strict):
    task: TaskConfig
    data: DataConfig
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    budget: BudgetConfig
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)
    run: RunSection = Field(default_factory=RunSection)

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        if self.loop.max_rounds < self.loop.rounds:
            raise ValueError("loop.max_rounds: must be >= loop.rounds")
        if self.task.type == "generation" and self.student.kind == "classifier":
            raise ValueError("student.kind: a generation task needs a causal-lm student")
        if self.task.type == "generation" and self.student.kind == "embedding-probe":
            raise ValueError("student.kind: a generation task needs a causal-lm student")
        token_kind = self.student.kind in ("token-classifier", "token-probe")
        if (self.task.type == "ner") != token_kind:
            raise ValueError("student.kind: a ner task needs a token-classifier or token-probe student"
                             if self.task.type == "ner" else f"student.kind: {self.student.kind} needs task.type ner")
        if self.student.outside_weight != 1.0 and self.student.kind != "token-probe":
            raise ValueError(f"student.outside_weight: only the token-probe student weighs its O words; "
                             f"{self.student.kind} does not")
        if self.student.head_init != "random" and self.student.kind != "classifier":
            raise ValueError(f"student.head_init: only the classifier student has a head to initialise; "
                             f"{self.student.kind} does not")
        if self.data.source == "wnut" and self.task.type != "ner":
            raise ValueError("data.source: wnut is an NER corpus; set task.type: ner")
        if self.task.type == "ner" and self.data.source == "bbc":
            raise ValueError("data.source: bbc holds no entities; for ner use data.source wnut or your own files")
        if self.teacher.provider == "oracle" and (self.loop.scoring == "judge" or self.loop.judge):
            key = "loop.scoring: judge" if self.loop.scoring == "judge" else "loop.judge: true"
            raise ValueError(f"{key} needs a teacher that can judge; the oracle teacher (teacher.provider: oracle) "
                             "only answers labelling requests")
        return self

    @property
    def dev_metric(self) -> str:
        if self.loop.metric != "auto":
            return self.loop.metric
        return {"classification": "macro_f1", "ner": "entity_f1"}.get(self.task.type, "chrf")

    def redacted(self) -> dict[str, Any]:
        """The resolved config as plain data. Keys are never stored in config; the env variable name is."""
        data = self.model_dump(mode="json")
        data["student"] = self.student.resolved().model_dump(mode="json")  # per-kind defaults written out
        return redact(data)


_SECRET_KEY = re.compile(r"(api_key|secret|token|password)$", re.I)
_SECRET_VALUE = re.compile(r"(sk-[A-Za-z0-9_\-]{8,})")


def redact(data: Any, names: bool = False) -> Any:
    """`names`: the values are environment variable names (store.chroma_headers), kept as they are."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if isinstance(v, str) and _SECRET_KEY.search(str(k)) and not str(k).endswith("_env") and not names:
                out[k] = "***"
            else:
                out[k] = redact(v, names=str(k) == "chroma_headers")
        return out
    if isinstance(data, list):
        return [redact(v) for v in data]
    if isinstance(data, str):
        return _SECRET_VALUE.sub("***", data)
    return data


# ---------------------------------------------------------------- loading + errors


def _model_at(path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that holds the field at `path` (for 'did you mean')."""
    model: Any = RunConfig
    for part in path:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def format_validation_error(err: ValidationError) -> str:
    """One line for the first error, naming the key path."""
    e = err.errors()[0]
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    path = ".".join(str(p) for p in loc)
    typ = e["type"]
    if typ == "extra_forbidden":
        parent = _model_at(loc[:-1])
        hint = ""
        if parent is not None:
            close = difflib.get_close_matches(str(loc[-1]), list(parent.model_fields), n=1, cutoff=0.6)
            if close:
                hint = f" (did you mean {close[0]}?)"
        msg = f"{path}: unknown key{hint}"
    elif typ == "missing":
        msg = f"{path}: required key is missing"
    elif typ == "value_error":
        text = str(e["msg"]).removeprefix("Value error, ")
        msg = text if ":" in text.split(" ")[0] else (f"{path}: {text}" if path else text)
    else:
        got = e.get("input")
        got_s = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        if len(got_s) > 60:
            got_s = got_s[:57] + "..."
        msg = f"{path}: {e['msg']} (got {got_s})" if path else str(e["msg"])
    extra = len(err.errors()) - 1
    return msg + (f" [+{extra} more error{'s' if extra > 1 else ''}]" if extra else "")


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2's booleans: only true / false. YAML 1.1 (PyYAML's default) also reads off / on / yes / no as
    booleans, so `synthesis: off` or `--set teacher.gate.mode=off` reached pydantic as false; as strings they
    stay what they say, and pydantic still reads them as booleans where a field is one."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                    list("tTfF"))


def load_yaml(text: str) -> Any:
    """A config's YAML (a file or an override's value), with YAML 1.2's booleans."""
    return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


def parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise UserError(f"--set {item}: expected key.path=value")
    key, raw = item.split("=", 1)
    value = load_yaml(raw) if raw != "" else ""
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides or []:
        keys, value = parse_override(item)
        node = data
        for k in keys[:-1]:
            nxt = node.get(k)
            if not isinstance(nxt, dict):
                nxt = {}
                node[k] = nxt
            node = nxt
        node[keys[-1]] = value
    return data


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise UserError(format_validation_error(err)) from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Load and validate a YAML config; relative data/prompt paths resolve against its folder."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: config file not found")
    if p.is_dir():
        raise UserError(f"{p}: is a folder, expected a YAML config file")
    try:
        data = load_yaml(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{p}: config is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UserError(f"{p}: not valid YAML{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{p}: the config must be a mapping of sections (task, data, budget, ...)")
    data = apply_overrides(data, overrides or [])
    _resolve_paths(data, p.parent)
    cfg = config_from_dict(data)
    if cfg.run.name is None:
        cfg.run.name = p.stem
    return cfg


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Relative file paths in the config are relative to the config file, like most tools do."""

    def fix(section: str, key: str) -> None:
        sec = data.get(section)
        if isinstance(sec, dict) and isinstance(sec.get(key), str) and sec[key]:
            val = Path(sec[key]).expanduser()
            if not val.is_absolute() and not Path(sec[key]).exists() and (base / val).exists():
                sec[key] = str(base / val)

    for key in ("pool", "seed", "dev", "test"):
        fix("data", key)
    fix("prompts", "dir")
