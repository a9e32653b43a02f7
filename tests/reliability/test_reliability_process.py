"""Real processes: a second process on a run directory is refused by the lock; runs killed with SIGKILL
(mid teacher batch, inside training, at a node boundary) resume to exactly the uninterrupted run's dataset
without an answer paid twice."""

from __future__ import annotations

import pytest

from tests.reliability.crash import Trial, crash_trial, reference_run
from tests.reliability.harness import ControlledStub, config_dict, write_config


@pytest.fixture(scope="module")
def world(models, data, tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    with ControlledStub() as stub:
        # one request at a time: at the Nth request every earlier answer is cached and none is in flight
        cfg = write_config(root / "crash.yaml", config_dict(stub.base_url, models, data, root / "runs",
                                                            teacher__max_concurrency=1))
        ref = reference_run(stub, cfg, root / "runs", root / "logs", check_lock=True)
        yield stub, cfg, root, ref


def test_second_process_on_a_running_run_is_refused_and_the_first_is_not_corrupted(world):
    _, _, _, ref = world
    lines = [line for line in ref.lock["stderr"].splitlines() if line.strip()]
    assert ref.lock["first_alive"], "the first process had ended: the lock was not tested"
    assert ref.lock["rc"] == 2 and len(lines) == 1, ref.lock
    assert "in use by another process" in lines[0] and "Traceback" not in ref.lock["stderr"]
    # the first run went on to the end: every step once, in order, and a dataset
    assert sorted(ref.step_nodes) == list(range(1, len(ref.step_nodes) + 1))
    assert ref.step_nodes[len(ref.step_nodes)] == "report" and ref.dataset


@pytest.mark.parametrize("trial", [
    Trial("teacher-batch", "request", 0),  # value set from the reference: inside round 1's annotator batch
    Trial("training", "step", 2),  # delay set from the reference: inside the first trainer
    Trial("boundary", "boundary", 5),  # after the 5th step, before any answer of the 6th
], ids=lambda t: t.name)
def test_killed_run_resumes_to_the_same_dataset_paying_nothing_twice(world, trial):
    stub, cfg, root, ref = world
    if trial.trigger == "request":
        trial.value = int(ref.total_requests * 0.8)
    elif trial.name == "training":
        trial.delay = ref.step_seconds[3] * 0.3
    result = crash_trial(stub, cfg, root / "runs", root / "logs", trial, ref)
    for _ in range(3):  # the machine's load moves the trainer's timing: aim again, earlier, until the kill lands in it
        if trial.name != "training" or result.killed_in == "trainer":
            break
        trial.delay /= 3
        result = crash_trial(stub, cfg, root / "runs", root / "logs", trial, ref)
    assert result.killed, "the run ended before the kill"
    assert result.resumed_rc == 0
    assert result.identical, f"{result}: the resumed run distilled another dataset"
    assert result.paid_twice_read == 0, f"{result}: an answer the killed process had read was paid again"
    if trial.name == "training":
        assert result.killed_in == "trainer", result


def test_paid_twice_ages_count_each_answer_asked_again_from_its_last_serving_before_the_kill():
    from collections import Counter
    from types import SimpleNamespace

    from tests.reliability.crash import TrialResult, paid_twice_ages

    stub = SimpleNamespace(killed_at=10.0, answered_keys=Counter({"a": 2, "b": 2, "c": 1}),
                           answered_after_kill=Counter({"b": 1}),
                           served_at={"a": [9.999, 11.0], "b": [10.001, 12.0], "c": [8.0]})
    # a: served 1 ms before the kill and again on resume; b: served to the dead process (in flight), then again
    assert paid_twice_ages(stub, Counter({"a": 1, "b": 1, "c": 1})) == [1.0]
    assert paid_twice_ages(SimpleNamespace(**{**vars(stub), "killed_at": None}), Counter()) == []
    result = TrialResult("t", True, "annotator", 0, True, 2, 0, paid_twice_ms=[1.0, 150.0])
    assert result.paid_twice_read == 1


def test_answers_served_after_the_kill_are_in_flight_not_paid_twice():
    from collections import Counter

    from tests.reliability.harness import paid_twice

    reference = Counter({"a": 1, "b": 1, "c": 1})
    trial = Counter({"a": 2, "b": 2, "c": 1})  # a and b were asked again on resume
    assert paid_twice(trial, reference) == 2
    # b's first answer was written to the dead process (in flight): only a's counts against the client
    assert paid_twice(trial, reference, Counter({"b": 1})) == 1
    assert paid_twice(trial, reference, Counter({"a": 1, "b": 1})) == 0
