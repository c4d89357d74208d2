"""Build the router demo model: a tiny Intern-S1-format model that hands a question to one of two agents.

    python tools/build_router_model.py                     # train 5 min, write agentkit/_demo/router/
    python tools/build_router_model.py --minutes 1 --out /tmp/router

The router is offered two tools, ``transfer_to_weather`` and ``transfer_to_general`` (the
descriptions in agentkit/_demo/routing.py), after the system prompt ``ROUTER_SYSTEM``. It is
trained from scratch, on 1 CPU thread, on generated questions, each answered by exactly one
transfer call: temperature questions (the weather demo's phrasings, tools/build_demo_model.py,
and a few more) go to ``weather``, anything else (the demo's off-topic phrasings, empty
messages) to ``general``. It reuses the weather demo model's tokenizer and chat template, so a
call is written exactly as the demo model writes one. The loss covers the reply only.

Held out from training, and scored greedily at the end: real cities never trained on, random
names, and question phrasings (weather and other) never trained on.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agentkit._demo.routing import GENERAL_DESCRIPTION, ROUTER_SYSTEM, WEATHER_DESCRIPTION  # noqa: E402
from agentkit._handoffs import TransferTool  # noqa: E402
from tools._weather_data import (  # noqa: E402
    _WORDS,
    BOTH_Q,
    DATE_Q,
    HELDOUT_CITIES,
    HELDOUT_OFF_TOPIC_Q,
    NO_PLACE_Q,
    NOW_Q,
    TOMORROW_Q,
    UNIT_SUFFIX,
    off_topic_question,
    pick_city,
    random_city,
    random_date,
)
from tools.build_demo_model import generate, save  # noqa: E402

TARGETS = {"weather": WEATHER_DESCRIPTION, "general": GENERAL_DESCRIPTION}
TOOLS = [TransferTool(SimpleNamespace(name=n, description=d)).schema for n, d in TARGETS.items()]
"""What an `Agent` with ``handoffs=[weather, general]`` offers (built by agentkit itself)."""

# More ways to ask about the temperature than the weather demo was trained on.
MORE_WEATHER_Q = ["Is it hot in {c} today?", "How cold is it in {c}?", "How many degrees is it in {c}?",
                  "What's the weather like in {c}?", "Do I need a coat in {c} on {d}?",
                  "Will it be warm in {c} on {d}?", "Today is {t}. Will it be cold in {c} tomorrow?",
                  "{c} temperature please", "How hot will it get in {c} tomorrow? Today is {t}."]  # fmt: skip
# Other questions that look like those: a city, a date, "tomorrow", a trip. Only what is asked
# tells them apart.
MORE_GENERAL_Q = ["What should I pack for {c}?", "What day of the week was {d}?", "Is {d} a holiday in {c}?",
                  "How long is the flight from {c} to {c2}?", "Today is {t}. Remind me to call {X} tomorrow.",
                  "What is the time difference between {c} and {c2}?", "Could you recommend a hotel in {c}?",
                  "Please summarise the history of {c}.", "What's a good name for a dog?", "Sing me a song about {w}.",
                  "Today is {t}. What should I do tomorrow?", "How heavy is {w}?"]  # fmt: skip
# Questions put together from a framing, shared by both kinds, and what is asked.
OPENERS = ["", "", "", "Hi! ", "Hello. ", "Quick question: ", "Sorry to bother you. ", "I'm planning a trip. ",
           "I'm in {c} this week. ", "Today is {t}. ", "I'm travelling on {d}. ", "One more thing: "]  # fmt: skip
ASK = ["Tell me {q}.", "Please tell me {q}.", "Do you know {q}?", "I'd like to know {q}.", "Can you find out {q}?"]
WEATHER_CLAUSES = ["the temperature in {c}", "how hot it is in {c}", "how cold it will be in {c} on {d}",
                   "how many degrees it is in {c} now", "the temperature in {c} tomorrow", "whether it is warm in {c}",
                   "if it will be chilly in {c} on {d}", "the weather in {c} today"]  # fmt: skip
GENERAL_CLAUSES = ["who wrote {T}", "how far {c} is from {c2}", "what time it is in {c}", "how to cook {w}",
                   "the capital of {X}", "what {w} means", "the best hotel in {c}", "what day of the week {d} is",
                   "the time difference between {c} and {c2}", "who painted {T}", "a fun fact about {w}",
                   "how old someone born on {d} is", "the population of {X}", "the way to {c} station"]  # fmt: skip
# Held out: never trained on. Set 1 was written before the first training run; set 2 after it
# (the first model, trained on the fixed phrasings alone, routed 72 % of set 1's weather
# questions right), before training on the framings above.
HELDOUT_WEATHER_Q = ["Could you tell me how warm it is in {c}?", "I'm going to {c} on {d}. How cold will it be?",
                     "What is the temperature like in {c} right now?", "Is {c} hot or cold at the moment?",
                     "Today is {t}. Tomorrow in {c}: how many degrees?", "Current temperature, {c}?",
                     "Please check the temperature in {c} for {d}.", "Is it freezing in {c} now?"]  # fmt: skip
HELDOUT2_WEATHER_Q = ["Any idea how hot {c} is today?", "Temperature check for {c}, please.",
                      "How chilly does {c} get on {d}?", "Will {c} be warm or cold tomorrow? Today is {t}.",
                      "My friend lives in {c}. What's the temperature there now?",
                      "What temperature is it over in {c}?",
                      "Degrees in {c} right now?", "Hey, how cold was it in {c} on {d}?"]  # fmt: skip
HELDOUT2_GENERAL_Q = ["Any idea who built the oldest bridge in {c}?", "My friend lives in {c}. What should I buy her?",
                      "What is {n} divided by {m}?", "Today is {t}. Is tomorrow a weekday?", "Where can I park in {c}?",
                      "Name three facts about {w}.", "What rhymes with {w}?",
                      "I'm going to {c} on {d}. Which museums are open?"]  # fmt: skip
HELDOUT_SETS = {"set 1": HELDOUT_WEATHER_Q, "set 2": HELDOUT2_WEATHER_Q}  # set 1's other questions: the demo's
KINDS = {"weather": 5, "no place": 1, "general": 5, "empty": 0.3}


def fill(rng: random.Random, template: str, city: str) -> str:
    return template.format(c=city, c2=pick_city(rng), d=random_date(rng).isoformat(), t=random_date(rng).isoformat(),
                           T=random_city(rng), X=random_city(rng).split()[0], w=rng.choice(_WORDS),
                           n=rng.randint(2, 999), m=rng.randint(2, 99))  # fmt: skip


def trained_template(rng: random.Random, kind: str) -> str | None:
    """A training phrasing of `kind` (None: the weather demo's own off-topic phrasings)."""
    roll = rng.random()
    if kind == "general" and roll < 0.4:
        return None
    if roll < 0.7:
        fixed = NOW_Q + DATE_Q + TOMORROW_Q + BOTH_Q + MORE_WEATHER_Q if kind == "weather" else MORE_GENERAL_Q
        body = rng.choice(fixed)
    else:
        body = rng.choice(ASK).replace("{q}", rng.choice(WEATHER_CLAUSES if kind == "weather" else GENERAL_CLAUSES))
    opener = rng.choice(OPENERS) if rng.random() < 0.4 and "{t}" not in body else ""
    template = opener + body
    assert template not in HELDOUT_WEATHER_Q + HELDOUT2_WEATHER_Q + HELDOUT2_GENERAL_Q + HELDOUT_OFF_TOPIC_Q
    return template


def question(rng: random.Random, kind: str, heldout: str | None = None) -> str:
    """A question of `kind`; with `heldout` ("set 1", "set 2"), in phrasings and with cities never trained on."""
    city = rng.choice(HELDOUT_CITIES) if heldout and rng.random() < 0.5 else random_city(rng) if heldout else None
    city = city or pick_city(rng)
    if kind == "weather":
        template = rng.choice(HELDOUT_SETS[heldout]) if heldout else trained_template(rng, kind)
        text = fill(rng, template or "", city)
        return text + rng.choice(UNIT_SUFFIX) if rng.random() < 0.1 else text
    if kind == "no place":
        return rng.choice(NO_PLACE_Q).format(t=random_date(rng).isoformat(), d=random_date(rng).isoformat())
    if kind == "general":
        if heldout == "set 1":
            return off_topic_question(rng, heldout=True)
        template = rng.choice(HELDOUT2_GENERAL_Q) if heldout else trained_template(rng, kind)
        return fill(rng, template, city) if template else off_topic_question(rng)
    return rng.choice(["", " ", "\n"])


def target(kind: str) -> str:
    return "weather" if kind in ("weather", "no place") else "general"


def messages_for(text: str, answer: str | None = None) -> list[dict]:
    messages = [{"role": "system", "content": ROUTER_SYSTEM}, {"role": "user", "content": text}]
    if answer is not None:
        call = {"id": "call_0", "type": "function", "function": {"name": "transfer_to_" + answer, "arguments": "{}"}}
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
    return messages


def render(tokenizer, messages: list[dict], prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tools=TOOLS, tokenize=False, add_generation_prompt=prompt,
                                         enable_thinking=False)  # fmt: skip


def build_model(vocab_size: int, hidden: int):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, head_dim=hidden // 2, max_position_embeddings=1024,
        tie_word_embeddings=True, rope_theta=10000.0,
    )  # fmt: skip
    return Qwen3ForCausalLM(config)


def train(model, tokenizer, rng: random.Random, minutes: float, batch: int = 32, lr: float = 3e-3) -> int:
    import torch

    pad = tokenizer.pad_token_id
    text = render(tokenizer, messages_for("x"), True)
    header = tokenizer.encode(text[: text.index("<|im_start|>user")], add_special_tokens=False)
    header_t = torch.tensor([header])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    start = time.monotonic()
    deadline, step = start + minutes * 60, 0
    model.train()
    while time.monotonic() < deadline:
        rows = []
        for _ in range(batch):
            kind = rng.choices(list(KINDS), list(KINDS.values()))[0]
            text = question(rng, kind)
            prompt = render(tokenizer, messages_for(text), True)
            full = render(tokenizer, messages_for(text, target(kind)), False)
            context = tokenizer.encode(prompt, add_special_tokens=False)
            reply = tokenizer.encode(full[len(prompt) :], add_special_tokens=False)
            assert context[: len(header)] == header
            rows.append((context[len(header) :] + reply, [-100] * (len(context) - len(header)) + reply))
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((batch, width), pad, dtype=torch.long)
        labels = torch.full((batch, width), -100, dtype=torch.long)
        attention = torch.zeros((batch, len(header) + width), dtype=torch.long)
        attention[:, : len(header)] = 1
        for r, (ids, lab) in enumerate(rows):
            input_ids[r, : len(ids)], labels[r, : len(ids)] = torch.tensor(ids), torch.tensor(lab)
            attention[r, len(header) : len(header) + len(ids)] = 1
        progress = (time.monotonic() - start) / (deadline - start)
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 30) * max(0.05, 1 - progress)
        # The system and tools turns are the same in every conversation and carry no loss: their
        # cache is computed once a step, without gradients, as inference computes it.
        with torch.no_grad():
            cache = model(input_ids=header_t, use_cache=True).past_key_values
        cache.batch_repeat_interleave(batch)
        loss = model(input_ids=input_ids, attention_mask=attention, past_key_values=cache, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if step % 50 == 0:
            print(f"step {step}  loss {loss.item():.4f}  {time.monotonic() - start:.0f}s", flush=True)
    model.eval()
    return step


def eval_cases(rng: random.Random, n: int) -> list[tuple[dict, str, str]]:
    """`n` held-out cases: (labels, question, the agent it belongs to). Every city is unseen; a
    third of the questions of each kind use trained phrasings, the rest held-out sets 1 and 2."""
    mix = ["weather"] * 5 + ["general"] * 4 + ["no place"]
    cases = []
    for i in range(n):
        kind = mix[i % len(mix)]
        heldout = [None, "set 1", "set 2"][i // len(mix) % 3] if kind != "no place" else "set 1"
        text = question(rng, kind, heldout=heldout) if heldout else question_unseen_city(rng, kind)
        if kind == "no place":
            phrasing = "temperature, no city"
        else:
            phrasing = f"{kind}, {'held-out phrasing, ' + heldout if heldout else 'trained phrasing'}"
        cases.append(({"kind": kind, "phrasing": phrasing}, text, target(kind)))
    return cases


def question_unseen_city(rng: random.Random, kind: str) -> str:
    """A question in a trained phrasing about a city never trained on (a held-out or random one)."""
    for _ in range(100):
        city = rng.choice(HELDOUT_CITIES) if rng.random() < 0.5 else random_city(rng)
        template = trained_template(rng, kind)
        if template and "{c}" in template:
            return fill(rng, template, city)
    raise AssertionError("no trained phrasing names a city")


def routes(model, tokenizer, questions: list[str]) -> list[str]:
    """What the model does with each question: the transfer it calls, or a note of anything else."""
    from agentkit.formats import get_format

    fmt = get_format("intern-s1")
    out = []
    for text in generate(model, tokenizer, [render(tokenizer, messages_for(q), True) for q in questions], 48):
        parsed = fmt.parse(text)
        names = [c.name for c in parsed.tool_calls]
        ok = len(names) == 1 and not parsed.errors and names[0].startswith("transfer_to_")
        out.append(names[0][len("transfer_to_") :] if ok else f"other: {text!r}")
    return out


def evaluate(path: Path, seed: int, n: int) -> dict[str, object]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    cases = eval_cases(random.Random(seed), n)
    got = routes(model, tokenizer, [q for _, q, _ in cases])
    groups: dict[str, list[int]] = {}
    for (labels, text, want), have in zip(cases, got, strict=True):
        if have != want:
            print(f"FAIL {list(labels.values())}: {text!r} -> {have} (want {want})")
        for name in ("all", *labels.values()):
            groups.setdefault(name, []).append(int(have == want))
    table = {k: {"n": len(v), "correct": sum(v), "accuracy": round(sum(v) / len(v), 4)} for k, v in groups.items()}
    probes = [
        "",
        "What's the temperature in Oslo now, and who wrote Hamlet?",
        "Who wrote Hamlet, and how warm is Oslo?",
    ]
    return {"accuracy": table["all"]["accuracy"], "questions": n, "cases": table,
            "probes": dict(zip(probes, routes(model, tokenizer, probes), strict=True))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="training time budget")
    parser.add_argument("--out", type=Path, default=ROOT / "agentkit" / "_demo" / "router")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=96)
    parser.add_argument("--eval", type=int, default=300, help="held-out questions to score (0: none)")
    parser.add_argument("--eval-only", action="store_true", help="only score the model at --out")
    args = parser.parse_args()
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(1)  # the machine is shared
    if not args.eval_only:
        torch.manual_seed(args.seed)
        tokenizer = AutoTokenizer.from_pretrained(ROOT / "agentkit" / "_demo")  # the weather demo's
        model = build_model(len(tokenizer), args.hidden)
        print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.3f} M parameters, vocab {len(tokenizer)}")
        begun = time.monotonic()
        steps = train(model, tokenizer, random.Random(args.seed), args.minutes)
        save(model, tokenizer, args.out)
        info = {"steps": steps, "minutes": round((time.monotonic() - begun) / 60, 2)}
        (args.out / "eval.json").write_text(json.dumps(info, indent=2) + "\n")
        print(f"saved to {args.out} after {steps} steps")
    if args.eval:
        info = json.loads((args.out / "eval.json").read_text())
        scores = evaluate(args.out, args.seed + 1, args.eval)
        print(json.dumps(scores, indent=2))
        (args.out / "eval.json").write_text(json.dumps({**info, **scores}, indent=2) + "\n")


if __name__ == "__main__":
    main()
