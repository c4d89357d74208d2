"""Build agentkit's built-in demo model: a tiny Intern-S1-format weather tool caller.

    python tools/build_demo_model.py                 # train 20 min, write agentkit/_demo/
    python tools/build_demo_model.py --minutes 3 --out /tmp/demo --format qwen3

A Qwen3-architecture causal LM (about 2 M parameters) is trained from scratch on 2 CPU cores
on generated conversations: a user asks about the temperature somewhere (now, on a date,
tomorrow, or now-and-tomorrow), the assistant calls the guide's two tools with the city and
date taken from the question, reads the results and answers with their numbers. The loss
covers assistant tokens only. Capitalised words (names) are tokenised one character per token,
so the model can copy cities it never saw. Everything is seeded; the held-out accuracy is
printed at the end (see `evaluate`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools._templates import SPECIAL_TOKENS, TEMPLATES, TEXT_TOKENS  # noqa: E402

SYSTEM = "You are a helpful weather assistant."

TOOLS = [
    {"type": "function", "function": {
        "name": "get_current_temperature",
        "description": "Get current temperature at a location.",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": 'The location to get the temperature for, in the format "City, State, Country".'},
            "unit": {"type": "string", "description": 'The unit to return the temperature in. Defaults to "celsius".', "enum": ["celsius", "fahrenheit"]}},
            "required": ["location"]}}},
    {"type": "function", "function": {
        "name": "get_temperature_date",
        "description": "Get temperature at a location and date.",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": 'The location to get the temperature for, in the format "City, State, Country".'},
            "date": {"type": "string", "description": 'The date to get the temperature for, in the format "Year-Month-Day".'},
            "unit": {"type": "string", "description": 'The unit to return the temperature in. Defaults to "celsius".', "enum": ["celsius", "fahrenheit"]}},
            "required": ["location", "date"]}}},
]  # fmt: skip

TRAIN_CITIES = """San Francisco|New York|London|Paris|Tokyo|Berlin|Madrid|Rome|Beijing|Shanghai|Sydney|Toronto
Chicago|Boston|Seattle|Denver|Austin|Dallas|Houston|Miami|Atlanta|Phoenix|Portland|Vancouver|Montreal|Dublin
Oslo|Stockholm|Helsinki|Copenhagen|Vienna|Prague|Warsaw|Lisbon|Athens|Cairo|Nairobi|Lagos|Mumbai|Delhi|Seoul
Bangkok|Singapore|Jakarta|Manila|Hanoi|Lima|Bogota|Santiago|Mexico City|Buenos Aires|Rio de Janeiro|Cape Town
Hong Kong|Los Angeles|San Diego|Las Vegas|New Orleans|Kuala Lumpur|Tel Aviv|Zurich|Geneva|Munich|Hamburg""".replace(
    "\n", "|"
).split("|")
HELDOUT_CITIES = """Salt Lake City|Thunder Bay|Kyoto|Marseille|Valencia|Edinburgh|Reykjavik|Krakow|Porto|Auckland
Wellington|Brisbane|Perth|Calgary|Ottawa|Quebec City|San Antonio|Kansas City|Nashville|Pittsburgh""".replace(
    "\n", "|"
).split("|")

_SYL = ["ka", "lo", "mi", "ra", "ven", "dor", "tis", "bel", "gar", "no", "shi", "an", "ul", "ter", "pe",
        "zu", "ria", "mon", "ex", "ford", "ville", "berg", "ton", "wick", "qua", "yo", "ish", "ed"]  # fmt: skip


def random_city(rng: random.Random) -> str:
    """A name the model cannot have memorised: mostly random letters, so it must copy them."""

    def word() -> str:
        if rng.random() < 0.25:
            return "".join(rng.choice(_SYL) for _ in range(rng.randint(1, 3))).capitalize()
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 11))).capitalize()

    return " ".join(word() for _ in range(rng.choices([1, 2, 3], [6, 3, 1])[0]))


def pick_city(rng: random.Random) -> str:
    return rng.choice(TRAIN_CITIES) if rng.random() < 0.4 else random_city(rng)


def random_date(rng: random.Random) -> datetime.date:
    # Month ends are where "tomorrow" carries over: oversample them.
    if rng.random() < 0.3:
        month = rng.randint(1, 12)
        year = rng.randint(2020, 2030)
        nxt = datetime.date(year + (month == 12), month % 12 + 1, 1)
        return nxt - datetime.timedelta(days=1)
    return datetime.date(2020, 1, 1) + datetime.timedelta(days=rng.randint(0, 3650))


NOW_Q = ["What's the temperature in {c} now?", "How warm is it in {c} right now?",
         "What is the current temperature in {c}?", "Tell me the temperature in {c}.",
         "temperature in {c} now?", "Is it cold in {c} at the moment?"]  # fmt: skip
DATE_Q = ["What will the temperature be in {c} on {d}?", "What's the temperature in {c} on {d}?",
          "How warm will {c} be on {d}?", "Temperature for {c}, {d}?"]  # fmt: skip
TOMORROW_Q = ["Today is {t}. What's the temperature in {c} tomorrow?",
              "Today is {t}, how warm will it be in {c} tomorrow?"]  # fmt: skip
BOTH_Q = ["Today is {t}, What's the temperature in {c} now? How about tomorrow?",
          "Today is {t}. How warm is {c} now, and tomorrow?",
          "It's {t}. What's the temperature in {c} today and tomorrow?"]  # fmt: skip
UNIT_SUFFIX = [" In fahrenheit, please.", " Answer in fahrenheit."]


def conversation(rng: random.Random, city: str | None = None, kind: str | None = None, system: bool = True):
    """One conversation: (messages, facts) where facts say what a correct run does."""
    city = city or pick_city(rng)
    kind = kind or rng.choices(["now", "date", "tomorrow", "both"], [3, 2, 2, 3])[0]
    today = random_date(rng)
    tomorrow = today + datetime.timedelta(days=1)
    fahrenheit = rng.random() < 0.15
    unit = "fahrenheit" if fahrenheit else "celsius"
    if kind == "now":
        question = rng.choice(NOW_Q).format(c=city)
        calls = [("get_current_temperature", {"location": city})]
    elif kind == "date":
        question = rng.choice(DATE_Q).format(c=city, d=today.isoformat())
        calls = [("get_temperature_date", {"location": city, "date": today.isoformat()})]
    elif kind == "tomorrow":
        question = rng.choice(TOMORROW_Q).format(c=city, t=today.isoformat())
        calls = [("get_temperature_date", {"location": city, "date": tomorrow.isoformat()})]
    else:
        question = rng.choice(BOTH_Q).format(c=city, t=today.isoformat())
        calls = [
            ("get_current_temperature", {"location": city}),
            ("get_temperature_date", {"location": city, "date": tomorrow.isoformat()}),
        ]
    if fahrenheit:
        question += rng.choice(UNIT_SUFFIX)
        calls = [(n, {**a, "unit": unit}) for n, a in calls]
    temps = [round(rng.uniform(-25, 40) if not fahrenheit else rng.uniform(-10, 100), 1) for _ in calls]
    results = [{"temperature": t, **args, "unit": unit} for t, (_, args) in zip(temps, calls, strict=True)]
    sym = "°F" if fahrenheit else "°C"
    if kind == "now":
        answer = f"The temperature in {city} is {temps[0]} {sym} right now."
    elif kind == "both":
        answer = f"In {city} it is {temps[0]} {sym} now, and it will be {temps[1]} {sym} tomorrow ({calls[1][1]['date']})."
    else:
        answer = f"The temperature in {city} on {calls[0][1]['date']} will be {temps[0]} {sym}."
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, (n, a) in enumerate(calls)
    ]
    messages = [
        *([{"role": "system", "content": SYSTEM}] if system else []),
        {"role": "user", "content": question},
        {"role": "assistant", "content": "", "tool_calls": tool_calls},
        *[{"role": "tool", "tool_call_id": f"call_{i}", "name": n, "content": json.dumps(r)}
          for i, ((n, _), r) in enumerate(zip(calls, results, strict=True))],
        {"role": "assistant", "content": answer},
    ]  # fmt: skip
    return messages, {"calls": calls, "temps": temps, "city": city, "kind": kind}


def build_tokenizer(fmt: str, rng: random.Random):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    # Letters of Capitalised words are single tokens: names are copied letter by letter.
    after_capital = "|".join("\\p{Lu}" + "\\p{Ll}" * k for k in range(24))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(f"\\p{{Lu}}|(?<={after_capital})\\p{{Ll}}"), behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])  # fmt: skip
    tok.decoder = decoders.ByteLevel()
    template = TEMPLATES[fmt]
    corpus = []
    for _ in range(400):
        messages, _ = conversation(rng)
        corpus.append(json.dumps(TOOLS) + json.dumps(messages) + template)
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=SPECIAL_TOKENS[fmt] + TEXT_TOKENS[fmt],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        additional_special_tokens=SPECIAL_TOKENS[fmt],
    )
    fast.add_tokens(TEXT_TOKENS[fmt])
    # The demo model does not think: thinking is off unless a caller turns it on.
    fast.chat_template = template.replace("default_thinking|default(true)", "false")
    return fast


def encode(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """Token ids of a conversation and a 0/1 mask of the assistant tokens to learn."""
    ids: list[int] = []
    mask: list[int] = []
    done = ""
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt = tokenizer.apply_chat_template(messages[:i], tools=TOOLS, add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(messages[: i + 1], tools=TOOLS, tokenize=False)
        assert prompt.startswith(done) and full.startswith(prompt), "template is not prefix-stable"
        context = tokenizer.encode(prompt[len(done) :], add_special_tokens=False)
        reply = tokenizer.encode(full[len(prompt) :], add_special_tokens=False)
        ids += context + reply
        mask += [0] * len(context) + [1] * len(reply)
        done = full
    return ids, mask


def build_model(vocab_size: int):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=vocab_size, hidden_size=192, intermediate_size=512, num_hidden_layers=4,
        num_attention_heads=3, num_key_value_heads=3, head_dim=64, max_position_embeddings=1536,
        tie_word_embeddings=True, rope_theta=10000.0,
    )  # fmt: skip
    return Qwen3ForCausalLM(config)


def header_ids(tokenizer, system: bool = True) -> list[int]:
    """Tokens of the (system and) tools turns, the same at the start of every conversation."""
    messages = [{"role": "system", "content": SYSTEM}] if system else [{"role": "user", "content": "x"}]
    text = tokenizer.apply_chat_template(messages, tools=TOOLS, tokenize=False)
    if not system:  # the tools turn alone: cut before the placeholder user turn
        text = text[: text.index("<|im_start|>user")]
    return tokenizer.encode(text, add_special_tokens=False)


def train(model, tokenizer, rng: random.Random, minutes: float, batch: int = 16, lr: float = 3e-3,
          warmup: int = 50, system_rate: float = 1.0) -> int:
    import torch

    pad = tokenizer.pad_token_id
    headers = {flag: header_ids(tokenizer, flag) for flag in (True, False)}
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    deadline = time.monotonic() + minutes * 60
    step, start = 0, time.monotonic()
    model.train()
    while time.monotonic() < deadline:
        # Half the steps without a system message: callers do not always send one. A step uses
        # one variant so that its conversations share one header.
        with_system = system_rate >= 1 or rng.random() < system_rate
        header = headers[with_system]
        header_t = torch.tensor([header])
        examples = []
        for _ in range(batch):
            ids, mask = encode(tokenizer, conversation(rng, system=with_system)[0])
            assert ids[: len(header)] == header and not any(mask[: len(header)])
            examples.append((ids[len(header) :], mask[len(header) :]))
        width = max(len(ids) for ids, _ in examples)
        input_ids = torch.full((batch, width), pad, dtype=torch.long)
        labels = torch.full((batch, width), -100, dtype=torch.long)
        attention = torch.zeros((batch, len(header) + width), dtype=torch.long)
        attention[:, : len(header)] = 1
        for row, (ids, mask) in enumerate(examples):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, len(header) : len(header) + len(ids)] = 1
            labels[row, : len(ids)] = torch.tensor([t if m else -100 for t, m in zip(ids, mask, strict=True)])
        progress = (time.monotonic() - start) / (deadline - start)
        rate = lr * min(1.0, (step + 1) / max(warmup, 1)) * max(0.05, 1 - progress)
        for group in optimizer.param_groups:
            group["lr"] = rate
        # The shared header carries no loss: its cache is computed once, without gradients,
        # exactly as inference computes it, and only the rest of each conversation is trained.
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
            print(f"step {step}  loss {loss.item():.4f}  lr {rate:.5f}  {time.monotonic() - start:.0f}s", flush=True)
    model.eval()
    return step


def evaluate(model, tokenizer, rng: random.Random, n: int = 100) -> dict[str, float]:
    """Greedy runs of held-out questions through the whole loop, scored end to end."""
    import torch

    from agentkit.formats import get_format

    fmt = get_format("intern-s1" if "<|plugin|>" in tokenizer.chat_template else "qwen3")
    scores = {"calls": 0, "answer": 0, "end_to_end": 0}
    by_kind: dict[str, list[int]] = {}
    for i in range(n):
        city = rng.choice(HELDOUT_CITIES) if i % 2 == 0 else random_city(rng)
        with_system = i % 4 < 2
        reference, facts = conversation(rng, city=city, system=with_system)
        start = 1 if with_system else 0
        messages = reference[: start + 1]

        def generate(msgs):
            ids = tokenizer.apply_chat_template(msgs, tools=TOOLS, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            with torch.no_grad():
                out = model.generate(**ids, max_new_tokens=160, do_sample=False, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
            return tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=False).replace("<|im_end|>", "")

        parsed = fmt.parse(generate(messages))
        got = [(c.name, json.loads(c.arguments)) for c in parsed.tool_calls]
        calls_ok = got == facts["calls"]
        answer_ok = False
        if calls_ok:
            tool_msgs = reference[start + 2 : start + 2 + len(got)]
            second = [*messages, {**reference[start + 1], "tool_calls": [c.to_dict() for c in parsed.tool_calls]}]
            second += [{**m, "tool_call_id": c.id} for m, c in zip(tool_msgs, parsed.tool_calls, strict=True)]
            final = fmt.parse(generate(second)).content
            answer_ok = all(str(t) in final for t in facts["temps"]) and facts["city"] in final
        scores["calls"] += calls_ok
        scores["answer"] += answer_ok
        scores["end_to_end"] += calls_ok and answer_ok
        by_kind.setdefault(facts["kind"], []).append(int(calls_ok and answer_ok))
        source = "unseen real city" if i % 2 == 0 else "random name"
        by_kind.setdefault(source, []).append(int(calls_ok and answer_ok))
        by_kind.setdefault("with system" if with_system else "no system", []).append(int(calls_ok and answer_ok))
    result = {k: v / n for k, v in scores.items()}
    result.update({f"end_to_end[{k}]": sum(v) / len(v) for k, v in sorted(by_kind.items())})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    parser.add_argument("--format", choices=["intern-s1", "qwen3"], default="intern-s1")
    parser.add_argument("--out", type=Path, default=ROOT / "agentkit" / "_demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval", type=int, default=100, help="held-out questions to score (0: none)")
    parser.add_argument("--init", type=Path, help="continue training this model (its tokenizer is kept)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--eval-only", type=Path, help="only score this model")
    parser.add_argument("--system-rate", type=float, default=0.5, help="share of conversations with a system message")
    args = parser.parse_args()
    if args.eval_only:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(args.eval_only).eval()
        scores = evaluate(model, AutoTokenizer.from_pretrained(args.eval_only), random.Random(args.seed + 2), args.eval)
        print(json.dumps(scores, indent=2))
        return

    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    rng = random.Random(args.seed)
    if args.init:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.init)
        model = AutoModelForCausalLM.from_pretrained(args.init, dtype=torch.float32)
        previous = json.loads((args.init / "eval.json").read_text()) if (args.init / "eval.json").exists() else {}
        rng = random.Random(args.seed + 1000 + int(previous.get("steps", 0)))  # fresh data, not a replay
    else:
        tokenizer = build_tokenizer(args.format, rng)
        model = build_model(len(tokenizer))
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, vocab {len(tokenizer)}")
    steps = train(model, tokenizer, rng, args.minutes, lr=args.lr, warmup=0 if args.init else 50,
                  system_rate=args.system_rate)
    if args.init and previous:
        steps += int(previous.get("steps", 0))
        args.minutes += float(previous.get("minutes", 0))
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    print(f"saved to {args.out} after {steps} steps")
    if args.eval:
        scores = evaluate(model, tokenizer, random.Random(args.seed + 1), args.eval)
        print(json.dumps(scores, indent=2))
        (args.out / "eval.json").write_text(json.dumps({"steps": steps, "minutes": args.minutes, **scores}, indent=2) + "\n")


if __name__ == "__main__":
    main()
