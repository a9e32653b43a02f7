"""Teacher-as-judge (generation tasks): score the student's own outputs against a rubric.

The lowest-scored outputs in a cluster are the most informative to annotate next (the clustering
paper's auxiliary scorer). Paid from the budget under the node name `judge`.
"""

from __future__ import annotations

import numpy as np

from distillgraph.agents.schemas import JudgeAnswer
from distillgraph.agents.teacher import TeacherRequest, TeacherResult
from distillgraph.prompts import PromptLibrary


def judge_requests(
    ids: list[str], texts: list[str], outputs: list[str], *, instruction: str, rubric: str, prompts: PromptLibrary, round_: int
) -> list[TeacherRequest]:
    tpl = prompts.get("judge")
    return [
        TeacherRequest(
            node="judge", messages=tpl.render(instruction=instruction, rubric=rubric, text=t, output=o),
            schema=JudgeAnswer, prompt_name=tpl.name, prompt_hash=tpl.hash, sample_index=round_,
            example_id=i, kind="judge",
        )
        for i, t, o in zip(ids, texts, outputs, strict=True)
    ]


def informativeness(results: list[TeacherResult]) -> np.ndarray:
    """Higher = more informative: 5 − score; an unjudged output gets the neutral middle (2.0)."""
    return np.array([5.0 - r.parsed.score if r.ok and isinstance(r.parsed, JudgeAnswer) else 2.0 for r in results])
