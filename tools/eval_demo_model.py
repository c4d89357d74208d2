"""Score the weather demo model on held-out conversations, per case kind, thinking off and on.

    python tools/eval_demo_model.py                        # the committed model, both sets
    python tools/eval_demo_model.py --model /tmp/ckpt --json /tmp/ckpt/eval2.json

Two sets: "generator" (held-out conversations of tools/_weather_dialogs.py: held-out cities and
random names, never trained on, but the generator's own phrasings) and "independent"
(tests/data/weather_independent.jsonl: questions written by hand, in phrasings the generators
never produce). Every case runs twice, thinking off and on, greedily through agentkit's parser,
turn by turn with the model's own earlier turns (a wrong turn fails the case), each model call
within the example's token budget (DEMO_MAX_TOKENS).

A case is one JSON object: ``{"id", "kinds": [...], "system": true, "turns": [...]}``; a turn is
``{"user": text, "calls": [[name, args], ...]}`` (the calls in any order; an argument may be a
list of accepted values; a missing "unit" means celsius) or ``{"user": text, "reply": r}`` where
r is "ask" (no call, a question back), "refuse" (no call) or the exact reply. A turn with calls
is right when the calls match, and the answer after the results calls nothing and quotes every
temperature and every place called.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools._weather_data import TOOLS  # noqa: E402
from tools._weather_dialogs import dialog, labels  # noqa: E402

INDEPENDENT = ROOT / "tests" / "data" / "weather_independent.jsonl"


def generator_cases(n: int, seed: int = 29) -> list[dict]:
    """`n` held-out conversations of the second generator, as cases."""
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        messages, facts = dialog(rng, system=i % 4 < 2, heldout=True)
        users = [m["content"] for m in messages if m["role"] == "user"]
        turns = [
            {"user": u, "calls": [[name, args] for name, args in t["calls"]]} if t["calls"] else {"user": u, "reply": t["answer"]}
            for u, t in zip(users, facts["turns"], strict=True)
        ]  # fmt: skip
        cases.append({"id": f"gen-{i}", "kinds": labels(messages, facts), "system": i % 4 < 2, "turns": turns})
    return cases


def independent_cases(path: Path = INDEPENDENT) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _same(expected: list, got: list[tuple[str, dict]]) -> bool:
    def norm(args: dict) -> dict:
        return {"unit": "celsius", **args}

    def match(want: tuple[str, dict], have: tuple[str, dict]) -> bool:
        (wn, wa), (hn, ha) = want, have
        wa, ha = norm(wa), norm(ha)
        return (
            wn == hn
            and wa.keys() == ha.keys()
            and all(ha[k] in (v if isinstance(v, list) else [v]) for k, v in wa.items())
        )

    left = [tuple(c) for c in expected]
    for call in got:
        hit = next((i for i, want in enumerate(left) if match(want, call)), None)  # type: ignore[arg-type]
        if hit is None:
            return False
        left.pop(hit)
    return not left


class Run:
    """One case with thinking on or off, stepped one model call at a time."""

    def __init__(self, case: dict, thinking: bool):
        from tools._weather_data import SYSTEM

        self.case, self.thinking = case, thinking
        self.messages: list[dict] = [{"role": "system", "content": SYSTEM}] if case.get("system", True) else []
        self.turn, self.waiting_answer, self.temps, self.places = 0, False, [], []
        self.ok: bool | None = None
        self.log: list[str] = []
        self.messages.append({"role": "user", "content": case["turns"][0]["user"]})

    def step(self, text: str) -> None:
        from agentkit import Completion, Usage
        from agentkit.formats import get_format

        parsed = get_format("intern-s1").parse(text, in_reasoning=self.thinking)
        self.log.append(text)
        want = self.case["turns"][self.turn]
        got = [(c.name, json.loads(c.arguments)) for c in parsed.tool_calls] if not parsed.errors else None
        message = Completion.from_output(parsed, usage=Usage()).message
        if self.waiting_answer:
            content = parsed.content
            good = got == [] and all(str(t) in content for t in self.temps) and all(p in content for p in self.places)
            self.messages.append(message)
            return self._next(good)
        if "reply" in want:
            content = parsed.content.strip()
            reply = want["reply"]
            good = got == [] and bool(content)
            if reply == "ask":
                good = good and content[-1] in "?？"
            elif reply != "refuse":
                good = good and content == reply
            self.messages.append(message)
            return self._next(good)
        if got is None or not got or not _same(want["calls"], got):
            self.ok = False
            return None
        rng = random.Random(f"{self.case['id']}/{self.turn}")
        self.temps = [round(rng.uniform(-20, 40), 1) for _ in got]
        self.places = [args["location"] for _, args in got]
        self.messages.append(message)
        for call, (name, args), t in zip(parsed.tool_calls, got, self.temps, strict=True):
            result = {"temperature": t, **args, "unit": args.get("unit", "celsius")}
            self.messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call.id,
                    "name": name,
                    "content": json.dumps(result, ensure_ascii=False),
                }
            )
        self.waiting_answer = True
        return None

    def _next(self, good: bool) -> None:
        if not good:
            self.ok = False
            return
        self.turn += 1
        self.waiting_answer = False
        if self.turn == len(self.case["turns"]):
            self.ok = True
            return
        self.messages.append({"role": "user", "content": self.case["turns"][self.turn]["user"]})


def run_all(model, tokenizer, cases: list[dict]) -> list[Run]:
    from agentkit._local import DEMO_MAX_TOKENS
    from tools.build_demo_model import generate

    runs = [Run(c, thinking) for c in cases for thinking in (False, True)]
    while pending := [r for r in runs if r.ok is None]:
        prompts = [
            tokenizer.apply_chat_template(r.messages, tools=TOOLS, add_generation_prompt=True, tokenize=False,
                                          enable_thinking=r.thinking)
            for r in pending
        ]  # fmt: skip
        order = sorted(range(len(pending)), key=lambda i: len(prompts[i]))  # similar lengths pad less
        texts = generate(model, tokenizer, [prompts[i] for i in order], DEMO_MAX_TOKENS)
        for i, text in zip(order, texts, strict=True):
            pending[i].step(text)
    return runs


def table(runs: list[Run]) -> dict[str, dict[str, list[int]]]:
    """Per kind: [correct, n] thinking off and on."""
    out: dict[str, dict[str, list[int]]] = {}
    for r in runs:
        for kind in ("all", *r.case["kinds"]):
            cell = out.setdefault(kind, {"off": [0, 0], "on": [0, 0]})["on" if r.thinking else "off"]
            cell[0] += bool(r.ok)
            cell[1] += 1
    return out


def markdown(name: str, t: dict[str, dict[str, list[int]]]) -> str:
    def pct(c: list[int]) -> str:
        return f"{100 * c[0] / c[1]:.1f} % ({c[0]}/{c[1]})" if c[1] else "-"

    rows = [f"| {name}: case kind | thinking off | thinking on |", "|---|---|---|"]
    rows += [
        f"| {k} | {pct(v['off'])} | {pct(v['on'])} |"
        for k, v in sorted(t.items(), key=lambda kv: (kv[0] != "all", kv[0]))
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "agentkit" / "_demo")
    parser.add_argument("--generator", type=int, default=200, help="held-out generator cases (0: none)")
    parser.add_argument("--independent", type=Path, default=INDEPENDENT, help="hand-written cases (JSONL)")
    parser.add_argument("--sets", default="generator,independent", help="which sets to score")
    parser.add_argument("--json", type=Path, help="write the tables here")
    parser.add_argument("--failures", type=Path, help="write each failed run's conversation here")
    # One thread: two spin-wait on a busy 2-core machine (measured: 12 CPU-minutes against 2 for one set).
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(args.threads)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    sets = {
        "generator": generator_cases(args.generator) if args.generator else [],
        "independent": independent_cases(args.independent),
    }
    results, failures = {}, []
    for name, cases in sets.items():
        if not cases or name not in args.sets.split(","):
            continue
        runs = run_all(model, tokenizer, cases)
        results[name] = table(runs)
        print(markdown(name, results[name]), flush=True)
        failures += [{"set": name, "id": r.case["id"], "thinking": r.thinking, "turns": r.case["turns"], "outputs": r.log}
                     for r in runs if not r.ok]  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    if args.failures:
        args.failures.write_text("".join(json.dumps(f, ensure_ascii=False) + "\n" for f in failures))


if __name__ == "__main__":
    main()
