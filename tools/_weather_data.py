"""The weather demo's first generator: the guide's questions (now, a date, tomorrow, now and
tomorrow), off-topic questions, questions without a place. Frozen: its held-out set is the one
agentkit/_demo/eval.json has scored since the first model, so that scores stay comparable;
tools/_weather_dialogs.py generates the wider questions.
"""

from __future__ import annotations

import datetime
import json
import random

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
