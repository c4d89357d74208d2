"""run_many(backend="ray") on a real local Ray cluster (loopback only): results, the file, a worker's death."""

import json
import os
from pathlib import Path

import anyio
import pytest

from agentkit import UserError
from agentkit.batch import run_many

ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster():
    # Workers import agentkit and tests.batch_agents from this checkout.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def run(**kwargs):
    return anyio.run(lambda: run_many(progress=False, **kwargs))


def test_ray_runs_stream_back_in_input_order_and_the_driver_writes_the_file(cluster, tmp_path):
    out = tmp_path / "runs.jsonl"
    inputs = [f"q{i}" for i in range(30)] + ["fail", {"id": "last", "input": "end", "deps": {"sleep": 0.05}}]
    results = run(agent_or_factory="tests.batch_agents:echo", inputs=inputs, concurrency=8, output=out, backend="ray",
                  workers=2)  # fmt: skip
    assert [r.id for r in results] == [*range(31), "last"]
    assert [r.output for r in results[:30]] == [f"done: Q{i}" for i in range(30)]
    assert results[30].error == "ModelError: the model failed: ValueError: the model fell over"
    assert results[31].output == "done: END" and results[31].turns == 2
    assert results[0].messages[-1] == {"role": "assistant", "content": "done: Q0"}
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(map(str, (line["id"] for line in written))) == sorted(map(str, [*range(31), "last"]))
    # Resume over the same inputs: nothing runs again, nothing is written twice.
    again = run(agent_or_factory="tests.batch_agents:echo", inputs=inputs, output=out, resume=True, backend="ray")
    assert [r.output for r in again[:30]] == [f"done: Q{i}" for i in range(30)]
    assert len(out.read_text().splitlines()) == 32


def test_a_worker_that_dies_mid_run_fails_its_runs_and_never_runs_their_tools_again(cluster, tmp_path):
    marker, ledger = tmp_path / "killed", tmp_path / "ledger"
    deps = {"kill_once": str(marker), "ledger": str(ledger), "sleep": 0.05}
    inputs = [{"id": i, "input": f"q{i}", "deps": deps} for i in range(6)]
    results = run(agent_or_factory="tests.batch_agents:echo", inputs=inputs, concurrency=4, backend="ray", workers=2)
    assert marker.exists()  # a worker process did die
    ran = ledger.read_text().split()
    assert sorted(ran) == sorted(set(ran))  # no input's tool ran twice
    died = [r for r in results if r.error is not None]
    assert died, "the run whose worker died is a failed result"
    for r in died:
        assert r.output is None and r.error.startswith(("ActorDiedError: ", "ActorUnavailableError: "))
        assert r.error.endswith(
            ": the Ray worker running this input died; tools the run called may have run, so it was not run again"
        ), r.error
    assert [(r.id, r.output) for r in results if r.error is None] == [(r.id, f"done: Q{r.id}") for r in results
                                                                      if r.error is None]  # fmt: skip
    assert results[-1].error is None  # the worker was restarted: later runs go on


def test_ray_refuses_an_unknown_option_and_an_agent_object(cluster):
    from tests.batch_agents import echo

    with pytest.raises(UserError, match="unknown option 'temprature'"):
        run(agent_or_factory="tests.batch_agents:echo", inputs=["a"], backend="ray", temprature=1)
    with pytest.raises(UserError, match="takes a 'module:function' or a function"):
        run(agent_or_factory=echo(), inputs=["a"], backend="ray")
    with pytest.raises(
        UserError, match=r"factory 'tests\.batch_agents:not_an_agent' failed in a Ray worker: UserError"
    ):
        run(agent_or_factory="tests.batch_agents:not_an_agent", inputs=["a"], backend="ray", workers=1)
    # A callable factory travels to the workers too.
    assert run(agent_or_factory=echo, inputs=["b"], backend="ray")[0].output == "done: B"
    assert ray.is_initialized()  # run_many did not shut down the cluster it was given


def test_cli_ray_joins_the_cluster_that_RAY_ADDRESS_names(cluster, tmp_path):
    import subprocess
    import sys

    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps(f"q{i}") + "\n" for i in range(5)))
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    done = subprocess.run([sys.executable, "-m", "agentkit", "batch", str(inputs), "--agent", "tests.batch_agents:echo",
                           "--output", str(out), "--ray"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=240)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == f"5 runs, 0 failed: {out}"
    assert sorted(json.loads(line)["output"] for line in out.read_text().splitlines()) == [
        f"done: Q{i}" for i in range(5)
    ]


def test_ray_runs_groups_and_the_driver_scores_them(cluster, tmp_path):
    out = tmp_path / "runs.jsonl"
    results = run(agent_or_factory="tests.batch_agents:echo", inputs=["ab", {"id": "c", "input": "cde"}], group_size=3,
                  reward="tests.batch_agents:answer_length", concurrency=4, output=out, backend="ray", workers=2)  # fmt: skip
    assert [(r.id, r.group, r.sample, r.reward) for r in results] == [
        (0, 0, 0, 8.0), (0, 0, 1, 8.0), (0, 0, 2, 8.0), ("c", "c", 0, 9.0), ("c", "c", 1, 9.0), ("c", "c", 2, 9.0),
    ]  # fmt: skip
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((str(line["group"]), line["sample"], line["reward"]) for line in written) == [
        ("0", 0, 8.0), ("0", 1, 8.0), ("0", 2, 8.0), ("c", 0, 9.0), ("c", 1, 9.0), ("c", 2, 9.0),
    ]  # fmt: skip


def test_ray_refuses_record_on_a_model_that_cannot_record_before_any_run(cluster):
    with pytest.raises(UserError, match="record=True: ScriptedModel cannot record"):
        run(agent_or_factory="tests.batch_agents:echo", inputs=["a"], record=True, backend="ray", workers=1)
