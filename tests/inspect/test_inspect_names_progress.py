"""Cluster names (c-TF-IDF keywords, optional teacher-written names), the quiet terminal, live progress."""

from __future__ import annotations

import io
import json
import logging
import os
import warnings
from types import SimpleNamespace

import numpy as np
from rich.console import Console

from distillgraph.graph.cluster_names import (
    ClusterName,
    ClusterNames,
    apply_names,
    name_request,
    teacher_named,
)
from distillgraph.graph.progress import LiveProgress, live_wanted
from distillgraph.graph.terminal import expected_load_report, quiet_libraries
from distillgraph.prompts import PromptLibrary
from distillgraph.store.cluster import Clustering
from distillgraph.store.names import is_default, keyword_names, keywords, with_written_name

TEXTS = {
    0: ["The striker scored a late goal in the cup match", "Coach praises players after league match",
        "Tennis star wins the final set said the coach", "The team won the league match said officials"],
    1: ["Shares fell as the bank reported lower profits", "Market prices rise as the economy grows said the bank",
        "Company profits beat forecasts, shares rise", "Trade deficit widens as the economy slows said officials"],
}


def test_keywords_name_each_cluster_by_its_own_words():
    texts = [t for c in TEXTS for t in TEXTS[c]]
    labels = [c for c in TEXTS for _ in TEXTS[c]]
    kw = keywords(texts, labels, top_n=5)
    assert {"match", "league"} & set(kw[0][:3]) and {"profits", "shares", "bank", "economy"} & set(kw[1][:3])
    assert "said" not in kw[0][:3] and "said" not in kw[1][:3]  # frequent everywhere: sinks
    names = keyword_names(texts, labels, k=3)
    assert " / " in names[0] and names[2] == "cluster 2"  # an empty cluster keeps its placeholder
    assert is_default("cluster 2") and is_default("c4") and not is_default(names[0])
    assert keyword_names(["1 2", "3 4"], [0, 1], k=2) == {0: "cluster 0", 1: "cluster 1"}  # no usable words


def test_kmeans_clusters_get_keyword_names_where_they_are_built(recorded_run):
    data = json.loads((recorded_run / "data" / "clusters.json").read_text())
    assert data["method"] == "kmeans" and all(not is_default(n) for n in data["names"].values())


def _clustering(tmp_path):
    ids = [f"id{c}{i}" for c in TEXTS for i in range(len(TEXTS[c]))]
    texts = {f"id{c}{i}": t for c in TEXTS for i, t in enumerate(TEXTS[c])}
    cl = Clustering(k=2, method="kmeans", assignments={i: int(i[2]) for i in ids}, centroids=np.zeros((2, 4), np.float32),
                    sizes={0: 4, 1: 4}, representatives={0: ["id00", "id01"], 1: ["id10"]},
                    names={0: "match / league / coach", 1: "profits / shares / bank"})
    return cl, texts


def test_teacher_written_names_come_from_the_prompt_file_and_are_saved(tmp_path):
    cl, texts = _clustering(tmp_path)
    req = name_request(cl, texts, PromptLibrary(), "Classify the topic.")
    user = req.messages[-1]["content"]
    assert req.prompt_name == "cluster_name" and req.kind == "analyse" and req.schema is ClusterNames
    assert "Group 0, top keywords" in user and "striker scored" in user and "<<<DATA" in user
    assert not teacher_named(tmp_path)
    result = SimpleNamespace(ok=True, parsed=ClusterNames(names=[ClusterName(id=0, name="Football results"),
                                                                 ClusterName(id=7, name="ignored")]))
    names = apply_names(result, cl, tmp_path)
    assert names == {0: "Football results (match / league / coach)", 1: "profits / shares / bank"}
    assert teacher_named(tmp_path)
    assert Clustering.load(tmp_path / "clusters.json").names == names  # a resumed process reads them back
    # a skipped (over budget) or failed request changes nothing and is not marked as done
    cl2, _ = _clustering(tmp_path)
    assert apply_names(SimpleNamespace(ok=False, parsed=None), cl2, tmp_path / "x") == cl2.names
    assert with_written_name("  UK  politics ", "cluster 3") == "UK politics"


def test_expected_library_noise_is_silenced_and_the_rest_shows(monkeypatch):
    for var in ("PYTHONWARNINGS", "HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS"):
        monkeypatch.delenv(var, raising=False)  # restored after the test
    report = ("BertForSequenceClassification LOAD REPORT from: m\nKey | Status |\n------+------\n"
              "classifier.bias   | MISSING |\nclassifier.weight | MISSING |\n")
    assert expected_load_report(report)
    assert not expected_load_report(report.replace("classifier.bias   | MISSING", "encoder.w | UNEXPECTED"))
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    log = hf_logging.get_logger("transformers.modeling_utils")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_libraries(debug=False)
        warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning, stacklevel=1)
        warnings.warn("something unexpected", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something unexpected"]
    assert "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning" in os.environ["PYTHONWARNINGS"]
    assert not hf_logging.is_progress_bar_enabled()
    if bars:
        hf_logging.enable_progress_bar()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger("transformers")
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.WARNING)  # the benchmarks' quiet_logs (run by tests/bench) raise it to ERROR
    try:
        with warnings.catch_warnings():
            quiet_libraries(debug=False)  # filters every handler of the library's logger
        log.warning(report)
        log.warning("an unexpected warning")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert "LOAD REPORT" not in stream.getvalue() and "an unexpected warning" in stream.getvalue()


def test_debug_leaves_the_libraries_as_they_are_and_train_is_quieted_like_run(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import distillgraph.graph.secondary as secondary
    import distillgraph.graph.terminal as terminal
    from distillgraph.graph.cli import app

    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_libraries(debug=True)
        warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning, stacklevel=1)
    assert len(caught) == 1 and "PYTHONWARNINGS" not in os.environ
    # `train` loads and trains a student as `run` does: the CLI quiets the libraries there too, unless --debug
    calls: list[bool] = []
    monkeypatch.setattr(terminal, "quiet_libraries", lambda debug=False: calls.append(debug))
    monkeypatch.setattr(secondary, "train_secondary",
                        lambda run_dir, sets, dest: {"train_examples": 0, "split": "test", "metrics": {}})
    (tmp_path / "config.resolved.yaml").write_text("")
    for args in (["train", str(tmp_path)], ["--debug", "train", str(tmp_path)]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0, r.output
    assert calls == [False, True]


def test_live_progress_counts_requests_and_estimates(tmp_path):
    assert not live_wanted(Console(file=io.StringIO()), quiet=False)  # not a terminal: off
    assert not live_wanted(Console(file=io.StringIO(), force_terminal=True), quiet=True)

    class Teacher:
        model = "stub"

        def ask_many(self, requests):
            for i, _ in enumerate(requests):
                progress.teacher_event({"kind": "cache_hit" if i == 0 else "answer"})
                if i == 1:
                    snapshot.append(console_text())
            return [None] * len(requests)

    class Ledger:
        def to_dict(self):
            return {"spent": {"calls": 12}, "fraction_spent": 0.2}

    budget = SimpleNamespace(model_dump=lambda: {"max_calls": 60, "max_tokens": None, "max_usd": None})
    deps = SimpleNamespace(cfg=SimpleNamespace(teacher=SimpleNamespace(max_concurrency=2), budget=budget),
                           teacher=Teacher(), ledger=Ledger(), trace=SimpleNamespace(current={"round": 2, "step": 9, "node": "annotator"}),
                           calls_left=lambda: 48.0)
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    progress = LiveProgress(console, enabled=True)
    progress.attach(deps)
    snapshot: list[str] = []

    def console_text():
        c = Console(file=io.StringIO(), width=160, color_system=None)
        c.print(progress.render())
        return c.file.getvalue()

    assert deps.teacher.model == "stub"  # everything but ask_many goes to the real teacher
    deps.teacher.ask_many(list(range(5)))
    mid = snapshot[0]
    assert "round 2 · annotator (step 9)" in mid and "12 of 60 calls" in mid and "20%" in mid
    assert "2 done" in mid and "2 in flight, 1 queued" in mid
    end = console_text()
    assert "5 done (1 from the cache, 0 failed) · 0 in flight" in end and "per call" in end and "ETA" in end
    off = LiveProgress(console, enabled=False)
    teacher = deps.teacher
    off.attach(deps)
    assert deps.teacher is teacher  # disabled: touches nothing
