"""agentkit.batch.run_many: order, failures, bounded concurrency, lazy inputs, the JSONL file, resume, progress, CLI."""

import hashlib
import inspect
import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from agentkit import Agent, RemoteModel, RunContext, UserError, tool
from agentkit.batch import BatchResult, run_many
from agentkit.testing import ScriptedModel
from tests.batch_agents import echo, respond, shout

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def run(coro_fn, *args, **kwargs):
    return anyio.run(lambda: coro_fn(*args, **kwargs))


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- inputs, order, failures -----------------------------------------------------------------


def test_the_three_input_forms_give_results_in_input_order():
    inputs = [
        {"id": "slow", "input": "first", "deps": {"sleep": 0.2}},  # finishes last
        "second",
        [{"role": "user", "content": "third"}],
        {"id": 7, "input": "fourth", "deps": None},
    ]
    results = run(run_many, echo(), inputs, concurrency=4, progress=False)
    assert [r.id for r in results] == ["slow", 1, 2, 7]
    assert [r.output for r in results] == ["done: FIRST", "done: SECOND", "done: THIRD", "done: FOURTH"]
    assert all(isinstance(r, BatchResult) and r.error is None for r in results)
    assert [r.turns for r in results] == [2, 2, 2, 2]
    assert 0.2 <= results[0].seconds < 60  # the run's own time, not a clock reading
    assert results[1].messages[0] == {"role": "user", "content": "second"}
    assert results[1].messages[-1] == {"role": "assistant", "content": "done: SECOND"}
    assert results[1].usage.requests == 2 and results[1].usage.total_tokens > 0


def test_deps_reach_the_tools_a_dict_without_id_takes_its_position_and_deps_none_leaves_the_batch_deps():
    seen = []

    @tool
    def shout(ctx: RunContext[dict], text: str) -> str:
        """Shout.

        Args:
            text: what
        """
        seen.append(ctx.deps)
        return text.upper()

    agent = Agent(ScriptedModel(respond), [shout])
    inputs = ["a", {"input": "b", "deps": None}, {"input": "c", "deps": {"n": 1}}]
    results = run(run_many, agent, inputs, concurrency=1, progress=False, deps={"n": 0})
    assert [r.id for r in results] == [0, 1, 2]
    assert seen == [{"n": 0}, {"n": 0}, {"n": 1}]


def test_ids_that_are_the_same_json_object_are_the_same_id():
    inputs = [{"id": {"a": 1, "b": 2}, "input": "x"}, {"id": {"b": 2, "a": 1}, "input": "y"}]
    with pytest.raises(UserError, match="was given before"):
        run(run_many, echo(), inputs, progress=False)


def test_a_failing_run_is_a_result_with_its_error_and_the_batch_goes_on():
    results = run(run_many, echo(), ["a", "fail", "b"], progress=False)
    assert [r.output for r in results] == ["done: A", None, "done: B"]
    assert results[0].error is None and results[2].error is None
    assert results[1].error == "ModelError: the model failed: ValueError: the model fell over"
    assert results[1].messages == [] and results[1].turns == 0
    assert 0 < results[1].seconds < 60


def test_an_async_iterable_of_inputs_is_read_as_slots_free_up():
    read = 0
    read_at_first_call = []

    async def inputs():
        nonlocal read
        for i in range(30):
            read += 1
            yield {"id": f"a{i}", "input": "x"}

    def script(messages):
        read_at_first_call.append(read)
        return respond(messages)

    results = run(run_many, Agent(ScriptedModel(script), [shout]), inputs(), concurrency=4, progress=False)
    assert [r.id for r in results] == [f"a{i}" for i in range(30)]
    assert all(r.output == "done: X" for r in results)
    assert read_at_first_call[0] == 4


def test_run_options_go_to_every_run_and_a_dict_input_overrides_them():
    model = ScriptedModel(respond)
    agent = Agent(model, [shout])
    run(run_many, agent, ["a", {"input": "b", "temperature": 0.9}], concurrency=1, progress=False, temperature=0.1)
    assert [c.options.get("temperature") for c in model.calls] == [0.1, 0.1, 0.9, 0.9]


def test_an_unknown_option_is_a_user_error_before_any_input_is_read():
    read = []

    def inputs():
        for i in itertools.count():
            read.append(i)
            yield str(i)

    with pytest.raises(UserError, match="unknown option 'temprature'"):
        run(run_many, echo(), inputs(), temprature=0.5)
    assert read == []


def test_the_default_concurrency_is_the_contracts():
    assert inspect.signature(run_many).parameters["concurrency"].default == 32  # as API.md says


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"concurrency": 0}, "concurrency must be a positive int"),
        ({"concurrency": True}, "concurrency must be a positive int"),
        ({"resume": True}, "resume=True needs output="),
        ({"backend": "dask"}, "backend must be 'local' or 'ray'"),
    ],
)
def test_bad_arguments_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        run(run_many, echo(), ["a"], progress=False, **kwargs)


def test_a_factory_builds_the_agent_and_a_bad_one_is_a_user_error():
    results = run(run_many, "tests.batch_agents:echo", ["a"], progress=False)
    assert results[0].output == "done: A"
    assert run(run_many, echo, ["b"], progress=False)[0].output == "done: B"
    with pytest.raises(UserError, match="returned a str, not an Agent"):
        run(run_many, "tests.batch_agents:not_an_agent", ["a"])
    with pytest.raises(UserError, match="has no attribute 'nothing'"):
        run(run_many, "tests.batch_agents:nothing", ["a"])
    with pytest.raises(UserError, match="not 42"):
        run(run_many, 42, ["a"])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (3.5, "input 2 is a float"),
        ({"id": "z"}, "input 2: a dict input needs an 'input' key"),
        ({"input": {"role": "user"}}, "input 2: 'input' is a dict, not a string or a message list"),
        (["not a message"], "input 2: a message list holds only dicts"),
        ({"input": ["not a message"]}, "input 2: a message list holds only dicts"),
        ({"id": "a", "input": "again"}, "input 2: id 'a' was given before"),
        ({"id": {1, 2}, "input": "x"}, "cannot be written as JSON"),
    ],
)
def test_a_bad_input_is_a_user_error_after_the_runs_before_it_are_written(tmp_path, bad, message):
    out = tmp_path / "runs.jsonl"
    inputs = [{"id": "a", "input": "x", "deps": {"sleep": 0.1}}, "y", bad, "never"]
    with pytest.raises(UserError, match=message):
        run(run_many, echo(), inputs, concurrency=4, output=out, progress=False)
    assert sorted(str(line["id"]) for line in lines(out)) == ["1", "a"]


def test_an_error_of_the_inputs_themselves_comes_out_after_the_runs_in_flight_are_written(tmp_path):
    def inputs():
        yield {"id": "slow", "input": "x", "deps": {"sleep": 0.1}}
        raise OSError("the disk is gone")

    out = tmp_path / "runs.jsonl"
    with pytest.raises(OSError, match="the disk is gone"):
        run(run_many, echo(), inputs(), output=out, progress=False)
    assert [line["id"] for line in lines(out)] == ["slow"]


# --- concurrency and backpressure --------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_never_more_than_concurrency_runs_in_flight(concurrency):
    now = peak = 0

    @tool
    async def shout(text: str) -> str:
        """Shout.

        Args:
            text: what
        """
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await anyio.sleep(0.01)
        now -= 1
        return text

    results = run(run_many, Agent(ScriptedModel(respond), [shout]), [str(i) for i in range(30)],
                  concurrency=concurrency, progress=False)  # fmt: skip
    assert len(results) == 30 and all(r.error is None for r in results)
    assert peak == concurrency


def test_free_slots_are_filled_before_the_runs_take_the_loop():
    # On a busy event loop a feeder that yields per input starts one run per loop pass and the
    # slots stay mostly empty (the benchmark found it): every free slot is filled at once.
    read = 0
    read_at_first_call = []

    def inputs():
        nonlocal read
        for i in range(100):
            read += 1
            yield str(i)

    def script(messages):
        read_at_first_call.append(read)
        return respond(messages)

    run(run_many, Agent(ScriptedModel(script), [shout]), inputs(), concurrency=20, progress=False)
    assert read_at_first_call[0] == 20


def test_inputs_are_read_only_as_slots_free_up():
    read = 0

    def million():
        nonlocal read
        for i in range(1_000_000):
            read += 1
            yield str(i)

    finished = 0
    scopes = []

    def script(messages):
        nonlocal finished
        if messages[-1]["role"] == "tool":
            finished += 1
            if finished == 50:
                scopes[0].cancel()  # stop the batch after 50 runs: how many inputs did it read?
            return "ok"
        return respond(messages)

    agent = Agent(ScriptedModel(script), [shout])

    async def main():
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await run_many(agent, million(), concurrency=10, progress=False)

    anyio.run(main)
    assert 50 <= read <= 50 + 10 + 1


# --- the output file and resume ----------------------------------------------------------------


def test_each_finished_run_is_a_flushed_line_of_the_output_file(tmp_path):
    out = tmp_path / "runs.jsonl"
    written_before_third = []

    def script(messages):
        if messages[-1]["content"] == "third":
            written_before_third.extend(lines(out))
        return respond(messages)

    agent = Agent(ScriptedModel(script), [shout])
    run(run_many, agent, ["first", {"id": "b", "input": "fail"}, "third"], concurrency=1, output=out, progress=False)
    assert [line["id"] for line in written_before_third] == [0, "b"]
    first, failed, third = lines(out)
    assert set(first) == {"id", "output", "error", "usage", "turns", "seconds", "id_from_position", "input_sha256",
                          "pending"}
    assert (first["id_from_position"], failed["id_from_position"]) == (True, False)
    # the input and its own options as canonical JSON (sorted keys, no spaces), hashed
    assert first["input_sha256"] == hashlib.sha256(b'{"input":"first"}').hexdigest()
    assert failed["input_sha256"] == hashlib.sha256(b'{"input":"fail"}').hexdigest()
    assert first["output"] == "done: FIRST" and first["error"] is None and first["turns"] == 2
    assert set(first["usage"]) == {"prompt_tokens", "completion_tokens"} and first["usage"]["completion_tokens"] > 0
    assert failed["error"].startswith("ModelError: ") and failed["output"] is None
    assert third["id"] == 2


def test_a_typed_output_is_written_as_json(tmp_path):
    from pydantic import BaseModel

    class Answer(BaseModel):
        value: int

    agent = Agent(ScriptedModel(['{"value": 3}']), output_type=Answer, output_mode="json")
    out = tmp_path / "runs.jsonl"
    results = run(run_many, agent, ["q"], output=out, progress=False)
    assert results[0].output == Answer(value=3)
    assert lines(out)[0]["output"] == {"value": 3}


def test_an_existing_output_file_is_kept_unless_resuming(tmp_path):
    out = tmp_path / "runs.jsonl"
    out.write_text('{"id": 0, "output": "old"}\n')
    with pytest.raises(UserError) as caught:
        run(run_many, echo(), ["a"], output=out, progress=False)
    assert str(caught.value) == f"{out} already holds results: pass resume=True to go on with it, or remove it"
    assert out.read_text() == '{"id": 0, "output": "old"}\n'


def test_resume_skips_the_ids_in_the_file_and_drops_a_half_written_line(tmp_path):
    out = tmp_path / "runs.jsonl"
    out.write_text('{"id": 0, "output": "old 0", "error": null, "usage": {"prompt_tokens": 3, "completion_tokens": 4},'
                   ' "turns": 2, "seconds": 1.5}\n{"id": "b", "output": null, "error": "X: y"}\n{"id": 2, "outp')
    model = ScriptedModel(respond)
    agent = Agent(model, [shout])
    results = run(run_many, agent, ["a", {"id": "b", "input": "b"}, "c", "d"], output=out, resume=True,
                  progress=False)  # fmt: skip
    assert [r.output for r in results] == ["old 0", None, "done: C", "done: D"]
    assert results[0].usage.prompt_tokens == 3 and results[0].turns == 2 and results[0].seconds == 1.5
    assert results[1].error == "X: y" and results[1].id == "b"
    assert (results[1].turns, results[1].seconds, results[1].usage.total_tokens) == (0, 0.0, 0)
    assert results[0].usage.completion_tokens == 4 and results[0].id == 0
    assert [c.messages[0]["content"] for c in model.calls if len(c.messages) == 1] == ["c", "d"]
    ids = [line["id"] for line in lines(out)]
    assert ids == [0, "b", 2, 3]


def test_resume_knows_message_list_and_string_inputs_by_position_and_skips_blank_lines(tmp_path):
    out = tmp_path / "runs.jsonl"
    out.write_text('{"id": 0, "output": "old 0"}\n\n{"id": 1, "output": "old 1"}\n')
    inputs = ["a", [{"role": "user", "content": "b"}], [{"role": "user", "content": "c"}]]
    results = run(run_many, echo(), inputs, output=out, resume=True, progress=False)
    assert [(r.id, r.output) for r in results] == [(0, "old 0"), (1, "old 1"), (2, "done: C")]
    assert [json.loads(text)["id"] for text in out.read_text().splitlines() if text] == [0, 1, 2]


def test_the_output_line_keeps_unicode_and_fractions_of_seconds_and_any_output_as_text(tmp_path):
    from agentkit.batch._result import to_line

    out = tmp_path / "runs.jsonl"
    run(run_many, echo(), [{"input": "café", "deps": {"sleep": 0.05}}], output=out, progress=False)
    assert "CAFÉ" in out.read_text(encoding="utf-8")
    (line,) = lines(out)
    assert 0.05 <= line["seconds"] < 5 and line["seconds"] != round(line["seconds"])

    class Odd:
        def __str__(self) -> str:
            return "odd"

    assert to_line(BatchResult(id=1, output=Odd()))["output"] == "odd"


def test_resume_refuses_a_broken_line_inside_the_file(tmp_path):
    out = tmp_path / "runs.jsonl"
    text = '{"id": 0}\nnot json\n{"id": 2}\n'
    out.write_text(text)
    with pytest.raises(UserError, match="line 2: not a result line"):
        run(run_many, echo(), ["a"], output=out, resume=True, progress=False)
    out.write_text('{"id": 0}\n[1, 2]\n')
    with pytest.raises(UserError, match="line 2: not a result line \\(not an object with an 'id'\\)"):
        run(run_many, echo(), ["a"], output=out, resume=True, progress=False)
    assert out.read_text() == '{"id": 0}\n[1, 2]\n'
    out.write_text('{"id": 0}\n{"output": "no id"}\n')
    with pytest.raises(UserError, match="line 2: not a result line \\(not an object with an 'id'\\)"):
        run(run_many, echo(), ["a"], output=out, resume=True, progress=False)


CHILD = """
import sys, anyio
from agentkit.batch import run_many
from tests.batch_agents import echo
inputs = [{"id": f"q{i}", "input": f"question {i}", "deps": {"sleep": 0.05}} for i in range(200)]
anyio.run(lambda: run_many(echo(), inputs, concurrency=4, output=sys.argv[1], resume=True, progress=False))
"""


def test_a_killed_batch_resumes_and_writes_every_id_exactly_once(tmp_path):
    out = tmp_path / "runs.jsonl"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], env=ENV, cwd=ROOT)
    try:
        for _ in range(600):
            if out.exists() and out.read_text().count("\n") >= 20:
                break
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    before = lines(out)
    assert 20 <= len(before) < 200
    with out.open("a") as f:
        f.write('{"id": "q199", "output": "half wri')  # as if killed in the middle of a line
    resumed = subprocess.run([sys.executable, "-c", CHILD, str(out)], env=ENV, cwd=ROOT, timeout=120)
    assert resumed.returncode == 0
    after = lines(out)
    assert [line["id"] for line in after[: len(before)]] == [line["id"] for line in before]
    assert sorted(line["id"] for line in after) == sorted(f"q{i}" for i in range(200))
    assert all(line["error"] is None and line["output"].startswith("done: QUESTION") for line in after)


# --- the progress bar --------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("tty", "progress", "drawn"), [(True, True, True), (True, False, False), (False, True, False)])
def test_the_progress_bar_shows_only_on_a_terminal(monkeypatch, tty, progress, drawn):
    err = Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    run(run_many, echo(), ["a", "fail", "b"], progress=progress)
    text = err.getvalue()
    if drawn:
        assert "runs: 100%" in text and "3/3" in text and "run/s" in text
        assert "failed 1" in text and "running 0" in text and "tok/s" in text
    else:
        assert text == ""


def test_the_bar_counts_tokens_per_second_of_the_batch(monkeypatch):
    import re

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    start = time.perf_counter()
    results = run(run_many, echo(), ["a", "b", "c"])
    wall = time.perf_counter() - start
    tokens = sum(r.usage.total_tokens for r in results)
    # The bar's clock runs inside the batch, so its rate is at least the tokens over the whole call.
    shown = int(re.findall(r"(-?\d+) tok/s", err.getvalue())[-1])
    assert shown >= int(tokens / wall) > 0


def test_on_resume_the_bar_starts_at_the_runs_already_done(monkeypatch, tmp_path):
    out = tmp_path / "runs.jsonl"
    out.write_text('{"id": 0, "output": "old"}\n{"id": 1, "output": "old"}\n')
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    run(run_many, echo(), ["a", "b", "c"], output=out, resume=True)
    assert "2/3" in err.getvalue() and "3/3" in err.getvalue() and "4/3" not in err.getvalue()
    fresh = Terminal()
    monkeypatch.setattr(sys, "stderr", fresh)
    run(run_many, echo(), ["a", "b", "c"], output=tmp_path / "new.jsonl")
    assert " 0/3" in fresh.getvalue() and "3/3" in fresh.getvalue() and "4/3" not in fresh.getvalue()
    assert (tmp_path / "new.jsonl").stat().st_mode & 0o111 == 0  # a results file, not a program


# --- a real HTTP server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bench_server():
    from tools.bench import BenchServer

    with BenchServer() as server:  # the scripted OpenAI-compatible server, in its own process on 127.0.0.1
        yield server.url


def test_runs_against_a_real_openai_compatible_server(bench_server, tmp_path):
    from tools.bench import add

    agent = Agent(RemoteModel(bench_server, server="vllm", model="steps-3"), [tool(add)])
    out = tmp_path / "runs.jsonl"
    results = run(run_many, agent, [f"add {i}" for i in range(40)], concurrency=16, output=out, progress=False)
    assert [r.id for r in results] == list(range(40))
    assert all(r.error is None and r.output == "done" and r.turns == 4 for r in results)
    assert results[0].usage.prompt_tokens == 40 and results[0].usage.completion_tokens == 20
    assert sorted(line["id"] for line in lines(out)) == list(range(40))


# --- the command line --------------------------------------------------------------------------


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "agentkit", "batch", *map(str, args)],
                          env=ENV, cwd=cwd, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_cli_runs_a_file_of_inputs_and_resumes(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n\n[{"role": "user", "content": "two"}]\n{"id": "t", "input": "three"}\n')
    out = tmp_path / "out.jsonl"
    done = cli(inputs, "--agent", "tests.batch_agents:echo", "--output", out, "--concurrency", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"3 runs, 0 failed: {out}"
    assert {line["id"]: line["output"] for line in lines(out)} == {0: "done: ONE", 1: "done: TWO", "t": "done: THREE"}
    with inputs.open("a") as f:
        f.write('"fail"\n')
    again = cli(inputs, "--agent", "tests.batch_agents:echo", "--output", out, "--resume")
    assert again.returncode == 1
    assert again.stdout.strip() == f"4 runs (3 skipped: their results were in the file), 1 failed: {out}"
    assert [line["id"] for line in lines(out)] == [0, 1, "t", 3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agent", "tests.batch_agents:echo", "--concurrency", "0"], "--concurrency must be at least 1"),
        (["--agent", "tests.batch_agents:not_an_agent"], "returned a str, not an Agent"),
        (["--agent", "no_such_module:f"], "cannot import 'no_such_module'"),
    ],
)
def test_cli_mistakes_are_one_line_and_status_2(tmp_path, args, message):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n')
    done = cli(inputs, "--output", tmp_path / "out.jsonl", *args)
    assert done.returncode == 2
    assert done.stderr.startswith("agentkit batch: ") and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_a_missing_file_and_a_bad_line(tmp_path):
    done = cli(tmp_path / "none.jsonl", "--agent", "tests.batch_agents:echo", "--output", tmp_path / "o.jsonl")
    assert done.returncode == 2 and "no such file" in done.stderr
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n{oops\n"three"\n')
    out = tmp_path / "out.jsonl"
    done = cli(inputs, "--agent", "tests.batch_agents:echo", "--output", out)
    assert done.returncode == 2 and f"{inputs}, line 2: not JSON" in done.stderr
    assert [line["id"] for line in lines(out)] == [0]  # the run before the bad line is kept


def test_cli_in_process_reads_the_file_lazily_and_reports(tmp_path, capsys, monkeypatch):
    from agentkit.cli import main

    monkeypatch.chdir(ROOT)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n"fail"\n\n{"id": "t", "input": "three"}\n')
    out = tmp_path / "out.jsonl"
    status = main(["batch", str(inputs), "--agent", "tests.batch_agents:echo", "--output", str(out), "--concurrency", "1"])
    assert status == 1
    assert capsys.readouterr().out == f"3 runs, 1 failed: {out}\n"
    assert [(line["id"], line["output"]) for line in lines(out)] == [(0, "done: ONE"), (1, None), ("t", "done: THREE")]
    assert main(["batch", str(inputs), "--agent", "tests.batch_agents:echo", "--output", str(out)]) == 2
    assert "already holds results: pass --resume to go on with it" in capsys.readouterr().err
    assert main(["batch", str(inputs), "--agent", "tests.batch_agents:echo", "--output", str(out), "--resume"]) == 1
    assert len(lines(out)) == 3
    ok = tmp_path / "ok.jsonl"
    ok.write_text('"one"\n')
    assert main(["batch", str(ok), "--agent", "tests.batch_agents:echo", "--output", str(tmp_path / "o2.jsonl")]) == 0


def test_ray_backend_without_ray_says_how_to_install_it():
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "import anyio\n"
        "from agentkit.batch import run_many\n"
        "try:\n"
        "    anyio.run(lambda: run_many('tests.batch_agents:echo', ['a'], backend='ray'))\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "UserError backend='ray' needs Ray: pip install 'agentkit[ray]'"


def test_cli_in_process_mistakes(tmp_path, capsys, monkeypatch):
    from agentkit.cli import main

    monkeypatch.chdir(ROOT)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n{oops\n')
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(inputs), "--agent", "tests.batch_agents:echo", "--output", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"agentkit batch: {inputs}, line 2: not JSON (")
    assert [line["id"] for line in lines(out)] == [0]
    assert main(["batch", str(tmp_path / "none"), "--agent", "tests.batch_agents:echo", "--output", str(out)]) == 2
    assert capsys.readouterr().err == f"agentkit batch: no such file: {tmp_path / 'none'}\n"
    args = ["batch", str(inputs), "--agent", "tests.batch_agents:echo", "--output", str(out), "--concurrency", "0"]
    assert main(args) == 2
    assert capsys.readouterr().err == "agentkit batch: --concurrency must be at least 1, not 0\n"


# --- a journal that cannot be written, inputs that changed under their ids ----------------------


@pytest.fixture(params=["tmpfs", "dev-full"])
def small_disk(request, tmp_path):
    """A directory on a disk with room for a few kilobytes (a real tmpfs: needs root), or /dev/full."""
    if request.param == "dev-full":
        yield None
        return
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:  # fmt: skip
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


LONG = [{"id": f"q{i}", "input": f"{i}" + "x" * 1000} for i in range(7)]
"""Seven inputs whose result lines are about 1 kB each."""


def test_a_full_disk_loses_no_result_and_leaves_no_half_line(small_disk, tmp_path):
    from agentkit.batch import OutputFileError

    if small_disk is None:
        out = Path("/dev/full")
    else:
        (small_disk / "filler").write_bytes(b"f" * 8192)  # two of the three 4 kB pages: room for 3 lines
        out = small_disk / "runs.jsonl"
    with pytest.raises(OutputFileError) as caught:
        run(run_many, echo(), LONG, concurrency=7, output=out, progress=False)
    error = caught.value
    # every run finished and came back, in input order, though its line could not be written
    assert [(r.id, r.output) for r in error.results] == [(x["id"], "done: " + x["input"].upper()) for x in LONG]
    assert "No space left on device" in str(error) and str(out) in str(error)
    if small_disk is None:
        assert sorted(error.unwritten) == sorted(x["id"] for x in LONG)
        return
    written = lines(out)  # every line in the file is whole: each one parses
    assert 1 <= len(written) < 7 and out.read_bytes().endswith(b"\n")
    assert sorted([line["id"] for line in written] + error.unwritten) == sorted(x["id"] for x in LONG)
    assert f"{len(error.unwritten)} of 7 results" in str(error)
    # space comes back: a resume runs only the runs whose line is missing, and each id is in the file once
    (small_disk / "filler").unlink()
    ran = []

    def script(messages):
        if messages[-1]["role"] == "user":
            ran.append(messages[-1]["content"])
        return respond(messages)

    again = run(run_many, Agent(ScriptedModel(script), [shout]), LONG, output=out, resume=True, progress=False)
    assert [r.output for r in again] == [r.output for r in error.results]
    assert sorted(ran) == sorted(x["input"] for x in LONG if x["id"] in error.unwritten)
    assert sorted(line["id"] for line in lines(out)) == sorted(x["id"] for x in LONG)


def test_later_lines_are_written_after_one_fails(tmp_path, monkeypatch):
    # The disk is full for exactly one write (another process freed space): the lines after it are written.
    from agentkit.batch import OutputFileError, _journal

    real_write = os.write
    calls = []

    def write(fd, data):
        calls.append(data)
        if len(calls) == 2:
            real_write(fd, data[:10])  # a short write, then the disk is full
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(_journal.os, "write", write)
    out = tmp_path / "runs.jsonl"
    with pytest.raises(OutputFileError) as caught:
        run(run_many, echo(), ["a", "b", "c", "d"], concurrency=1, output=out, progress=False)
    assert caught.value.unwritten == [1]
    assert [line["id"] for line in lines(out)] == [0, 2, 3]


def test_the_error_names_the_unwritten_ids_in_input_order_and_chains_the_first_write_error():
    from agentkit.batch import OutputFileError

    ids = [f"id{(i * 5) % 11:02d}" for i in range(11)]  # not in sorted order
    with pytest.raises(OutputFileError) as caught:
        run(run_many, echo(), [{"id": id, "input": id} for id in ids], output="/dev/full", progress=False)
    assert caught.value.unwritten == ids
    shown = ", ".join(repr(id) for id in ids[:10])
    assert str(caught.value) == (
        f"/dev/full: 11 of 11 results could not be written (OSError: [Errno 28] No space left on device); ids {shown}"
        " and 1 more. Every result is in the error's .results; a resume runs these again"
    )
    cause = caught.value.__cause__
    assert isinstance(cause, OSError) and cause.errno == 28
    with pytest.raises(OutputFileError, match=rf"ids {re.escape(shown)}\. Every result"):  # ten: all named
        run(run_many, echo(), [{"id": id, "input": id} for id in ids[:10]], output="/dev/full", progress=False)


def test_a_bad_input_after_an_unwritten_line_raises_its_user_error_with_a_note():
    with pytest.raises(UserError, match="input 1 is a float") as caught:
        run(run_many, echo(), ["a", 3.5], concurrency=1, output="/dev/full", progress=False)
    assert caught.value.__notes__ == ["/dev/full: 1 of 1 results could not be written (OSError: [Errno 28] No space"
                                      " left on device); ids 0; a resume runs these again"]  # fmt: skip


def test_a_half_line_that_cannot_be_taken_back_stops_the_writing(tmp_path, monkeypatch):
    from agentkit.batch import OutputFileError, _journal

    real_write = os.write
    calls = []

    def write(fd, data):
        calls.append(data)
        if len(calls) == 2:
            real_write(fd, data[:10])
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    def ftruncate(fd, length):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_journal.os, "write", write)
    monkeypatch.setattr(_journal.os, "ftruncate", ftruncate)
    out = tmp_path / "runs.jsonl"
    with pytest.raises(OutputFileError) as caught:
        run(run_many, echo(), ["a", "b", "c", "d"], concurrency=1, output=out, progress=False)
    # after the fragment nothing more is written: a line after it would make the file unreadable
    assert caught.value.unwritten == [1, 2, 3] and len(calls) == 2
    assert "3 of 4 results could not be written (OSError: [Errno 28] No space left on device)" in str(caught.value)
    monkeypatch.undo()
    again = run(run_many, echo(), ["a", "b", "c", "d"], output=out, resume=True, progress=False)
    assert [r.output for r in again] == ["done: A", "done: B", "done: C", "done: D"]
    assert [line["id"] for line in lines(out)] == [0, 1, 2, 3]


def test_an_id_or_output_with_a_lone_surrogate_is_written_and_read_back(tmp_path):
    out = tmp_path / "runs.jsonl"
    inputs = [{"id": "bad\udc80id", "input": "a"}, "b\ud800c", "d"]
    results = run(run_many, echo(), inputs, concurrency=1, output=out, progress=False)
    assert [r.output for r in results] == ["done: A", "done: B\ud800C", "done: D"]
    assert [(line["id"], line["output"]) for line in lines(out)] == [(r.id, r.output) for r in results]
    again = run(run_many, echo(), inputs, output=out, resume=True, progress=False)
    assert [(r.id, r.output, r.messages) for r in again] == [(r.id, r.output, []) for r in results]


def test_cli_reports_a_full_disk_once(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n"two"\n')
    done = cli(inputs, "--agent", "tests.batch_agents:echo", "--output", "/dev/full")
    assert done.returncode == 1
    assert done.stdout.strip() == "2 runs, 0 failed: /dev/full"
    (problem,) = done.stderr.strip().splitlines()
    assert problem.startswith("agentkit batch: /dev/full: 2 of 2 results could not be written (OSError: [Errno 28]")


def test_resume_refuses_a_position_id_whose_input_changed(tmp_path):
    out = tmp_path / "runs.jsonl"
    run(run_many, echo(), ["a", "b"], output=out, progress=False)
    model = ScriptedModel(respond)
    with pytest.raises(UserError, match=r"id 0 .*different input") as caught:
        run(run_many, Agent(model, [shout]), ["new", "a", "b"], output=out, resume=True, progress=False)
    assert str(caught.value) == (
        f"input 0: {out} holds a result for id 0 of a different input (an id by position follows the order of"
        " the inputs: give each input an 'id'); write to a new output file, or remove that line to run the input again"
    )
    assert model.calls == []  # refused before any run
    assert [line["id"] for line in lines(out)] == [0, 1]


def test_resume_refuses_an_explicit_id_whose_input_or_deps_changed(tmp_path):
    out = tmp_path / "runs.jsonl"
    run(run_many, echo(), [{"id": "k", "input": "a", "deps": {"city": "Paris"}}], output=out, progress=False)
    with pytest.raises(UserError, match=r"id 'k' .*different input") as caught:
        run(run_many, echo(), [{"id": "k", "input": "a", "deps": {"city": "Rome"}}], output=out, resume=True,
            progress=False)  # fmt: skip
    assert str(caught.value) == (  # the hint on ids by position is not given
        f"input 0: {out} holds a result for id 'k' of a different input; write to a new output file, or remove"
        " that line to run the input again"
    )
    same = run(run_many, echo(), [{"id": "k", "input": "a", "deps": {"city": "Paris"}}], output=out, resume=True,
               progress=False)  # fmt: skip
    assert same[0].output == "done: A" and same[0].messages == []  # from the file


def test_deps_json_cannot_hold_still_get_a_line_that_resume_accepts(tmp_path):
    class Connection:  # its repr changes from one process to the next
        pass

    cycle: dict = {"sleep": 0}
    cycle["self"] = cycle
    inputs = [{"id": "c", "input": "a", "deps": cycle}, {"id": "o", "input": "b", "deps": {"db": Connection()}}]
    out = tmp_path / "runs.jsonl"
    run(run_many, echo(), inputs, output=out, progress=False)
    assert sorted(line["id"] for line in lines(out)) == ["c", "o"]
    inputs[1]["deps"] = {"db": Connection()}  # another object of the same type: the same input
    model = ScriptedModel(respond)
    again = run(run_many, Agent(model, [shout]), inputs, output=out, resume=True, progress=False)
    assert [r.output for r in again] == ["done: A", "done: B"] and model.calls == []


def test_a_second_batch_on_the_same_file_is_refused_while_the_first_writes(tmp_path):
    # Two batches resuming one file at once would both run the inputs missing from it.
    out = tmp_path / "runs.jsonl"
    started, errors = anyio.Event(), []
    second = ScriptedModel(respond)

    def script(messages):
        started.set()
        return respond(messages)

    inputs = [{"input": "a", "deps": {"sleep": 0.3}}]

    async def main():
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run_many(Agent(ScriptedModel(script), [shout]), inputs, output=out, progress=False))
            await started.wait()
            try:
                await run_many(Agent(second, [shout]), inputs, output=out, resume=True, progress=False)
            except UserError as e:
                errors.append(str(e))

    anyio.run(main)
    assert errors == [f"{out} is being written by another batch (in this process or another): wait for it to end,"
                      " or write to another file"] and second.calls == []  # fmt: skip
    assert [line["id"] for line in lines(out)] == [0]
    again = run(run_many, Agent(second, [shout]), inputs, output=out, resume=True, progress=False)  # the lock is gone
    assert again[0].output == "done: A" and second.calls == []


def test_only_a_regular_file_is_locked():
    from agentkit.batch._journal import Journal

    first, second = Journal("/dev/null", resume=False), Journal("/dev/null", resume=False)  # output thrown away, twice
    first.close()
    second.close()


def test_explicit_ids_and_position_ids_do_not_collide(tmp_path):
    out = tmp_path / "runs.jsonl"
    inputs = ["a", {"id": 0, "input": "b"}, {"id": 3, "input": "c"}, "d"]
    results = run(run_many, echo(), inputs, output=out, progress=False)
    assert [(r.id, r.output) for r in results] == [(0, "done: A"), (0, "done: B"), (3, "done: C"), (3, "done: D")]
    model = ScriptedModel(respond)
    again = run(run_many, Agent(model, [shout]), inputs, output=out, resume=True, progress=False)
    assert [(r.id, r.output) for r in again] == [(r.id, r.output) for r in results] and model.calls == []


# --- runs that stop for approval ---------------------------------------------------------------


def test_a_run_that_stops_for_approval_says_which_calls_wait_and_the_file_keeps_them(tmp_path):
    from tests.batch_agents import REFUNDED, refunds

    REFUNDED.clear()
    out = tmp_path / "runs.jsonl"
    agent = refunds()
    results = run(run_many, agent, ["hello", "refund A-17"], output=out, progress=False)
    assert results[0].pending == [] and results[0].output == "you said hello"
    waiting = results[1]
    assert waiting.error is None and waiting.output is None and REFUNDED == []
    [call] = waiting.pending
    assert (call.name, json.loads(call.arguments)) == ("refund", {"order": "A-17"})
    assert waiting.messages[-1]["tool_calls"][0]["id"] == call.id
    first, second = lines(out)
    assert first["pending"] == [] and "messages" not in first
    assert second["pending"] == [call.to_dict()] and second["messages"] == waiting.messages
    # Resume runs nothing again (tools may have run before the stop), but the waiting calls come back ...
    again = run(run_many, agent, ["hello", "refund A-17"], output=out, resume=True, progress=False)
    assert again[1].pending == [call] and again[1].messages == waiting.messages
    assert len(lines(out)) == 2 and REFUNDED == []
    # ... with the transcript to decide on them.
    decided = run(agent.run, again[1].messages, approvals={call.id: True})
    assert decided.output == "done: refunded A-17" and REFUNDED == ["A-17"]


def test_cli_counts_the_runs_waiting_for_approval_and_exits_1(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"hello"\n"refund B-2"\n')
    out = tmp_path / "out.jsonl"
    done = cli(inputs, "--agent", "tests.batch_agents:refunds", "--output", out)
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip() == f"2 runs, 0 failed, 1 waiting for approval: {out}"


# --- the command line, as a newcomer hits it (issue 29) ----------------------------------------


def one_line(done, *words):
    """A caller's mistake: status 2, one line on stderr naming `words`, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr[-2000:]
    assert done.stderr.startswith("agentkit batch: "), done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_cli_an_output_folder_that_does_not_exist(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n')
    missing = tmp_path / "no" / "such" / "dir" / "z.jsonl"
    done = cli(inputs, "--agent", "tests.batch_agents:echo", "--output", missing)
    one_line(done, f"--output {missing}: no such folder: {missing.parent}")


def test_cli_an_agent_spec_naming_a_tool(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n')
    done = cli(inputs, "--agent", "tests.batch_agents:shout", "--output", tmp_path / "out.jsonl")
    one_line(done, "'tests.batch_agents:shout' is a tool, not an Agent or a function that returns one")
    assert not (tmp_path / "out.jsonl").exists()


def test_cli_an_agent_spec_naming_a_function_that_needs_arguments(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n')
    done = cli(inputs, "--agent", "tests.batch_agents:respond", "--output", tmp_path / "out.jsonl")
    one_line(done, "'tests.batch_agents:respond' needs arguments", "called with none")


def test_cli_an_agent_spec_naming_an_agent_runs_that_agent(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n"two"\n')
    out = tmp_path / "out.jsonl"
    done = cli(inputs, "--agent", "tests.batch_agents:ECHO", "--output", out)
    assert done.returncode == 0, done.stderr
    assert [line["output"] for line in lines(out)] == ["done: ONE", "done: TWO"]


def test_cli_output_that_holds_results_says_to_pass_the_option_not_the_keyword(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n')
    out = tmp_path / "out.jsonl"
    assert cli(inputs, "--agent", "tests.batch_agents:echo", "--output", out).returncode == 0
    done = cli(inputs, "--agent", "tests.batch_agents:echo", "--output", out)
    one_line(done, f"{out} already holds results: pass --resume to go on with it, or remove it")
    assert "resume=True" not in done.stderr


def test_cli_the_summary_counts_the_runs_a_resume_skipped(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n"two"\n')
    out = tmp_path / "out.jsonl"
    assert cli(inputs, "--agent", "tests.batch_agents:echo", "--output", out).returncode == 0
    with inputs.open("a") as f:
        f.write('"three"\n')
    done = cli(inputs, "--agent", "tests.batch_agents:echo", "--output", out, "--resume")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"3 runs (2 skipped: their results were in the file), 0 failed: {out}"


def test_run_many_marks_the_results_a_resume_read_back(tmp_path):
    out = tmp_path / "out.jsonl"
    first = run(run_many, echo(), ["a"], output=out, progress=False)
    assert [r.skipped for r in first] == [False]
    again = run(run_many, echo(), ["a", "b"], output=out, resume=True, progress=False)
    assert [(r.output, r.skipped) for r in again] == [("done: A", True), ("done: B", False)]


def test_cli_ray_without_a_cluster_where_RAY_ADDRESS_says_auto(tmp_path):
    pytest.importorskip("ray")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n')
    done = subprocess.run([sys.executable, "-m", "agentkit", "batch", str(inputs), "--agent", "tests.batch_agents:echo",
                           "--output", str(tmp_path / "out.jsonl"), "--ray"],
                          env={**ENV, "RAY_ADDRESS": "auto"}, cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    one_line(done, "cannot join the Ray cluster (RAY_ADDRESS): Could not find any running Ray instance")


def test_cli_an_output_that_is_a_folder(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('"one"\n')
    one_line(cli(inputs, "--agent", "tests.batch_agents:echo", "--output", tmp_path), f"--output {tmp_path}: Is a directory")
