"""The weather demo's second generator: the questions a newcomer asks (issue 29).

Built compositionally, so that every feature meets every other: one to three places (one call
each, all in one message), a unit in many phrasings (Fahrenheit, °F, Celsius...), today's date
before or after the question, "now", "today", a date, "tomorrow" (month ends and leap days
oversampled), places with a country, questions in English, German, French, Spanish and Chinese
(answered in the question's language), asking back when the place or the day is missing, and
follow-ups that reuse the place, the day or the unit of the turn before ("And in Darwin?",
"And tomorrow?"). `dialog` returns the messages and, per user turn, what a correct run does.
"""

from __future__ import annotations

import datetime
import json
import random

from tools._weather_data import (
    ANSWER_THOUGHT,
    HELDOUT_CITIES,
    SYSTEM,
    TRAIN_CITIES,
    date_thought,
    off_topic_question,
    random_city,
    random_date,
)

LANGS = {"en": 5, "de": 1.2, "fr": 1.2, "es": 1.2, "zh": 1.2}
# What the question asks about ("both": now and tomorrow).
TIMES = {"now": 3, "today": 1, "date": 2, "tomorrow": 3, "both": 2}
KINDS = {"ask": 3, "places": 4, "follow-up": 3, "answer-the-ask": 1.2, "off-topic": 0.8}

# Per language: question templates per time ({P} places, {d} a date), today's date before and
# after the question ({t}), unit phrases (inline before the "?" and as a sentence), the word
# joining places, follow-ups, answers ({c} a place, {v} a value, {s} the unit symbol).
L: dict[str, dict[str, list[str]]] = {
    "en": {
        "now": ["What's the temperature in {P} now?", "How warm is it in {P} right now?", "What is the current temperature in {P}?",
                "Current temperature in {P}?", "How hot is it in {P} at the moment?", "Is it cold in {P} right now?",
                "Tell me the temperature in {P}.", "temperature in {P} now?", "How many degrees is it in {P} now?",
                "Compare the current temperatures of {P}.", "What's it like in {P} right now, temperature-wise?"],
        "today": ["What's the temperature in {P} today?", "How warm is it in {P} today?", "Is it hot in {P} today?"],
        "date": ["What will the temperature be in {P} on {d}?", "What's the temperature in {P} on {d}?", "How warm will {P} be on {d}?",
                 "Temperature for {P}, {d}?", "On {d}, how warm will it be in {P}?", "Temperature in {P} on {d}, please."],
        "tomorrow": ["What's the temperature in {P} tomorrow?", "How warm will it be in {P} tomorrow?", "Tomorrow's temperature in {P}?",
                     "How cold will {P} be tomorrow?", "Will it be warm in {P} tomorrow?"],
        "both": ["What's the temperature in {P} now? How about tomorrow?", "How warm is {P} now, and tomorrow?",
                 "What's the temperature in {P} today and tomorrow?", "Temperature in {P} now and tomorrow?"],
        "before": ["Today is {t}. ", "Today is {t}, ", "It's {t}. ", "Date: {t}. ", "It is {t} today. "],
        "after": [" Today is {t}.", " (Today is {t}.)", " It's {t} today.", " The date today is {t}."],
        "F_in": [", in Fahrenheit", " in Fahrenheit", " in °F", " in degrees Fahrenheit", " (°F)", ", in fahrenheit"],
        "F_end": [" In Fahrenheit, please.", " Answer in fahrenheit.", " Please use °F.", " Give it in degrees Fahrenheit."],
        "C_in": [", in Celsius", " in °C", " in degrees Celsius", " (Celsius)"],
        "C_end": [" In Celsius, please.", " Use °C.", " Answer in celsius."],
        "and": [" and ", " and in "], "more": [", "],
        "new place": ["And in {P}?", "What about {P}?", "How about {P}?", "And {P}?", "Same for {P}?"],
        "new tomorrow": ["And tomorrow?", "What about tomorrow?", "How about tomorrow?", "And tomorrow there?"],
        "new date": ["And on {d}?", "What about {d}?", "How about on {d}?"],
        "new now": ["And right now?", "What about now?"],
        "new F": ["And in Fahrenheit?", "Can you give that in °F?", "In Fahrenheit?"],
        "give date": ["Today is {t}.", "It's {t}.", "{t}"],
        "give place": ["In {P}.", "{P}", "For {P}, please."],
        "no place now": ["What's the temperature now?", "How warm is it right now?", "What is the current temperature?"],
        "no place": ["What's the temperature now?", "How warm is it right now?", "What's the temperature tomorrow?",
                     "Will it be cold on {d}?", "What's the temperature going to be today?"],
        "a now": ["The temperature in {c} is {v} {s} right now."],
        "a date": ["The temperature in {c} on {d} will be {v} {s}."],
        "a both": ["In {c} it is {v} {s} now, and it will be {w} {s} tomorrow ({d})."],
        "ask place": ["Which city would you like the temperature for?"],
        "ask day": ["I need today's date to work out tomorrow: what is today's date?"],
        "off": ["Who wrote {w}?", "What is the capital of {c}?", "Tell me a joke."],
        "refuse": ["Sorry, I can only tell you the temperature in a city: now, on a date, or tomorrow."],
    },
    "de": {
        "now": ["Wie warm ist es gerade in {P}?", "Wie ist die Temperatur in {P} jetzt?", "Wie viel Grad hat es aktuell in {P}?",
                "Temperatur in {P} jetzt?", "Ist es in {P} gerade kalt?"],
        "today": ["Wie warm ist es heute in {P}?", "Wie viel Grad hat es heute in {P}?"],
        "date": ["Wie warm wird es in {P} am {d}?", "Welche Temperatur hat {P} am {d}?", "Temperatur in {P} am {d}?"],
        "tomorrow": ["Wie warm wird es morgen in {P}?", "Wie ist die Temperatur in {P} morgen?", "Wird es morgen in {P} kalt?"],
        "both": ["Wie warm ist es in {P} jetzt und morgen?", "Wie ist die Temperatur in {P} heute und morgen?"],
        "before": ["Heute ist der {t}. ", "Es ist der {t}. ", "Datum: {t}. "],
        "after": [" Heute ist der {t}.", " (Heute ist {t}.)"],
        "F_in": [" in Fahrenheit", " in °F", " in Grad Fahrenheit"], "F_end": [" Bitte in Fahrenheit.", " Antworte in °F."],
        "C_in": [" in Celsius", " in Grad Celsius", " in °C"], "C_end": [" Bitte in Celsius."],
        "and": [" und ", " und in "], "more": [", "],
        "new place": ["Und in {P}?", "Und {P}?", "Was ist mit {P}?"], "new tomorrow": ["Und morgen?", "Und wie wird es morgen?"],
        "new date": ["Und am {d}?"], "new now": ["Und jetzt gerade?"], "new F": ["Und in Fahrenheit?"],
        "give date": ["Heute ist der {t}.", "{t}"], "give place": ["In {P}.", "{P}"],
        "no place now": ["Wie warm ist es gerade?"],
        "no place": ["Wie warm ist es gerade?", "Wie wird das Wetter morgen?", "Wie viel Grad hat es?"],
        "a now": ["In {c} sind es gerade {v} {s}."],
        "a date": ["Am {d} werden es in {c} {v} {s} sein."],
        "a both": ["In {c} sind es jetzt {v} {s}, morgen ({d}) werden es {w} {s} sein."],
        "ask place": ["Für welche Stadt möchten Sie die Temperatur wissen?"],
        "ask day": ["Ich brauche das heutige Datum, um morgen zu bestimmen: Welches Datum ist heute?"],
        "off": ["Wer hat {w} geschrieben?", "Erzähl mir einen Witz."],
        "refuse": ["Entschuldigung, ich kann nur die Temperatur in einer Stadt nennen: jetzt, an einem Datum oder morgen."],
    },
    "fr": {
        "now": ["Quelle est la température à {P} en ce moment ?", "Il fait combien à {P} maintenant ?",
                "Quelle température fait-il actuellement à {P} ?", "Température à {P} maintenant ?"],
        "today": ["Quelle température fait-il aujourd'hui à {P} ?"],
        "date": ["Quelle température fera-t-il à {P} le {d} ?", "Température à {P} le {d} ?"],
        "tomorrow": ["Quelle température fera-t-il à {P} demain ?", "Il fera combien demain à {P} ?"],
        "both": ["Quelle est la température à {P} maintenant et demain ?", "Il fait combien à {P} aujourd'hui et demain ?"],
        "before": ["Nous sommes le {t}. ", "On est le {t}. "], "after": [" Aujourd'hui, c'est le {t}.", " (Nous sommes le {t}.)"],
        "F_in": [" en Fahrenheit", " en °F", " en degrés Fahrenheit"], "F_end": [" En Fahrenheit, s'il vous plaît."],
        "C_in": [" en Celsius", " en degrés Celsius"], "C_end": [" En Celsius, s'il vous plaît."],
        "and": [" et ", " et à "], "more": [", "],
        "new place": ["Et à {P} ?", "Et {P} ?"], "new tomorrow": ["Et demain ?"], "new date": ["Et le {d} ?"],
        "new now": ["Et maintenant ?"], "new F": ["Et en Fahrenheit ?"],
        "give date": ["Nous sommes le {t}.", "{t}"], "give place": ["À {P}.", "{P}"],
        "no place now": ["Quelle est la température en ce moment ?"],
        "no place": ["Quelle est la température en ce moment ?", "Il fera combien demain ?"],
        "a now": ["À {c}, il fait actuellement {v} {s}."],
        "a date": ["Le {d}, il fera {v} {s} à {c}."],
        "a both": ["À {c}, il fait {v} {s} maintenant et il fera {w} {s} demain ({d})."],
        "ask place": ["Pour quelle ville voulez-vous la température ?"],
        "ask day": ["J'ai besoin de la date d'aujourd'hui pour savoir quel jour est demain : quelle est la date ?"],
        "off": ["Qui a écrit {w} ?", "Raconte-moi une blague."],
        "refuse": ["Désolé, je ne peux donner que la température d'une ville : maintenant, à une date ou demain."],
    },
    "es": {
        "now": ["¿Qué temperatura hace ahora en {P}?", "¿Cuántos grados hay en {P} ahora mismo?", "¿Hace frío en {P} ahora?",
                "¿Temperatura actual en {P}?"],
        "today": ["¿Qué temperatura hace hoy en {P}?"],
        "date": ["¿Qué temperatura hará en {P} el {d}?", "¿Temperatura en {P} el {d}?"],
        "tomorrow": ["¿Qué temperatura hará mañana en {P}?", "¿Cuántos grados habrá en {P} mañana?"],
        "both": ["¿Qué temperatura hace en {P} ahora y mañana?", "¿Cuántos grados hay en {P} hoy y mañana?"],
        "before": ["Hoy es {t}. ", "Estamos a {t}. "], "after": [" Hoy es {t}.", " (Hoy es {t}.)"],
        "F_in": [" en Fahrenheit", " en °F", " en grados Fahrenheit"], "F_end": [" En Fahrenheit, por favor."],
        "C_in": [" en Celsius", " en grados Celsius"], "C_end": [" En Celsius, por favor."],
        "and": [" y ", " y en "], "more": [", "],
        "new place": ["¿Y en {P}?", "¿Y {P}?"], "new tomorrow": ["¿Y mañana?"], "new date": ["¿Y el {d}?"],
        "new now": ["¿Y ahora?"], "new F": ["¿Y en Fahrenheit?"],
        "give date": ["Hoy es {t}.", "{t}"], "give place": ["En {P}.", "{P}"],
        "no place now": ["¿Qué temperatura hace ahora?"],
        "no place": ["¿Qué temperatura hace ahora?", "¿Hará frío mañana?"],
        "a now": ["En {c} hace ahora {v} {s}."],
        "a date": ["El {d} hará {v} {s} en {c}."],
        "a both": ["En {c} hace {v} {s} ahora y mañana ({d}) hará {w} {s}."],
        "ask place": ["¿De qué ciudad quiere saber la temperatura?"],
        "ask day": ["Necesito la fecha de hoy para saber qué día es mañana: ¿qué fecha es hoy?"],
        "off": ["¿Quién escribió {w}?", "Cuéntame un chiste."],
        "refuse": ["Lo siento, solo puedo decir la temperatura de una ciudad: ahora, en una fecha o mañana."],
    },
    "zh": {
        "now": ["{P}现在多少度？", "{P}现在的气温是多少？", "现在{P}的温度是多少？", "{P}现在冷吗？"],
        "today": ["{P}今天多少度？", "今天{P}的气温是多少？"],
        "date": ["{P}在{d}的气温是多少？", "{d}{P}多少度？"],
        "tomorrow": ["{P}明天多少度？", "明天{P}的气温是多少？"],
        "both": ["{P}现在和明天的气温是多少？", "{P}今天和明天多少度？"],
        "before": ["今天是{t}。", "今天是{t}，"], "after": ["今天是{t}。", "（今天是{t}）"],
        "F_in": ["，用华氏度", "（°F）", "，华氏"], "F_end": ["请用华氏度。"],
        "C_in": ["，用摄氏度", "（°C）"], "C_end": ["请用摄氏度。"],
        "and": ["和"], "more": ["、"],
        "new place": ["那{P}呢？", "{P}呢？"], "new tomorrow": ["明天呢？", "那明天呢？"], "new date": ["{d}呢？"],
        "new now": ["现在呢？"], "new F": ["用华氏度呢？"],
        "give date": ["今天是{t}。", "{t}"], "give place": ["{P}。", "{P}"],
        "no place now": ["现在多少度？"],
        "no place": ["现在多少度？", "明天冷吗？"],
        "a now": ["{c}现在的气温是{v} {s}。"],
        "a date": ["{c}在{d}的气温将是{v} {s}。"],
        "a both": ["{c}现在是{v} {s}，明天（{d}）将是{w} {s}。"],
        "ask place": ["您想查询哪个城市的气温？"],
        "ask day": ["我需要今天的日期才能算出明天：今天是几号？"],
        "off": ["{w}是谁写的？", "给我讲个笑话。"],
        "refuse": ["抱歉，我只能告诉您某个城市的气温：现在、某一天或明天。"],
    },
}  # fmt: skip

# Places as people write them in each language; a quarter of each list is held out of training.
LOCAL_CITIES = {
    "de": ["München", "Köln", "Zürich", "Düsseldorf", "Wien", "Genf", "Nürnberg", "Göteborg", "Frankfurt am Main", "Mailand",
           "Lüneburg", "Saarbrücken"],
    "fr": ["Montréal", "Genève", "Bruxelles", "Québec", "Nîmes", "Besançon", "Londres", "Pékin", "Saint-Étienne", "Orléans",
           "Trois-Rivières", "Béziers"],
    "es": ["Bogotá", "Ciudad de México", "Nueva York", "Málaga", "Córdoba", "Cádiz", "Londres", "San José", "Asunción",
           "Mérida", "León", "Medellín"],
    "zh": ["北京", "上海", "东京", "伦敦", "巴黎", "柏林", "悉尼", "纽约", "香港", "广州", "深圳", "成都", "杭州", "武汉",
           "西安", "南京", "重庆", "天津", "首尔", "新加坡"],
}  # fmt: skip
_HAN = "安北东南西京上海广州深圳成都杭武汉重庆天津长沙宁波苏青岛大连厦门福昆明贵阳兰拉萨乌鲁木齐哈尔滨沈春吉林石家庄太原郑济合肥南昌"
COUNTRIES = ["USA", "Iceland", "Australia", "Canada", "Germany", "France", "Spain", "Japan", "China", "Brazil", "Nigeria",
             "Ghana", "Kenya", "Norway", "Italy", "UK", "Mexico", "India", "New Zealand", "Chile"]  # fmt: skip
STATES = ["CA", "Texas", "NY", "Ontario", "Bavaria", "Queensland", "Florida", "Oregon"]
_ACCENTS = "éèüöäñçàô"


def _held(names: list[str], heldout: bool) -> list[str]:
    cut = len(names) * 3 // 4
    return names[cut:] if heldout else names[:cut]


def place(rng: random.Random, lang: str, heldout: bool) -> str:
    """A place as a user of `lang` writes it: a local name, a real or a random name, sometimes with a country."""
    r = rng.random()
    if lang in LOCAL_CITIES and r < 0.45:
        return rng.choice(_held(LOCAL_CITIES[lang], heldout))
    if lang == "zh" and r < 0.7:
        return "".join(rng.choice(_HAN) for _ in range(rng.randint(2, 3)))
    if r < 0.8:
        name = rng.choice(HELDOUT_CITIES if heldout else TRAIN_CITIES)
    else:
        name = random_city(rng)
        if rng.random() < 0.3:  # letters beyond ASCII, copied byte by byte
            i = rng.randrange(1, len(name)) if len(name) > 1 else 0
            name = name[:i] + rng.choice(_ACCENTS) + name[i + 1 :] if name[i] != " " else name
    if lang != "zh" and rng.random() < 0.2:
        name += ", " + (rng.choice(STATES) + ", " if rng.random() < 0.3 else "") + rng.choice(COUNTRIES)
    return name


def day(rng: random.Random) -> datetime.date:
    """Today's date: month ends, the days before them and the day before a leap day oversampled."""
    if rng.random() < 0.08:
        return datetime.date(rng.choice([2020, 2024, 2028]), 2, 28)
    return random_date(rng)


def join(rng: random.Random, lang: str, places: list[str]) -> str:
    if len(places) == 1:
        return places[0]
    return rng.choice(L[lang]["more"]).join(places[:-1]) + rng.choice(L[lang]["and"]) + places[-1]


def with_unit(rng: random.Random, lang: str, question: str, unit: str | None) -> str:
    if unit is None:
        return question
    key = "F" if unit == "fahrenheit" else "C"
    if question[-1] in "?？" and rng.random() < 0.6:
        end = 2 if question.endswith(" ?") else 1  # French puts a space before "?"
        return question[:-end] + rng.choice(L[lang][key + "_in"]) + question[-end:]
    return question + rng.choice(L[lang][key + "_end"])


def with_today(rng: random.Random, lang: str, question: str, today: datetime.date | None) -> str:
    if today is None:
        return question
    where = "before" if rng.random() < 0.55 else "after"
    text = rng.choice(L[lang][where]).format(t=today.isoformat())
    return text + question if where == "before" else question + text


class Turn:
    """What one user turn asks: places, time, unit, today's date (None: not known)."""

    def __init__(self, places: list[str], time: str, unit: str | None, today: datetime.date | None, date: str | None):
        self.places, self.time, self.unit, self.today, self.date = places, time, unit, today, date

    def calls(self) -> list[tuple[str, dict]]:
        unit = {"unit": self.unit} if self.unit else {}
        tomorrow = (self.today + datetime.timedelta(days=1)).isoformat() if self.today else ""
        out: list[tuple[str, dict]] = []
        for p in self.places:
            if self.time in ("now", "today", "both"):
                out.append(("get_current_temperature", {"location": p, **unit}))
            if self.time == "date":
                out.append(("get_temperature_date", {"location": p, "date": self.date, **unit}))
            if self.time in ("tomorrow", "both"):
                out.append(("get_temperature_date", {"location": p, "date": tomorrow, **unit}))
        return out

    def needs_day(self) -> bool:
        return self.time in ("tomorrow", "both") and self.today is None


def thought(turn: Turn) -> str:
    n = len(turn.places)
    text = f"The user asks for the temperature {'now and tomorrow' if turn.time == 'both' else turn.time}"
    text += f" in {n} places: one call each." if n > 1 else "."
    if turn.time in ("tomorrow", "both") and turn.today:
        text += " " + date_thought(turn.today)
    if turn.unit:
        text += f" The unit is {turn.unit}."
    return text + " I will call " + " and ".join(dict.fromkeys(name for name, _ in turn.calls())) + "."


def answer(rng: random.Random, lang: str, turn: Turn, temps: list[float]) -> str:
    s = "°F" if turn.unit == "fahrenheit" else "°C"
    parts, i = [], 0
    for p in turn.places:
        if turn.time == "both":
            date = turn.calls()[i + 1][1]["date"]
            parts.append(L[lang]["a both"][0].format(c=p, v=temps[i], w=temps[i + 1], s=s, d=date))
            i += 2
        else:
            date = turn.calls()[i][1].get("date", "")
            key = "a now" if turn.time in ("now", "today") else "a date"
            parts.append(L[lang][key][0].format(c=p, v=temps[i], s=s, d=date))
            i += 1
    return ("" if lang == "zh" else " ").join(parts)


def first_question(rng: random.Random, lang: str, turn: Turn, date_known: bool) -> str:
    q = rng.choice(L[lang][turn.time]).format(P=join(rng, lang, turn.places), d=turn.date or "")
    q = with_unit(rng, lang, q, turn.unit)
    # "now" and a date need no today; it is sometimes given anyway, and must be ignored.
    return with_today(rng, lang, q, turn.today if date_known else None)


def follow_up(rng: random.Random, lang: str, prev: Turn, heldout: bool) -> tuple[str, Turn]:
    """The next question, reusing what `prev` asked about."""
    options = ["new place", "new place", "new F" if prev.unit != "fahrenheit" else "new place", "new date"]
    if prev.time not in ("both", "tomorrow"):  # "And tomorrow?" after tomorrow would repeat it
        options += ["new tomorrow"] * 2
    if prev.time not in ("now", "today", "both"):
        options.append("new now")
    what = rng.choice(options)
    turn = Turn(list(prev.places), prev.time, prev.unit, prev.today, prev.date)
    if what == "new place":
        turn.places = [place(rng, lang, heldout)]
        while turn.places[0] in prev.places:  # another place, not the same again
            turn.places = [place(rng, lang, heldout)]
        text = rng.choice(L[lang]["new place"]).format(P=join(rng, lang, turn.places))
    elif what == "new F":
        turn.unit = "fahrenheit"
        text = rng.choice(L[lang]["new F"])
    elif what == "new date":
        turn.time, turn.date = "date", random_date(rng).isoformat()
        text = rng.choice(L[lang]["new date"]).format(d=turn.date)
    elif what == "new now":
        turn.time = "now"
        text = rng.choice(L[lang]["new now"])
    else:
        turn.time = "tomorrow"
        text = rng.choice(L[lang]["new tomorrow"])
    return text, turn


def dialog(rng: random.Random, *, kind: str | None = None, lang: str | None = None, system: bool = True,
           thinking: bool = False, heldout: bool = False) -> tuple[list[dict], dict]:  # fmt: skip
    """One conversation: (messages, facts); facts["turns"] says per user turn what a correct run
    does: its calls (in order) and temperatures, or the fixed reply when it calls nothing."""
    lang = lang or rng.choices(list(LANGS), list(LANGS.values()))[0]
    kind = kind or rng.choices(list(KINDS), list(KINDS.values()))[0]
    text = L[lang]
    messages: list[dict] = [{"role": "system", "content": SYSTEM}] if system else []
    turns: list[dict] = []
    think = (lambda t: {"reasoning_content": t}) if thinking else (lambda t: {})

    def reply(content: str, why: str) -> None:
        messages.append({"role": "assistant", "content": content, **think(why)})
        turns.append({"calls": [], "temps": [], "places": [], "answer": content})

    def run(turn: Turn) -> None:
        calls = turn.calls()
        hot = turn.unit == "fahrenheit"
        temps = [round(rng.uniform(-10, 100) if hot else rng.uniform(-25, 40), 1) for _ in calls]
        tool_calls = [{"id": f"call_{len(messages)}_{i}", "type": "function",
                       "function": {"name": n, "arguments": json.dumps(a, ensure_ascii=False)}}
                      for i, (n, a) in enumerate(calls)]  # fmt: skip
        messages.append({"role": "assistant", "content": "", "tool_calls": tool_calls, **think(thought(turn))})
        for c, (n, a), t in zip(tool_calls, calls, temps, strict=True):
            result = {"temperature": t, **a, "unit": turn.unit or "celsius"}
            messages.append(
                {"role": "tool", "tool_call_id": c["id"], "name": n, "content": json.dumps(result, ensure_ascii=False)}
            )
        messages.append({"role": "assistant", "content": answer(rng, lang, turn, temps), **think(ANSWER_THOUGHT)})
        turns.append({"calls": calls, "temps": temps, "places": turn.places, "answer": None})

    def user(content: str) -> None:
        messages.append({"role": "user", "content": content})

    if kind == "off-topic":
        q = rng.choice(text["off"]).format(
            w=rng.choice(["Hamlet", "Faust", "Don Quijote"]), c=place(rng, lang, heldout)
        )
        user(q if lang != "en" or rng.random() < 0.3 else off_topic_question(rng, heldout))
        reply(text["refuse"][0], "This is not a question about the temperature in a city. I only answer those.")
        return messages, {"kind": kind, "lang": lang, "turns": turns}
    time = rng.choices(list(TIMES), list(TIMES.values()))[0]
    n = rng.choices([1, 2, 3], [5, 3, 2] if kind == "places" else [6, 1, 0])[0]
    unit = rng.choices([None, "fahrenheit", "celsius"], [5, 3, 1])[0]
    today = day(rng)
    # A country only with a single place: "A, Spain, B and C" cannot be split.
    places = [place(rng, lang, heldout) for _ in range(n)]
    places = [p.split(", ")[0] for p in places] if n > 1 else places
    turn = Turn(places, time, unit, today, random_date(rng).isoformat())
    if kind in ("ask", "answer-the-ask"):
        missing = "day" if rng.random() < 0.5 else "place"
        if missing == "day":
            turn.time = rng.choice(["tomorrow", "both"])
            turn.today = None
            user(first_question(rng, lang, turn, date_known=False))
            reply(text["ask day"][0], "The user asks about tomorrow but gives no date. I will ask for today's date.")
            if kind == "answer-the-ask":
                turn.today = today
                user(rng.choice(text["give date"]).format(t=today.isoformat()))
                run(turn)
        else:
            # Answering the ask continues a "now" question; the others ask back only.
            asked = rng.choice(text["no place now" if kind == "answer-the-ask" else "no place"])
            user(with_today(rng, lang, asked.format(d=turn.date), today if rng.random() < 0.5 else None))
            reply(text["ask place"][0], "The user asks about the temperature but names no city. I will ask which city.")
            if kind == "answer-the-ask":
                turn.time, turn.places = "now", turn.places[:1]
                user(rng.choice(text["give place"]).format(P=turn.places[0]))
                run(turn)
        return messages, {"kind": kind, "lang": lang, "turns": turns}
    date_known = turn.time in ("tomorrow", "both") or rng.random() < 0.3
    user(first_question(rng, lang, turn, date_known))
    if not date_known:
        turn.today = None
    run(turn)
    if kind == "follow-up":
        for _ in range(rng.choices([1, 2], [3, 1 if n == 1 else 0])[0]):
            question, nxt = follow_up(rng, lang, turn, heldout)
            user(question)
            if nxt.needs_day():
                reply(
                    text["ask day"][0], "The user asks about tomorrow but gives no date. I will ask for today's date."
                )
                break
            run(nxt)
            turn = nxt
    return messages, {"kind": kind, "lang": lang, "turns": turns}


def labels(messages: list[dict], facts: dict) -> list[str]:
    """The case kinds a conversation counts in, for per-kind tables."""
    out = [facts["kind"], "lang " + facts["lang"]]
    users = [m["content"] for m in messages if m["role"] == "user"]
    last = facts["turns"][-1]
    if len(users) > 1:
        out.append("multi-turn")
    places = {a["location"] for _, a in last["calls"]}
    if len(places) > 1:
        out.append("2-3 places")
    if any("unit" in a for _, a in last["calls"]):
        out.append("unit named")
    if any(", " in p for p in places):
        out.append("place with country")
    dates = [a.get("date") for _, a in last["calls"] if "date" in a]
    if any(d and d.endswith(("-01",)) and f"{d}" not in users[-1] for d in dates):
        out.append("tomorrow across a month end")
    if last["answer"] and last["answer"].rstrip()[-1] in "?？":
        out.append("asks back")
    return out
