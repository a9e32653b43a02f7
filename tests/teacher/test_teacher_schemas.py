"""Teacher answer schemas: label enums and lenient confidences."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from distillgraph.agents.schemas import OutputAnswer, label_answer_schema


def test_label_schema_restricts_labels_and_lists_them() -> None:
    schema = label_answer_schema(("sport", "tech"))
    assert schema.model_json_schema()["properties"]["label"]["enum"] == ["sport", "tech"]
    with pytest.raises(ValidationError):
        schema.model_validate({"rationale": "r", "label": "politics"})


@pytest.mark.parametrize(("given", "kept"), [(10, 1.0), (2.5, 1.0), (-1, 0.0), (0.4, 0.4)])
def test_out_of_range_confidence_is_clamped_not_fatal(given: float, kept: float) -> None:
    schema = label_answer_schema(("sport", "tech"))
    assert schema.model_validate({"rationale": "r", "label": "sport", "confidence": given}).confidence == kept
    assert OutputAnswer.model_validate({"output": "o", "confidence": given}).confidence == kept


def test_non_numeric_confidence_still_fails() -> None:
    with pytest.raises(ValidationError):
        OutputAnswer.model_validate({"output": "o", "confidence": "very"})


def test_analyst_report_caps_its_strings_and_lists_in_the_schema_and_clips_longer_answers() -> None:
    from distillgraph.agents.schemas import WeaknessReport

    schema = WeaknessReport.model_json_schema()
    item = schema["$defs"]["WeaknessItem"]["properties"]
    assert schema["properties"]["analysis"]["maxLength"] == 300
    assert schema["properties"]["weaknesses"]["maxItems"] == 3
    assert item["description"]["maxLength"] == 160 and item["suggestion"]["maxLength"] == 160
    assert item["example_ids"]["maxItems"] == 3 and item["labels"]["maxItems"] == 6
    long = {"analysis": "a" * 900, "weaknesses": [{"description": "d" * 500, "example_ids": list("abcdefg")}] * 5}
    report = WeaknessReport.model_validate(long)  # a teacher that ignores the caps is clipped, not rejected
    assert len(report.analysis) == 300 and len(report.weaknesses) == 3
    assert len(report.weaknesses[0].description) == 160 and report.weaknesses[0].example_ids == list("abc")
    with pytest.raises(ValidationError):
        WeaknessReport.model_validate({"analysis": 3})  # not a string: still an error


def test_rationales_are_capped_for_every_labelling_answer() -> None:
    from distillgraph.agents.schemas import RATIONALE_CHARS, entities_answer_schema

    for model in (label_answer_schema(("sport", "tech")), OutputAnswer, entities_answer_schema(("person",))):
        assert model.model_json_schema()["properties"]["rationale"]["maxLength"] == RATIONALE_CHARS
    got = label_answer_schema(("sport", "tech")).model_validate({"rationale": "r" * 1000, "label": "tech"})
    assert len(got.rationale) == RATIONALE_CHARS and got.label == "tech"


def test_llama_cpp_turns_the_capped_schemas_into_a_grammar_that_bounds_them() -> None:
    grammar = pytest.importorskip("llama_cpp.llama_grammar")
    import json

    from distillgraph.agents.schemas import WeaknessReport

    gbnf = grammar.json_schema_to_gbnf(json.dumps(WeaknessReport.model_json_schema()))
    analysis = next(line for line in gbnf.splitlines() if line.startswith("analysis ::="))
    assert analysis.count("char") == 300  # at most 300 characters, where an uncapped string is `char*`
    assert "char*" not in analysis


def test_a_synthesis_call_is_capped_at_the_samples_it_asks_for() -> None:
    from distillgraph.agents.schemas import SynthBatch, synth_batch_schema

    two = synth_batch_schema(2)
    assert issubclass(two, SynthBatch) and two.model_json_schema()["properties"]["samples"]["maxItems"] == 2
    got = two.model_validate({"samples": [{"text": f"text {i}", "difficulty": "hard"} for i in range(6)]})
    assert [s.text for s in got.samples] == ["text 0", "text 1"]  # extra samples clipped, the answer kept
    with pytest.raises(ValidationError):
        two.model_validate({"samples": []})  # still at least one
