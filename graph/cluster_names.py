"""Optional teacher-written cluster names (paid, budgeted, cached).

The keywords (store/names.py) always name the clusters; when the run allows it, ONE teacher request
(prompt file prompts/cluster_name.yaml) turns them into short names a person reads faster, shown
before the keywords: "UK general election (election / labour / party)". The request goes through the
run's teacher like any other: reserved against the budget (skipped, keywords kept, when it does not
fit), answered from the answer cache on a resume or a repeated run, and recorded in the trace by the
caller's `ask`. The names are saved into data/clusters.json, so a resumed process reads them back
and never asks again.

Wiring (the index node, after build_index, before the clusters go into the state)::

    if <names by the teacher enabled> and deps.teacher_can("analyse") and not teacher_named(deps.data_dir):
        req = name_request(res.clustering, {e.id: e.text for e in exs}, deps.prompts, task.instruction)
        apply_names(ask([req])[0], res.clustering, deps.data_dir)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from distillgraph.agents.teacher import TeacherRequest
from distillgraph.store.cluster import Clustering
from distillgraph.store.index import CLUSTERS_FILE
from distillgraph.store.names import keywords, with_written_name

PROMPT = "cluster_name"
MARK_FILE = "cluster_names.json"  # data/: what the teacher wrote, per cluster (its presence: asked already)
EXAMPLES = 3                      # typical texts per cluster in the prompt (its representatives)
KEYWORDS = 8


class ClusterName(BaseModel):
    id: int = Field(description="the group id")
    name: str = Field(min_length=1, max_length=60, description="2 to 5 words saying what the group's texts are about")


class ClusterNames(BaseModel):
    names: list[ClusterName] = Field(min_length=1)


def teacher_named(data_dir: Path) -> bool:
    return (Path(data_dir) / MARK_FILE).exists()


def name_request(clustering: Clustering, texts: dict[str, str], prompts: Any, instruction: str) -> TeacherRequest:
    """The one request: per cluster its top keywords (c-TF-IDF over its members) and its typical texts."""
    ids = [i for i in clustering.assignments if i in texts]
    kw = keywords([texts[i] for i in ids], [clustering.assignments[i] for i in ids], top_n=KEYWORDS)
    clusters = [{"id": c, "keywords": kw.get(c, []),
                 "examples": [texts[r] for r in clustering.representatives.get(c, []) if r in texts][:EXAMPLES]}
                for c in sorted(clustering.sizes)]
    tpl = prompts.get(PROMPT)
    return TeacherRequest(node="index", messages=tpl.render(instruction=instruction, clusters=clusters),
                          schema=ClusterNames, prompt_name=tpl.name, prompt_hash=tpl.hash, kind="analyse")


def apply_names(result: Any, clustering: Clustering, data_dir: Path) -> dict[int, str]:
    """Put the teacher's names before the keywords (clusters.json is rewritten); returns the names now in use.
    A failed or skipped request changes nothing (and is not marked, so a later run may ask again)."""
    if not getattr(result, "ok", False) or not isinstance(result.parsed, ClusterNames):
        return dict(clustering.names)
    written = {n.id: n.name for n in result.parsed.names if n.id in clustering.sizes}
    for c, name in written.items():
        clustering.names[c] = with_written_name(name, clustering.names.get(c, ""))
    data_dir = Path(data_dir)
    clustering.save(data_dir / CLUSTERS_FILE)
    (data_dir / MARK_FILE).write_text(json.dumps({"by": "teacher", "written": {str(c): n for c, n in written.items()}},
                                                 ensure_ascii=False), encoding="utf-8")
    return dict(clustering.names)
