"""RunConfig: the one validated config object, loaded from YAML with `--set` overrides.

Errors are reported as one line naming the key path, e.g.
`budget.max_tokenz: unknown key (did you mean max_tokens?)`.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from distillgraph.agents.config import BudgetConfig, TeacherConfig
from distillgraph.graph.loop_config import LoopConfig
from distillgraph.store.schema import DataConfig, StoreConfig, Strict, TaskConfig, UserError
from distillgraph.trainer.config import StudentConfig


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
