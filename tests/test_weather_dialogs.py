"""The demo model's second training-data generator (tools/_weather_dialogs.py) and the
hand-written held-out set it must never produce (tests/data/weather_independent.jsonl)."""

import datetime
import itertools
import json
import random
from pathlib import Path

import pytest

from tools._weather_dialogs import L, dialog

INDEPENDENT = Path(__file__).parent / "data" / "weather_independent.jsonl"


def dialogs(n: int, seed: int = 0, **kw):
    rng = random.Random(seed)
    return [dialog(rng, thinking=i % 2 == 1, system=i % 3 == 0, **kw) for i in range(n)]


def test_every_tool_call_is_answered_once_and_the_answer_quotes_every_result():
    answers = 0
    for messages, _facts in dialogs(400):
        pending: list[str] = []
        results: list[dict] = []
        for m in messages:
            if m["role"] == "assistant":
                assert not pending  # results come before the next assistant message
                pending = [c["id"] for c in m.get("tool_calls", [])]
                if results:  # the answer after the results
                    assert not pending and all(str(r["temperature"]) in m["content"] for r in results)
                    assert all(r["location"] in m["content"] for r in results)
                    answers += 1
                results = []
            elif m["role"] == "tool":
                assert m["tool_call_id"] == pending.pop(0)
                results.append(json.loads(m["content"]))
            else:
                assert not pending
        assert not pending
    assert answers > 300


def test_tomorrow_is_the_day_after_the_date_in_the_conversation_leap_days_included():
    seen_leap = seen_carry = 0
    for messages, facts in dialogs(1500):
        for turn in facts["turns"]:
            for name, args in turn["calls"]:
                if name != "get_temperature_date":
                    continue
                date = datetime.date.fromisoformat(args["date"])
                before = (date - datetime.timedelta(days=1)).isoformat()
                said = " ".join(m["content"] for m in messages if m["role"] == "user")
                assert args["date"] in said or before in said, (args, said)
                seen_leap += args["date"].endswith("-02-29")
                seen_carry += date.day == 1
    assert seen_leap >= 5 and seen_carry >= 30


def test_one_call_per_place_in_one_message():
    counts = set()
    for messages, facts in dialogs(600, kind="places"):
        turn = facts["turns"][-1]
        calls_per_place: dict[str, int] = {}
        for _, args in turn["calls"]:
            calls_per_place[args["location"]] = calls_per_place.get(args["location"], 0) + 1
        counts.add(len(calls_per_place))
        first = next(m for m in messages if m["role"] == "assistant")
        assert len(first.get("tool_calls", [])) == len(turn["calls"])
    assert counts == {1, 2, 3}


@pytest.mark.parametrize("lang", ["de", "fr", "es", "zh"])
def test_other_languages_are_asked_and_answered_in_that_language(lang):
    for messages, facts in dialogs(60, lang=lang, kind="places"):
        answer = messages[-1]["content"]
        assert facts["lang"] == lang
        assert any(a.split("{")[0] in answer for a in L[lang]["a now"] + L[lang]["a date"] + L[lang]["a both"])


def test_a_missing_day_or_place_is_asked_for_not_invented():
    asked = set()
    for _messages, facts in dialogs(300, kind="ask"):
        turn = facts["turns"][0]
        assert turn["calls"] == [] and turn["answer"].rstrip()[-1] in "?？"
        asked.add(turn["answer"])
    assert {L["en"]["ask day"][0], L["en"]["ask place"][0]} <= asked


def test_follow_ups_reuse_the_place_or_the_day():
    reused = 0
    for _messages, facts in dialogs(300, kind="follow-up"):
        turns = [t for t in facts["turns"] if t["calls"]]
        for a, b in itertools.pairwise(turns):
            places_a = {x["location"] for _, x in a["calls"]}
            places_b = {x["location"] for _, x in b["calls"]}
            dates_a = {x.get("date") for _, x in a["calls"]}
            dates_b = {x.get("date") for _, x in b["calls"]}
            assert places_a == places_b or dates_a == dates_b or len(places_b) == 1
            reused += places_a == places_b
    assert reused > 20


def test_non_ascii_places_survive_the_demo_tokenizer():
    tokenizers = pytest.importorskip("transformers")
    tok = tokenizers.AutoTokenizer.from_pretrained(Path(__file__).parent.parent / "agentkit" / "_demo")
    for text in ["Wie warm ist es gerade in München?", "北京现在多少度？", "Bogotá, Québec, Zürich, °F"]:
        assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def independent():
    return [json.loads(line) for line in INDEPENDENT.read_text(encoding="utf-8").splitlines()]


def test_the_independent_set_covers_every_case_kind():
    kinds: dict[str, int] = {}
    for case in independent():
        for k in case["kinds"]:
            kinds[k] = kinds.get(k, 0) + 1
    for k in ["unit", "2-3 places", "date after the question", "tomorrow across a month end", "leap day",
              "asks back: day", "asks back: place", "place with country", "follow-up", "off-topic",
              "lang de", "lang fr", "lang es", "lang zh"]:  # fmt: skip
        assert kinds.get(k, 0) >= 3, k


def test_the_generators_never_write_the_independent_phrasings():
    from tools._weather_data import conversation

    written = {t["user"] for c in independent() if "from the issue" not in c["kinds"] for t in c["turns"]}
    rng = random.Random(1)
    produced = set()
    for i in range(6000):
        produced.update(m["content"] for m in dialog(rng, heldout=i % 2 == 0)[0] if m["role"] == "user")
        produced.update(m["content"] for m in conversation(rng)[0] if m["role"] == "user")
    assert len(produced) > 5000 and not written & produced


def test_a_follow_up_never_repeats_the_turn_before():
    for _messages, facts in dialogs(400, kind="follow-up"):
        turns = [t["calls"] for t in facts["turns"] if t["calls"]]
        assert all(a != b for a, b in itertools.pairwise(turns))


def test_several_places_in_one_question_have_no_country_to_split_them_wrongly():
    for _messages, facts in dialogs(400, kind="places"):
        places = {args["location"] for _, args in facts["turns"][0]["calls"]}
        assert len(places) == 1 or not any("," in p for p in places)
