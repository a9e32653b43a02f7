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
