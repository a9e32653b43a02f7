"""A faulty teacher (seeded 429 / 500 / timeouts / malformed and off-schema JSON): the run completes, the caps
hold by the stub's own count, every accepted sample is valid and every failure is counted."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from distillgraph.graph.config import config_from_dict
from distillgraph.graph.runner import execute, new_run_dir
from tests.reliability.harness import KEY_ENV, SECRET, ControlledStub, config_dict, files_with
from tests.stub_server import Faults

FAULTS = Faults(rate_429=0.20, rate_500=0.10, rate_slow=0.05, rate_malformed=0.025, rate_off_schema=0.025,
                retry_after=0.05, slow_seconds=2.4)
# the client gives up after TIMEOUT: far enough below a slow answer, and far enough above a normal one on a
# loaded 2-core machine (0.6 s once counted a normal answer as a timeout while other work ran beside the tests)
TIMEOUT = 1.2
# the stub fault that each ledger failure kind stands for
FAULT_OF = {"429": "429", "5xx": "500", "timeout": "slow", "parse": ("malformed", "off_schema")}


def faulty_run(models, data, runs: Path, seed: int, **over):
    """One in-process run against a faulty stub; returns (stub, config, run dir, final state)."""
    with ControlledStub(faults=FAULTS, seed=seed) as stub:
        raw = config_dict(stub.base_url, models, data, runs, teacher__timeout=TIMEOUT, run__seed=seed, **over)
        cfg = config_from_dict(raw)
        run_dir = new_run_dir(cfg)
        state = execute(cfg, run_dir, env={KEY_ENV: SECRET}, console=Console(quiet=True), progress=False)
        time.sleep(FAULTS.slow_seconds + 0.3)  # a slow answer the client gave up on is still being served
    return stub, cfg, run_dir, state


def test_faulty_teacher_run_completes_within_the_caps_with_valid_samples_and_counted_failures(models, data, tmp_path):
    # max_tokens binds before max_calls: a timed-out request that the provider answered anyway must be paid for
    stub, cfg, run_dir, state = faulty_run(models, data, tmp_path / "runs", seed=3,
                                           budget__max_calls=80, budget__max_tokens=7_000, teacher__max_tokens=96)
    assert state.get("report"), "the run did not reach the report"
    served = stub.faults_served
    assert served["429"] and served["500"] and served["slow"], f"the seed injected too few faults: {served}"
    # caps by the stub's own count: every answer it served (billed), and every token it reported
    assert stub.answered <= cfg.budget.max_calls
    assert stub.prompt_tokens + stub.completion_tokens <= cfg.budget.max_tokens
    # requests beyond the answers are 429/500 rejections (not billed), bounded by the retry limit
    assert stub.chat_requests - stub.answered == served["429"] + served["500"]
    assert stub.chat_requests <= cfg.budget.max_calls * (cfg.teacher.max_retries + 1)
    ledger = state["ledger"]
    assert ledger["spent"]["calls"] <= cfg.budget.max_calls and ledger["spent"]["tokens"] <= cfg.budget.max_tokens
    # every accepted sample is valid
    assert state["dataset"]
    for a in state["dataset"]:
        assert a.target in cfg.task.labels and a.text is None or a.text.strip()
    # every injected fault is counted: in the ledger, in the trace's last budget and in the report
    failures = ledger["failures"]
    for kind, fault in FAULT_OF.items():
        faults = (fault,) if isinstance(fault, str) else fault
        assert failures[kind] == sum(served[f] for f in faults), (kind, failures, served)
    trace = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    assert trace[-1]["budget_after"]["failures"] == failures
    failed = [e for r in trace for e in r["events"] if e["kind"] == "teacher" and e["error"] and not e["skipped_budget"]]
    assert all(e["attempts"] >= 1 and e["parsed"] is None for e in failed), [(e["attempts"], e["error"], e["cached"]) for e in failed]
    print(f"faults {dict(served)}; requests {stub.chat_requests}, answered {stub.answered}; failed items {len(failed)}; "
          f"spent {ledger['spent']}; dataset {len(state['dataset'])}")
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())
    assert metrics["teacher_failures"] == failures
    assert not files_with(SECRET, run_dir)


def test_off_label_answers_never_enter_the_dataset(models, data, tmp_path):
    """A teacher that answers a label outside the label set (e.g. obeying an injected text) is refused."""

    def off_label(body):
        return {"rationale": "the text says so", "label": "sports", "confidence": 1.0}

    with ControlledStub(responder=off_label) as stub:
        cfg = config_from_dict(config_dict(stub.base_url, models, data, tmp_path / "runs", budget__max_calls=20))
        run_dir = new_run_dir(cfg)
        try:
            execute(cfg, run_dir, env={KEY_ENV: SECRET}, console=Console(quiet=True), progress=False)
        except Exception as exc:  # noqa: BLE001 - nothing accepted: the trainer refuses to train on nothing
            assert "nothing to train on" in str(exc)
    trace = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    boot = next(r for r in trace if r["node"] == "bootstrap")
    assert boot["summary"]["bootstrap_labels"] == 0
    answers = [e for e in boot["events"] if e["kind"] == "teacher"]
    assert answers and all(e["parsed"] is None and "label" in e["error"] for e in answers)
    assert stub.answered == 2 * len(answers)  # each was asked once and repaired once, then refused


def test_a_timed_out_request_is_charged_and_its_replay_charges_the_same(tmp_path):
    """The provider may bill a request the client gave up on: it counts against the caps, and a resumed run
    replaying the cached answer charges exactly what the original run did."""
    from distillgraph.agents.budget import BudgetLedger
    from distillgraph.agents.cache import AnswerCache
    from distillgraph.agents.config import BudgetConfig, TeacherConfig
    from distillgraph.agents.teacher import build_teacher
    from distillgraph.prompts import PromptLibrary
    from tests.teacher.teacher_rig import label_requests

    cfg = TeacherConfig(model="stub", timeout=0.4, max_tokens=50, backoff_base=0.01, max_retries=2)
    spent = []
    with ControlledStub(faults=Faults(script=["slow", "429"], slow_seconds=0.8)) as stub:
        for _ in range(2):  # the second pass replays from the cache
            ledger = BudgetLedger(BudgetConfig(max_calls=10))
            with AnswerCache(tmp_path / "cache.sqlite") as cache:
                teacher = build_teacher(cfg.model_copy(update={"base_url": stub.base_url}), ledger, cache,
                                        env={}, prompts=PromptLibrary())
                result = teacher.ask(label_requests(1)[0])
                teacher.close()
            assert result.ok
            spent.append(ledger.to_dict()["spent"])
        time.sleep(0.5)
    assert stub.chat_requests == 3 and stub.answered == 2  # slow (answered late), 429, answer
    assert spent[0]["calls"] == 2, "the timed-out request was not charged (the 429 is not billed)"
    assert spent[0]["tokens"] >= 50 + stub.prompt_tokens // 2
    assert spent[1] == spent[0], "the replay charged differently from the original"
