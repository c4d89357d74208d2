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


def month_length(day: datetime.date) -> int:
    first = day.replace(day=1)
    return ((first + datetime.timedelta(days=32)).replace(day=1) - first).days


def random_date(rng: random.Random, month_end: bool | None = None) -> datetime.date:
    """A day in 2020-2030; month ends (where "tomorrow" carries) and the days before them are
    oversampled, February (28 or 29 days) most of all."""
    year, month = rng.randint(2020, 2030), rng.randint(1, 12)
    if month_end or (month_end is None and rng.random() < 0.35):
        month = 2 if rng.random() < 0.3 else month
        first = datetime.date(year, month, 1)
        return first.replace(day=month_length(first))
    if month_end is None and rng.random() < 0.2:  # the days just before a month end do not carry
        first = datetime.date(year, 2 if rng.random() < 0.3 else month, 1)
        return first.replace(day=month_length(first) - rng.randint(1, 3))
    day = datetime.date(2020, 1, 1) + datetime.timedelta(days=rng.randint(0, 3650))
    if month_end is False and day.day == month_length(day):
        day -= datetime.timedelta(days=1)
    return day


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
# Temperature questions that name no place: the assistant asks for one and calls nothing.
NO_PLACE_Q = ["What's the temperature now?", "How warm is it right now?", "What is the current temperature?",
              "Is it cold at the moment?", "temperature now?", "What will the temperature be on {d}?",
              "Today is {t}. What's the temperature tomorrow?", "Today is {t}, how warm will it be tomorrow?",
              "It's {t}. What's the temperature today and tomorrow?", "What's the temperature?",
              "How cold is it outside?", "Temperature for {d}?"]  # fmt: skip
# Anything else is refused, calling nothing. Some name a city or a date: that alone is no
# temperature question. The held-out phrasings are never trained on.
OFF_TOPIC_Q = ["Who wrote {T}?", "Who painted {T}?", "What is the capital of {X}?", "What is the population of {c}?",
               "How far is {c} from {c2}?", "What time is it in {c}?", "Tell me a joke.", "Tell me a joke about {w}.",
               "What is {n} plus {m}?", "What is {n} times {m}?", "How do I cook {w}?", "Translate {w} into {L}.",
               "Write a poem about {w}.", "Who is {X} {Y}?", "What does {w} mean?", "Recommend a good book.",
               "What is the best restaurant in {c}?", "How do I get to {c}?", "Hello!", "Hi, how are you?",
               "Thanks!", "What's your name?", "Can you help me with my homework?", "What is the meaning of life?",
               "Book a flight to {c}.", "Is {c} a nice place to live?", "Spell {w} backwards.",
               "Today is {t}. What day of the week is it?", "Today is {t}. What's the news in {c}?",
               "What happened in {c} on {d}?", "Who is the mayor of {c}?", "What language do they speak in {c}?"]  # fmt: skip
HELDOUT_OFF_TOPIC_Q = ["Who wrote Hamlet?", "Who discovered {X}?", "What is the square root of {n}?",
                       "Can you write me a story about {w}?", "How many people live in {c}?",
                       "Which river flows through {c}?", "Good morning!", "How do I fix my bike?",
                       "What should I eat for dinner?", "Explain how {w} works.", "Who won the {X} Cup?",
                       "Today is {t}. How many days until {d}?"]  # fmt: skip
_WORDS = ["pasta", "cats", "the sea", "rice", "friendship", "music", "trains", "coffee", "the moon", "football",
          "bread", "rain", "computers", "love", "history", "a robot", "chess", "bees"]  # fmt: skip
_LANGS = ["French", "German", "Spanish", "Italian", "Japanese", "Polish", "Greek"]
REFUSAL = "Sorry, I can only tell you the temperature in a city: now, on a date, or tomorrow."
ASK_PLACE = "Which city would you like the temperature for?"
ANSWER_THOUGHT = "I have the results, so I can answer."
KINDS = {"now": 3, "date": 2, "tomorrow": 3, "both": 3, "off-topic": 2, "no place": 1, "empty": 0.3}


def date_thought(today: datetime.date) -> str:
    """Spells out the carry: the month's length decides whether tomorrow is the 1st."""
    tomorrow = today + datetime.timedelta(days=1)
    days = month_length(today)
    last = "is the last" if today.day == days else "is not the last"
    return (f"Today is {today.isoformat()}. Month {today.month:02d} of {today.year} has {days} days and day "
            f"{today.day:02d} {last}, so tomorrow is {tomorrow.isoformat()}.")  # fmt: skip


def off_topic_question(rng: random.Random, heldout: bool = False) -> str:
    template = rng.choice(HELDOUT_OFF_TOPIC_Q if heldout else OFF_TOPIC_Q)
    today = random_date(rng)
    return template.format(
        T=random_city(rng), X=random_city(rng).split()[0], Y=random_city(rng).split()[0], c=pick_city(rng),
        c2=pick_city(rng), w=rng.choice(_WORDS), L=rng.choice(_LANGS), n=rng.randint(2, 999), m=rng.randint(2, 99),
        t=today.isoformat(), d=random_date(rng).isoformat(),
    )  # fmt: skip


def conversation(rng: random.Random, city: str | None = None, kind: str | None = None, system: bool = True,
                 thinking: bool = False, month_end: bool | None = None, heldout: bool = False,
                 kinds: dict[str, float] | None = None):  # fmt: skip
    """One conversation: (messages, facts) where facts say what a correct run does.

    With `thinking`, each assistant turn starts with a short reasoning trace (the template
    opens ``<think>`` when thinking is on); without it, with none."""
    city = city or pick_city(rng)
    kinds = kinds or KINDS
    kind = kind or rng.choices(list(kinds), list(kinds.values()))[0]
    today = random_date(rng, month_end)
    tomorrow = today + datetime.timedelta(days=1)
    fahrenheit = rng.random() < 0.15
    unit = "fahrenheit" if fahrenheit else "celsius"
    head = [{"role": "system", "content": SYSTEM}] if system else []
    if kind in ("off-topic", "no place", "empty"):
        if kind == "off-topic":
            question, answer = off_topic_question(rng, heldout), REFUSAL
            thought = "This is not a question about the temperature in a city. I only answer those."
        elif kind == "no place":
            question = rng.choice(NO_PLACE_Q).format(t=today.isoformat(), d=today.isoformat())
            answer, thought = ASK_PLACE, "The user asks about the temperature but names no city. I will ask which city."
        else:
            question, answer = rng.choice(["", " ", "\n"]), REFUSAL
            thought = "The message is empty. I only answer questions about the temperature in a city."
        reply = {"role": "assistant", "content": answer, **({"reasoning_content": thought} if thinking else {})}
        messages = [*head, {"role": "user", "content": question}, reply]
        return messages, {"calls": [], "temps": [], "city": None, "kind": kind, "answer": answer}
    if kind == "now":
        question = rng.choice(NOW_Q).format(c=city)
        calls = [("get_current_temperature", {"location": city})]
        thought = "The user asks for the temperature now."
    elif kind == "date":
        question = rng.choice(DATE_Q).format(c=city, d=today.isoformat())
        calls = [("get_temperature_date", {"location": city, "date": today.isoformat()})]
        thought = f"The user asks for the temperature on {today.isoformat()}."
    elif kind == "tomorrow":
        question = rng.choice(TOMORROW_Q).format(c=city, t=today.isoformat())
        calls = [("get_temperature_date", {"location": city, "date": tomorrow.isoformat()})]
        thought = f"The user asks for the temperature tomorrow. {date_thought(today)}"
    else:
        question = rng.choice(BOTH_Q).format(c=city, t=today.isoformat())
        calls = [
            ("get_current_temperature", {"location": city}),
            ("get_temperature_date", {"location": city, "date": tomorrow.isoformat()}),
        ]
        thought = f"The user asks for the temperature now and tomorrow. {date_thought(today)}"
    if fahrenheit:
        question += rng.choice(UNIT_SUFFIX)
        calls = [(n, {**a, "unit": unit}) for n, a in calls]
        thought += " The unit is fahrenheit."
    thought += " I will call " + " and ".join(dict.fromkeys(n for n, _ in calls)) + "."
    temps = [round(rng.uniform(-25, 40) if not fahrenheit else rng.uniform(-10, 100), 1) for _ in calls]
    results = [{"temperature": t, **args, "unit": unit} for t, (_, args) in zip(temps, calls, strict=True)]
    sym = "°F" if fahrenheit else "°C"
    if kind == "now":
        answer = f"The temperature in {city} is {temps[0]} {sym} right now."
    elif kind == "both":
        answer = (
            f"In {city} it is {temps[0]} {sym} now, and it will be {temps[1]} {sym} tomorrow ({calls[1][1]['date']})."
        )
    else:
        answer = f"The temperature in {city} on {calls[0][1]['date']} will be {temps[0]} {sym}."
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, (n, a) in enumerate(calls)
    ]
    think = (lambda text: {"reasoning_content": text}) if thinking else (lambda text: {})
    messages = [
        *head,
        {"role": "user", "content": question},
        {"role": "assistant", "content": "", "tool_calls": tool_calls, **think(thought)},
        *[{"role": "tool", "tool_call_id": f"call_{i}", "name": n, "content": json.dumps(r)}
          for i, ((n, _), r) in enumerate(zip(calls, results, strict=True))],
        {"role": "assistant", "content": answer, **think(ANSWER_THOUGHT)},
    ]  # fmt: skip
    return messages, {"calls": calls, "temps": temps, "city": city, "kind": kind, "answer": None}


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


def encode(tokenizer, messages: list[dict], thinking: bool = False) -> tuple[list[int], list[int]]:
    """Token ids of a conversation and a 0/1 mask of the assistant tokens to learn."""
    ids: list[int] = []
    mask: list[int] = []
    done = ""
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt = tokenizer.apply_chat_template(
            messages[:i], tools=TOOLS, add_generation_prompt=True, tokenize=False, enable_thinking=thinking
        )
        full = tokenizer.apply_chat_template(messages[: i + 1], tools=TOOLS, tokenize=False, enable_thinking=thinking)
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


def train(
    model,
    tokenizer,
    rng: random.Random,
    minutes: float,
    batch: int = 16,
    lr: float = 3e-3,
    warmup: int = 50,
    system_rate: float = 1.0,
    thinking_rate: float = 0.0,
    kinds: dict[str, float] | None = None,
    checkpoint: Path | None = None,
    checkpoint_minutes: float = 8.0,
) -> int:
    import torch

    pad = tokenizer.pad_token_id
    headers = {flag: header_ids(tokenizer, flag) for flag in (True, False)}
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    deadline = time.monotonic() + minutes * 60
    step, start = 0, time.monotonic()
    saved = start
    model.train()
    while time.monotonic() < deadline:
        # Half the steps without a system message: callers do not always send one. A step uses
        # one variant so that its conversations share one header.
        with_system = system_rate >= 1 or rng.random() < system_rate
        header = headers[with_system]
        header_t = torch.tensor([header])
        examples = []
        for _ in range(batch):
            thinking = rng.random() < thinking_rate
            messages = conversation(rng, system=with_system, thinking=thinking, kinds=kinds)[0]
            ids, mask = encode(tokenizer, messages, thinking)
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
        if checkpoint and time.monotonic() - saved > checkpoint_minutes * 60:
            # A run cut off early still leaves a usable model behind.
            save(model, tokenizer, checkpoint)
            (checkpoint / "steps.txt").write_text(f"{step} {(time.monotonic() - start) / 60:.1f}\n")
            saved = time.monotonic()
            print(f"checkpoint at step {step}", flush=True)
    model.eval()
    return step


EVAL_MIX = {"now": 3, "date": 3, "tomorrow": 5, "both": 5, "off-topic": 4, "no place": 3, "empty": 1}


def eval_cases(rng: random.Random, n: int) -> list[tuple[dict, list[dict], dict]]:
    """`n` held-out cases: (labels, reference conversation, facts), every kind crossed with
    thinking on/off, with/without a system message and (where it applies) month end or not,
    unseen real city or random name, trained or held-out off-topic phrasing."""
    kinds = [k for k, count in EVAL_MIX.items() for _ in range(count)]
    seen: dict[str, int] = {}
    cases = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        k = seen[kind] = seen.get(kind, -1) + 1
        labels = {"kind": kind, "thinking": "thinking on" if k % 2 else "thinking off",
                  "system": "no system" if (k // 2) % 2 else "with system"}  # fmt: skip
        city = None
        if kind in ("now", "date", "tomorrow", "both"):
            real = (k // 8) % 2 == 0
            city = rng.choice(HELDOUT_CITIES) if real else random_city(rng)
            labels["city"] = "unseen real city" if real else "random name"
        month_end = None
        if kind in ("tomorrow", "both"):
            month_end = (k // 4) % 2 == 0
            labels["date"] = "tomorrow at a month end" if month_end else "tomorrow mid-month"
        if kind == "off-topic":
            labels["phrasing"] = "off-topic, held-out phrasing" if (k // 4) % 2 else "off-topic, trained phrasing"
        messages, facts = conversation(rng, city=city, kind=kind, system=labels["system"] == "with system",
                                       thinking=k % 2 == 1, month_end=month_end, heldout=(k // 4) % 2 == 1)  # fmt: skip
        cases.append((labels, messages, facts))
    return cases


def generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch: int = 40) -> list[str]:
    """Greedy continuations of rendered prompts, a batch at a time (left-padded)."""
    import torch

    tokenizer.padding_side = "left"
    texts = []
    for i in range(0, len(prompts), batch):
        enc = tokenizer(prompts[i : i + batch], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)  # fmt: skip
        for row in out[:, enc["input_ids"].shape[1] :]:
            texts.append(tokenizer.decode(row, skip_special_tokens=False).split("<|im_end|>")[0])
    return texts


def evaluate_part(path: Path, seed: int, n: int, part: int, parts: int) -> list[tuple[dict, bool, str]]:
    """Cases `part::parts` of the held-out set, scored by the model at `path`: (labels, ok, note)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    cases = eval_cases(random.Random(seed), n)[part::parts]
    return score(model, AutoTokenizer.from_pretrained(path), cases)


def evaluate(path: Path, seed: int, n: int = 240, workers: int = 1) -> dict[str, object]:
    """Score the model at `path` on `n` held-out cases, in `workers` processes (each a
    single-threaded share of a busy machine), and group the results per case kind."""
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        parts = list(pool.map(evaluate_part, *zip(*[(path, seed, n, i, workers) for i in range(workers)], strict=True)))
    outcomes = [o for part in parts for o in part]
    for labels, ok, note in outcomes:
        if not ok:
            print(f"FAIL {list(labels.values())}: {note}")
    groups: dict[str, list[int]] = {}
    for labels, ok, _ in outcomes:
        for value in ("all", *labels.values()):
            groups.setdefault(value, []).append(int(ok))
    table = {
        name: {"n": len(v), "correct": sum(v), "accuracy": round(sum(v) / len(v), 4)} for name, v in groups.items()
    }
    return {"end_to_end": table["all"]["accuracy"], "questions": n, "cases": table}


def score(model, tokenizer, cases: list) -> list[tuple[dict, bool, str]]:
    """Greedy runs of held-out questions through the whole loop, scored end to end: the
    right calls with the right arguments and an answer quoting the tools' numbers and the
    city, or, for a question that is not a temperature question or names no city, no call
    and the fixed reply. Prompts are rendered by the model's chat template (thinking on or
    off) and outputs read by agentkit's parser; questions are batched to save time (the
    weather bot's tests run the same model one conversation at a time through `LocalModel`)."""
    from agentkit import Completion, Usage
    from agentkit._local import DEMO_MAX_TOKENS
    from agentkit.formats import get_format

    fmt = get_format("intern-s1")
    n = len(cases)

    def render(messages: list[dict], thinking: bool) -> str:
        return tokenizer.apply_chat_template(messages, tools=TOOLS, add_generation_prompt=True, tokenize=False,
                                             enable_thinking=thinking)  # fmt: skip

    starts = [1 if labels["system"] == "with system" else 0 for labels, _, _ in cases]
    thinks = [labels["thinking"] == "thinking on" for labels, _, _ in cases]
    convs = [reference[: s + 1] for (_, reference, _), s in zip(cases, starts, strict=True)]
    firsts = generate(model, tokenizer, [render(m, t) for m, t in zip(convs, thinks, strict=True)], DEMO_MAX_TOKENS)
    ok = [False] * n
    finals = [""] * n
    seconds: dict[int, list[dict]] = {}
    for i, ((_, reference, facts), text) in enumerate(zip(cases, firsts, strict=True)):
        parsed = fmt.parse(text, in_reasoning=thinks[i])
        got = [(c.name, json.loads(c.arguments)) for c in parsed.tool_calls]
        if not facts["calls"]:
            ok[i] = not got and not parsed.errors and parsed.content.strip() == facts["answer"]
            finals[i] = parsed.content
        elif got == facts["calls"] and not parsed.errors:
            message = Completion.from_output(parsed, usage=Usage()).message
            results = [m["content"] for m in reference[starts[i] + 2 : starts[i] + 2 + len(got)]]
            seconds[i] = [*convs[i], message] + [
                {"role": "tool", "tool_call_id": c.id, "name": c.name, "content": r}
                for c, r in zip(parsed.tool_calls, results, strict=True)
            ]
    order = sorted(seconds)
    for i, text in zip(order, generate(model, tokenizer, [render(seconds[i], thinks[i]) for i in order], DEMO_MAX_TOKENS),
                       strict=True):  # fmt: skip
        parsed = fmt.parse(text, in_reasoning=thinks[i])
        facts = cases[i][2]
        finals[i] = parsed.content
        ok[i] = (
            not parsed.tool_calls
            and all(str(t) in parsed.content for t in facts["temps"])
            and (facts["city"] in parsed.content)
        )
    return [
        (labels, good, f"{reference[s]['content']!r} -> {first!r} / {final!r}")
        for (labels, reference, _), good, s, first, final in zip(cases, ok, starts, firsts, finals, strict=True)
    ]


def save(model, tokenizer, out: Path) -> None:
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    parser.add_argument("--format", choices=["intern-s1", "qwen3"], default="intern-s1")
    parser.add_argument("--out", type=Path, default=ROOT / "agentkit" / "_demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval", type=int, default=240, help="held-out questions to score (0: none)")
    parser.add_argument("--init", type=Path, help="continue training this model (its tokenizer is kept)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--warmup", type=int, help="warm-up steps (default: 50, none with --init)")
    parser.add_argument("--eval-only", type=Path, help="only score this model (written to its eval.json)")
    parser.add_argument("--system-rate", type=float, default=0.5, help="share of conversations with a system message")
    parser.add_argument("--thinking-rate", type=float, default=0.4, help="share of conversations with thinking on")
    parser.add_argument("--checkpoint", type=Path, help="save the model here every few minutes while training")
    parser.add_argument("--workers", type=int, default=2, help="processes that score the held-out questions")
    parser.add_argument("--kinds", help="question mix while training, e.g. 'now=3,tomorrow=6' (default: KINDS)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 wastes less on a busy machine)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    kinds = {**KINDS, **{k: float(v) for k, v in (p.split("=") for p in args.kinds.split(","))}} if args.kinds else None
    if args.eval_only:
        scores = evaluate(args.eval_only, args.seed + 1, args.eval, args.workers)
        print(json.dumps(scores, indent=2))
        path = args.eval_only / "eval.json"
        history = json.loads(path.read_text()) if path.exists() else {}
        history = {k: history[k] for k in ("steps", "minutes") if k in history}
        path.write_text(json.dumps({**history, **scores}, indent=2) + "\n")
        return

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    previous: dict = {}
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
    warmup = args.warmup if args.warmup is not None else (0 if args.init else 50)
    steps = train(model, tokenizer, rng, args.minutes, lr=args.lr, warmup=warmup, system_rate=args.system_rate,
                  thinking_rate=args.thinking_rate, checkpoint=args.checkpoint, kinds=kinds)  # fmt: skip
    steps += int(previous.get("steps", 0))
    minutes = args.minutes + float(previous.get("minutes", 0))
    save(model, tokenizer, args.out)
    (args.out / "eval.json").write_text(json.dumps({"steps": steps, "minutes": minutes}, indent=2) + "\n")
    print(f"saved to {args.out} after {steps} steps")
    if args.eval:
        scores = evaluate(args.out, args.seed + 1, args.eval, args.workers)
        print(json.dumps(scores, indent=2))
        (args.out / "eval.json").write_text(json.dumps({"steps": steps, "minutes": minutes, **scores}, indent=2) + "\n")


if __name__ == "__main__":
    main()
