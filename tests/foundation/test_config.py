"""Config validation: good configs, misspelt keys, wrong types, missing fields, overrides."""

from pathlib import Path

import pytest
import yaml

from distillgraph.graph.config import RunConfig, apply_overrides, load_config, redact
from distillgraph.store.schema import UserError

GOOD = {
    "task": {"type": "classification", "labels": {"a": "first", "b": "second"}},
    "data": {"pool": "pool.jsonl"},
    "budget": {"max_calls": 10},
}


def write(tmp_path: Path, data: dict, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return p


def test_good_config_loads_with_defaults(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert isinstance(cfg, RunConfig)
    assert cfg.teacher.provider == "openai" and cfg.loop.rounds == 4 and cfg.run.dir == "runs"
    assert cfg.run.name == "c"  # defaults to the config file name
    assert cfg.dev_metric == "macro_f1"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["budget"].update(max_tokenz=5), "budget.max_tokenz: unknown key (did you mean max_tokens?)"),
        (lambda d: d.update(teacherr={}), "teacherr: unknown key (did you mean teacher?)"),
        (lambda d: d["budget"].update(max_calls="many"), "budget.max_calls: Input should be a valid integer"),
        (lambda d: d["budget"].update(max_calls=-3), "budget.max_calls: Input should be greater than 0"),
        (lambda d: d.pop("budget"), "budget: required key is missing"),
        (lambda d: d.update(budget={}), "budget: set at least one of max_calls, max_tokens, max_usd"),
        (lambda d: d["task"].update(labels={"a": ""}), "task.labels: a classification task needs at least 2 labels"),
        (lambda d: d.update(student={"kind": "transformer"}), "student.kind: Input should be"),
        (lambda d: d.update(loop={"rounds": 5, "max_rounds": 2}), "loop.max_rounds: must be >= loop.rounds"),
        (lambda d: d["data"].pop("pool"), "data.pool: required when data.source is 'files'"),
        (lambda d: d.update(teacher={"provider": "oracle"}, loop={"scoring": "judge"}),
         "loop.scoring: judge needs a teacher that can judge; the oracle teacher"),
        (lambda d: d.update(teacher={"provider": "oracle"}, loop={"judge": True}),
         "loop.judge: true needs a teacher that can judge; the oracle teacher"),
    ],
)
def test_bad_config_gives_one_line_naming_the_key(tmp_path, mutate, message):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    mutate(data)
    with pytest.raises(UserError) as exc:
        load_config(write(tmp_path, data))
    text = str(exc.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_overrides_set_any_key_with_yaml_types(tmp_path):
    cfg = load_config(write(tmp_path, GOOD), ["budget.max_calls=42", "loop.rounds=2", "teacher.temperature=0.5",
                                               "store.n_clusters=7", "run.name=x y"])
    assert cfg.budget.max_calls == 42 and cfg.loop.rounds == 2 and cfg.teacher.temperature == 0.5
    assert cfg.store.n_clusters == 7 and cfg.run.name == "x y"


def test_an_unquoted_off_means_off_not_false(tmp_path):
    cfg = load_config(write(tmp_path, GOOD), ["loop.synthesis=off", "loop.allocation_trust=off"])
    assert (cfg.loop.synthesis, cfg.loop.allocation_trust) == ("off", "off")
    with pytest.raises(UserError, match="loop.allocation_trust"):
        load_config(write(tmp_path, GOOD), ["loop.allocation_trust=on"])  # true is no value of it


def test_yaml_words_off_on_stay_strings_and_booleans_still_parse(tmp_path):
    cfg = load_config(write(tmp_path, GOOD), ["teacher.gate.mode=off", "loop.judge=on"])
    assert cfg.teacher.gate.mode == "off" and cfg.loop.judge is True


def test_override_of_unknown_key_is_an_error(tmp_path):
    with pytest.raises(UserError, match=r"loop.roundz: unknown key \(did you mean rounds\?\)"):
        load_config(write(tmp_path, GOOD), ["loop.roundz=3"])


def test_override_without_equals_is_an_error():
    with pytest.raises(UserError, match="expected key.path=value"):
        apply_overrides({}, ["loop.rounds"])


@pytest.mark.parametrize("content, message", [("a: [1,", "not valid YAML"), ("- 1\n- 2\n", "must be a mapping")])
def test_broken_yaml(tmp_path, content, message):
    p = tmp_path / "bad.yaml"
    p.write_text(content)
    with pytest.raises(UserError, match=message):
        load_config(p)


def test_missing_config_file(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_relative_data_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pool.jsonl").write_text('{"text": "x"}\n')
    cfg = load_config(write(tmp_path / "sub", GOOD))
    assert Path(cfg.data.pool).is_absolute() and Path(cfg.data.pool).exists()


def test_redaction_hides_secret_values_but_keeps_env_names():
    out = redact({"teacher": {"api_key_env": "OPENAI_API_KEY", "api_key": "sk-abcdefghijkl123"},
                  "note": "key sk-abcdefghijkl123 here"})
    assert out["teacher"]["api_key_env"] == "OPENAI_API_KEY"
    assert out["teacher"]["api_key"] == "***"
    assert "sk-abcdefghijkl123" not in str(out)


def test_resolved_config_written_for_resume_keeps_the_student_kinds_defaults(tmp_path):
    """A run's config.resolved.yaml is read back on resume: the per-kind student defaults (not the class
    defaults, which a reload would mark as set) must come back, and an automatic setting stays automatic."""
    from distillgraph.graph.config import config_from_dict

    ner = {**GOOD, "task": {"type": "ner", "labels": {"person": "a person"}}}
    for kind in ("token-classifier", "token-probe", "classifier"):
        cfg = load_config(write(tmp_path, {**(GOOD if kind == "classifier" else ner), "student": {"kind": kind}}))
        again = config_from_dict(yaml.safe_load(yaml.safe_dump(cfg.redacted())))
        assert again.student.resolved() == cfg.student.resolved(), kind
    probe = load_config(write(tmp_path, {**ner, "student": {"kind": "token-probe"}}))
    assert config_from_dict(yaml.safe_load(yaml.safe_dump(probe.redacted()))).student.probe_C is None
