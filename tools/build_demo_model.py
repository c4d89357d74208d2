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
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools._templates import SPECIAL_TOKENS, TEMPLATES, TEXT_TOKENS  # noqa: E402
from tools._weather_data import (  # noqa: E402
    HELDOUT_CITIES,
    KINDS,
    SYSTEM,
    TOOLS,
    conversation,
    random_city,
)
from tools._weather_dialogs import dialog  # noqa: E402


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
    # With thinking on, the template drops the reasoning of turns before the last user message:
    # those turns are context, only the last exchange is learned (as inference sees it).
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    for i, m in enumerate(messages):
        if m["role"] != "assistant" or (thinking and i < last_user):
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
    dialog_rate: float = 0.0,
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
            if rng.random() < dialog_rate:  # the second generator's wider questions
                messages = dialog(rng, system=with_system, thinking=thinking)[0]
            else:
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
    parser.add_argument(
        "--dialog-rate", type=float, default=0.7, help="share of conversations from tools/_weather_dialogs.py"
    )
    parser.add_argument("--checkpoint-minutes", type=float, default=8.0, help="minutes between checkpoints")
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
                  thinking_rate=args.thinking_rate, checkpoint=args.checkpoint, kinds=kinds,
                  checkpoint_minutes=args.checkpoint_minutes, dialog_rate=args.dialog_rate)  # fmt: skip
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
