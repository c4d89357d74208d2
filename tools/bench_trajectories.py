"""What ``record=True`` costs per run, on the demo model (the weather bot, greedy).

    python tools/bench_trajectories.py            # 12 runs of each kind per path
    python tools/bench_trajectories.py --runs 2 --quick   # the test suite's smoke run

For each generation path (batched, the default, and one at a time, ``batching=False``) the
same question is run with and without ``record=True``, alternating (plain, recorded, plain, ...)
so that a slow spell of the shared machine hits both kinds alike; the table gives the median
seconds per run of each and their ratio. Every recorded run's transcript is compared with the
plain runs' (tool-call ids aside): recording must change nothing. Then one recorded run side by
side with the tokens it recorded, and the largest gap between its logprobs and a teacher-forced
forward pass over the whole sequence. torch runs on 2 threads.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTION = "Today is 2024-11-14, What's the temperature in San Francisco now? How about tomorrow?"


def digest(messages: list[dict]) -> str:
    """A transcript without its tool-call ids (random per run)."""
    clean = []
    for m in messages:
        m = {k: v for k, v in m.items() if k != "tool_call_id"}
        if m.get("tool_calls"):
            m["tool_calls"] = [c["function"] for c in m["tool_calls"]]
        clean.append(m)
    return json.dumps(clean, sort_keys=True)


def teacher_forced_gap(model, trajectory) -> float:
    import torch

    ids = torch.tensor([trajectory.prompt_ids + trajectory.response_ids])
    with torch.inference_mode():
        logprobs = torch.log_softmax(model.model(input_ids=ids).logits[0].float(), dim=-1)
    start = len(trajectory.prompt_ids)
    pairs = zip(trajectory.response_ids, trajectory.response_mask, trajectory.response_logprobs, strict=True)
    return max(abs(logprobs[start + j - 1, t].item() - p) for j, (t, m, p) in enumerate(pairs) if m)


def measure(batching: bool, runs: int) -> dict:
    from agentkit import Agent, LocalModel
    from agentkit._demo.weather import SYSTEM, TOOLS

    model = LocalModel.demo(batching=batching)
    agent = Agent(model, TOOLS, system=SYSTEM)
    agent.run_sync(QUESTION)  # warm-up (first calls pay torch's start-up)
    agent.run_sync(QUESTION, record=True)
    times: dict[bool, list[float]] = {False: [], True: []}
    digests: dict[bool, set[str]] = {False: set(), True: set()}
    last = None
    for _ in range(runs):
        for record in (False, True):
            start = time.perf_counter()
            result = agent.run_sync(QUESTION, record=record)
            times[record].append(time.perf_counter() - start)
            digests[record].add(digest(result.messages))
            if record:
                last = result
    assert last is not None and last.trajectory is not None
    return {
        "plain": statistics.median(times[False]),
        "record": statistics.median(times[True]),
        "same": digests[False] == digests[True] and len(digests[False]) == 1,
        "result": last,
        "gap": teacher_forced_gap(model, last.trajectory),
        "model": model,
    }


def parts(result, model, repeat: int) -> list[str]:
    """What recording adds to one model call, timed alone (medians of `repeat`): the prompt of
    the run's second call rendered whole (a plain run) against its new messages rendered after
    the stand-in (a recorded run), and one generated token's logprob from its logits."""
    import torch

    from agentkit._demo.weather import TOOLS
    from agentkit._tokens import TokenRequest

    t = result.trajectory
    first = next(i for i, m in enumerate(result.messages) if m["role"] == "assistant")
    sent = result.messages[: first + 1 + sum(1 for m in result.messages[first + 1 :] if m["role"] == "tool")]
    end = t.turn_starts[0]
    while t.response_mask[end]:  # the first call's generated tokens: what the second call continues
        end += 1
    record = TokenRequest(ids=t.prompt_ids + t.response_ids[:end], seen=first + 1)

    def median(work) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    fed = model._render(sent, TOOLS, None, None, record)[0]["input_ids"][0].tolist()
    assert fed == t.prompt_ids + t.response_ids[: t.turn_starts[1]]  # what the recorded run's second call was fed
    whole = median(lambda: model._render(sent, TOOLS, None, None))
    continued = median(lambda: model._render(sent, TOOLS, None, None, record))
    logits = torch.randn(model.model.config.vocab_size)
    from agentkit._continued import logprob_of

    one = median(lambda: logprob_of(logits, 7))
    return [
        f"| part (median of {repeat}) | ms |",
        "|---|---|",
        f"| the second call's prompt, rendered whole (plain run) | {whole:.2f} |",
        f"| its new messages rendered after the stand-in (recorded run) | {continued:.2f} |",
        f"| one token's logprob from its logits (vocabulary {logits.numel()}) | {one:.3f} |",
    ]


def side_by_side(result, model) -> str:
    t = result.trajectory
    lines = ["| call | finish | fed (mask 0) | generated (mask 1) | generated text |", "|---|---|---|---|---|"]
    fed_start = 0
    for i, start in enumerate(t.turn_starts):
        end = start
        while end < len(t.response_mask) and t.response_mask[end]:
            end += 1
        fed = len(t.prompt_ids) if i == 0 else start - fed_start
        text = model._decode(t.response_ids[start:end]).replace("\n", "\\n").replace("|", "\\|")
        lines.append(f"| {i} | {t.finish_reasons[i]} | {fed} | {end - start} | `{text[:90]}` |")
        fed_start = end
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=12, help="runs of each kind per path")
    parser.add_argument("--quick", action="store_true", help="the one-at-a-time path only")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    paths = ([] if args.quick else [("batched (default)", True)]) + [("one at a time", False)]
    rows = [
        f"Recording overhead: the demo model, {args.runs} runs of each kind per path, alternating "
        f"({platform.machine()}, torch {torch.__version__}, 2 threads).",
        "",
        "| path | plain run (median s) | record=True (median s) | overhead | same transcripts |",
        "|---|---|---|---|---|",
    ]
    shown = None
    for name, batching in paths:
        m = measure(batching, args.runs)
        overhead = (m["record"] / m["plain"] - 1) * 100
        rows.append(f"| {name} | {m['plain']:.3f} | {m['record']:.3f} | {overhead:+.1f} % | {m['same']} |")
        shown = shown or m
    assert shown is not None
    t = shown["result"].trajectory
    rows += [
        "",
        f"One recorded run: {len(t.prompt_ids)} prompt tokens, {len(t.response_ids)} response tokens "
        f"({sum(t.response_mask)} generated = usage.completion_tokens {shown['result'].usage.completion_tokens}); "
        f"largest |recorded - teacher-forced| logprob: {shown['gap']:.2e}.",
        "",
        side_by_side(shown["result"], shown["model"]),
        "",
        *parts(shown["result"], shown["model"], 50 if args.quick else 200),
    ]
    text = "\n".join(rows)
    print(text)
    return text


if __name__ == "__main__":
    main()
