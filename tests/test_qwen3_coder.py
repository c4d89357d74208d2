"""The qwen3-coder format: Qwen3-Coder's XML tool calls (Qwen3.5, Intern-S2-Preview).

The batch cases and the value rules are those of vLLM's ``qwen3_coder`` tool parser tests
(``tests/tool_parsers/test_qwen3coder_tool_parser.py``) and its ``_convert_param_value``;
SGLang's ``Qwen3CoderDetector`` follows the same rules except where noted.
"""

import itertools
import json
from typing import Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit import tool
from agentkit.formats import (
    AUTO,
    QWEN3,
    QWEN3_CODER,
    ParsedOutput,
    TextDelta,
    ToolCall,
    ToolCallArgsDelta,
    ToolCallMalformed,
    ToolCallOpened,
    ToolCallReady,
    detect_format,
    get_format,
)
from agentkit.formats._qwen3_coder import convert_value, tool_properties
from tests.test_formats import _allocation_traffic, _check_events

FMT = QWEN3_CODER


def ids():
    counter = itertools.count()
    return lambda: f"call_{next(counter)}"


def fn(name, properties):
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": properties}}}


WEATHER = fn("get_current_weather", {"city": {"type": "string"}, "state": {"type": "string"},
                                     "unit": {"type": "string", "enum": ["fahrenheit", "celsius"]}})  # fmt: skip
AREA = fn(
    "calculate_area", {"shape": {"type": "string"}, "dimensions": {"type": "object"}, "precision": {"type": "integer"}}
)
TOOLS = [WEATHER, AREA]


def parse(text, tools=TOOLS, fmt=FMT, **kw) -> ParsedOutput:
    return fmt.parse(text, id_factory=ids(), tools=tools, **kw)


def stream(chunks, tools=TOOLS, fmt=FMT, **kw):
    parser = fmt.stream_parser(id_factory=ids(), tools=tools, **kw)
    events = [e for c in chunks for e in parser.feed(c)] + parser.close()
    return parser, events


def calls(out):
    return [(c.name, json.loads(c.arguments)) for c in out.tool_calls]


def xml_call(name, **params):
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params.items())
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"


DALLAS = xml_call("get_current_weather", city="Dallas", state="TX", unit="fahrenheit")
ORLANDO = xml_call("get_current_weather", city="Orlando", state="FL", unit="celsius")
DALLAS_ARGS = {"city": "Dallas", "state": "TX", "unit": "fahrenheit"}
RECT = '<tool_call>\n<function=calculate_area>\n<parameter=shape>\nrectangle\n</parameter>\n<parameter=dimensions>\n{"width": 10, \n "height": 20}\n</parameter>\n<parameter=precision>\n2\n</parameter>\n</function>\n</tool_call>'
CIRCLE = xml_call("calculate_area", shape="circle", dimensions='{"radius": 15.5}', precision="3")

# vLLM's test_extract_tool_calls cases: (output, calls, content).
VLLM_CASES = [
    ("This is a test without tools", [], "This is a test without tools"),
    (DALLAS, [("get_current_weather", DALLAS_ARGS)], ""),
    ("Sure! Let me check the weather for you." + DALLAS, [("get_current_weather", DALLAS_ARGS)],
     "Sure! Let me check the weather for you."),
    (RECT, [("calculate_area", {"shape": "rectangle", "dimensions": {"width": 10, "height": 20}, "precision": 2})], ""),
    (DALLAS + "\n" + ORLANDO, [("get_current_weather", DALLAS_ARGS),
                               ("get_current_weather", {"city": "Orlando", "state": "FL", "unit": "celsius"})], ""),
    ("Let me calculate that area for you." + CIRCLE,
     [("calculate_area", {"shape": "circle", "dimensions": {"radius": 15.5}, "precision": 3})],
     "Let me calculate that area for you."),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected", "content"), VLLM_CASES)
def test_vllm_cases_batch_and_token_by_token(text, expected, content):
    out = parse(text)
    assert (calls(out), out.content, out.errors) == (expected, content, [])
    parser, events = stream(list(text))
    assert parser.output == out
    _check_events(events, out)


def test_ready_comes_at_function_close_before_the_wrapper_closes():
    parser = FMT.stream_parser(id_factory=ids(), tools=TOOLS)
    head, tail = DALLAS.split("</function>")
    assert not any(isinstance(e, ToolCallReady) for e in parser.feed(head))
    events = parser.feed("</function>")
    assert [type(e) for e in events][-1] is ToolCallReady and events[-1].call.name == "get_current_weather"
    assert parser.feed(tail + "\nAfter.") == [TextDelta("After.")]  # the wrapper's close is dropped
    assert parser.close() == []


def test_name_is_announced_then_each_parameter_as_it_ends():
    parser = FMT.stream_parser(id_factory=ids(), tools=TOOLS)
    assert parser.feed("<tool_call>\n<function=calculate_area") == []
    assert parser.feed(">\n") == [
        ToolCallOpened(index=0, id="call_0", name="calculate_area"),
        ToolCallArgsDelta(index=0, text="{"),
    ]
    assert parser.feed("<parameter=precision>\n2\n</param") == []
    assert parser.feed("eter>\n<parameter=shape>\nsquare") == [ToolCallArgsDelta(index=0, text='"precision": 2')]
    assert parser.feed("\n</parameter>\n") == [ToolCallArgsDelta(index=0, text=', "shape": "square"')]
    events = parser.feed("</function>")
    assert (
        events[0] == ToolCallArgsDelta(index=0, text="}")
        and events[1].call.arguments == '{"precision": 2, "shape": "square"}'
    )


def test_missing_opening_tag_is_tolerated():
    # vLLM's fallback (no <tool_call>) and its engine parser's streaming case.
    text = "I'll check the weather for you.\n\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nfahrenheit\n</parameter>\n</function>\n</tool_call>"
    out = parse(text)
    assert (calls(out), out.content) == ([("get_current_weather", DALLAS_ARGS)], "I'll check the weather for you.")
    assert stream(list(text))[0].output == out


@pytest.mark.parametrize(
    ("text", "args"),
    [
        # vLLM: a missing </parameter> ends at the next <parameter=, or at </function>.
        ("Let me check the weather for you:\n<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n"
         "<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nfahrenheit\n</parameter>\n</function>\n</tool_call>", DALLAS_ARGS),
        ("<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</function>\n</tool_call>", {"city": "Dallas"}),
        # A missing </function>: </tool_call> ends the call.
        ("<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n</tool_call>", {"city": "Dallas"}),
        ("<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</tool_call>", {"city": "Dallas"}),
        # Both missing, the last parameter closed: the end of the text ends the call.
        ("<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n", {"city": "Dallas"}),
        # A parameter tag cut by a close tag is dropped, as vLLM's regex does.
        ("<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=st</function>", {"city": "Dallas"}),
        # Values on the tag's line; one newline stripped at each end, others kept.
        ("<tool_call><function=get_current_weather><parameter=city>Dallas</parameter></function></tool_call>", {"city": "Dallas"}),
        ("<tool_call>\n<function=get_current_weather>\n<parameter=city>\n\nline 1\nline 2\n\n</parameter>\n</function>\n</tool_call>",
         {"city": "\nline 1\nline 2\n"}),
        # Text between the tags is ignored; the first of a repeated parameter wins.
        ("<tool_call>junk<function=get_current_weather>junk<parameter=city>\nA\n</parameter>x<parameter=city>\nB\n</parameter>\n</function>",
         {"city": "A"}),
    ],
)  # fmt: skip
def test_tolerated_malformations(text, args):
    out = parse(text)
    assert calls(out) == [("get_current_weather", args)] and out.errors == []
    parser, events = stream(list(text))
    assert parser.output == out
    _check_events(events, out)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<tool_call>\n<function=get_current_weather\n<parameter=city>Dallas</parameter>\n</function>\n</tool_call>",
         "invalid function name"),
        ("<tool_call>\n<function={{ tool.name }}>\n</function>\n</tool_call>", "invalid function name"),
        ("<tool_call>\n<function=>\n</function>\n</tool_call>", "invalid function name"),
        ('<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>', "no <function=NAME>"),
        ("<tool_call>\n</tool_call>", "no <function=NAME>"),
        ("<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDal", "inside the value of parameter 'city'"),
        ("<tool_call>\n<function=get_current_weather>\n<parameter=ci", "inside a <parameter=NAME> tag"),
        ("<tool_call>\n<function=get_current_wea", "not closed with '>'"),
    ],
)  # fmt: skip
def test_malformed_blocks_land_in_errors(text, reason):
    out = parse("Before " + text)
    assert out.tool_calls == [] and out.content == "Before"
    (error,) = out.errors
    # The raw block ends at its close tag (a </tool_call> after </function> is the wrapper's).
    end = text.find("</function>")
    assert reason in error.reason and error.raw == (text if end < 0 else text[: end + len("</function>")])
    parser, events = stream(list("Before " + text))
    assert parser.output == out
    _check_events(events, out)


def test_a_bad_block_does_not_hide_the_good_one():
    # vLLM's test_none_tool_calls_filtered.
    text = "<tool_call>\n<function=bad_func_no_gt\n</function>\n</tool_call>\n" + DALLAS
    out = parse(text)
    assert calls(out) == [("get_current_weather", DALLAS_ARGS)] and len(out.errors) == 1


def test_whole_parameters_in_one_chunk():
    # vLLM's test_streaming_multi_param_single_chunk.
    deltas = ["<tool_call>", "\n<function=get_current_weather>", "\n",
              "<parameter=city>\nDallas\n</parameter>\n<parameter=state>\nTX\n</parameter>\n<parameter=unit>\nfahrenheit\n</parameter>",
              "\n</function>", "\n</tool_call>"]  # fmt: skip
    parser, events = stream(deltas)
    assert calls(parser.output) == [("get_current_weather", DALLAS_ARGS)]
    _check_events(events, parser.output)


# --- values: vLLM's _convert_param_value ---------------------------------------------------------

PROPS = {
    "s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number"}, "f": {"type": "float"},
    "b": {"type": "boolean"}, "o": {"type": "object"}, "a": {"type": "array"}, "any": {"type": "any"},
    "ns": {"anyOf": [{"type": "string"}, {"type": "null"}]}, "ni": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    "multi": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
    "listed": {"type": ["integer", "null"]}, "untyped": {"description": "x"}, "e": {"enum": ["a", "b"]},
    "null": {"type": "null"}, "u": {"type": "uint32"}, "d": {"type": "dict"}, "notdict": "string",
    "refs": {"anyOf": [{"$ref": "#/x"}, {"$ref": "#/y"}]}, "onlyint": {"anyOf": [{"type": "integer"}]},
    "odd": {"anyOf": ["type", {"type": "integer"}]}, "anydict": {"anyOf": {"type": "integer"}},
    "onlystr": {"anyOf": [{"type": "string"}]}, "bool": {"type": "bool"}, "binary": {"type": "binary"},
    "arr": {"type": "arr"}, "list": {"type": "list[int]"}, "dictx": {"type": "dict[str, int]"},
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("s", "hello world", "hello world"), ("s", "null", "null"), ("s", "42", "42"),
        ("ns", "null", None), ("ns", "None", None), ("ns", "x", "x"),
        ("i", "42", 42), ("i", " -7 ", -7), ("i", "null", None), ("i", "None", None), ("i", "4.5", "4.5"),
        ("i", "abc", "abc"), ("u", "3", 3), ("ni", "5", 5), ("ni", "NULL", None),
        ("n", "3.14", 3.14), ("n", "3.0", 3), ("n", "1e3", 1000), ("n", "-2", -2), ("f", "2.5", 2.5),
        ("n", "inf", "inf"), ("n", "nan", "nan"), ("n", "x", "x"),
        ("b", "true", True), ("b", "True", True), ("b", "false", False), ("b", "yes", False),
        ("o", '{"key": "value"}', {"key": "value"}), ("o", "{'k': 'v'}", {"k": "v"}),
        ("o", "\"{'k': 'v'}\"", {"k": "v"}), ("o", "not json", "not json"), ("o", "{1, 2}", "{1, 2}"),
        ("d", '{"a": 1}', {"a": 1}), ("a", '["a", "b", "c"]', ["a", "b", "c"]), ("a", "(1, 2)", [1, 2]),
        ("any", "42", 42), ("any", "hello", "hello"), ("any", "'quoted'", "quoted"), ("any", "[1, 'x']", [1, "x"]),
        ("any", "1e999", "1e999"), ("listed", "42", 42), ("listed", "null", None), ("listed", "text", "text"),
        ("multi", "some text", "some text"), ("multi", "7", "7"),
        ("untyped", "42", "42"), ("e", "a", "a"), ("notdict", "42", "42"), ("null", "None", None),
        ("unknown", "42", "42"), ("unknown", "null", "null"), ("untyped", "null", "null"),
        ("f", "3.0", 3), ("bool", "yes", False), ("bool", "TRUE", True), ("binary", "TRUE", True),
        ("a", '"[1, 2]"', [1, 2]), ("arr", '"[1, 2]"', [1, 2]), ("list", '"[1, 2]"', [1, 2]),
        ("dictx", "\"{'a': 1}\"", {"a": 1}), ("o", "'{\"k\": 1}'", {"k": 1}), ("any", "'\"x\"'", '"x"'),
        ("refs", "42", "42"), ("onlyint", "42", 42), ("onlystr", "null", "null"), ("odd", "7", 7), ("anydict", "7", "7"),
    ],
)  # fmt: skip
def test_values_follow_vllms_rules(name, text, value):
    xml = f"<tool_call>\n<function=t>\n<parameter={name}>\n{text}\n</parameter>\n</function>\n</tool_call>"
    (call,) = parse(xml, tools=[fn("t", PROPS)]).tool_calls
    assert json.loads(call.arguments) == {name: value}
    assert type(json.loads(call.arguments)[name]) is type(value)


def test_convert_value_directly():
    assert convert_value("3.0", "n", PROPS) == 3 and isinstance(convert_value("3.0", "n", PROPS), int)
    assert convert_value("x", "n", {}) == "x"


def test_without_tools_every_value_is_a_string():
    out = parse(CIRCLE, tools=None)
    assert calls(out) == [("calculate_area", {"shape": "circle", "dimensions": '{"radius": 15.5}', "precision": "3"})]
    assert calls(parse(CIRCLE, tools=[WEATHER])) == calls(out)  # a tool not given: strings too


def test_tools_as_agentkit_tools_and_bare_function_entries():
    @tool
    def search(query: str, count: Optional[int] = None, verbose: bool = False) -> str:
        """Search."""
        return query

    text = "<tool_call>\n<function=search>\n<parameter=query>\nvllm tool parser\n</parameter>\n<parameter=count>\n10\n</parameter>\n<parameter=verbose>\ntrue\n</parameter>\n</function>\n</tool_call>"
    expected = [("search", {"query": "vllm tool parser", "count": 10, "verbose": True})]
    assert calls(parse(text, tools=[search])) == expected
    assert calls(parse(text, tools=[search.schema["function"]])) == expected
    assert tool_properties([search, {"name": "search", "parameters": {}}, "junk", {"function": 1}]) == {
        "search": search.parameters["properties"]
    }
    odd = [
        "junk",
        {"function": 1},
        {"name": "g", "parameters": {"properties": ["x"]}},
        {"name": "h", "parameters": "x"},
    ]
    assert tool_properties([*odd, search]) == {"g": {}, "h": {}, "search": search.parameters["properties"]}


def test_strings_are_not_double_encoded():
    text = "<tool_call>\n<function=greet>\n<parameter=message>hello world</parameter>\n</function>\n</tool_call>"
    (call,) = parse(text, tools=[fn("greet", {"message": {"type": "string"}})]).tool_calls
    assert call.arguments == '{"message": "hello world"}'


# --- the other families' conventions ---------------------------------------------------------------


def test_calls_inside_think_are_thought_text_and_reasoning_is_split():
    out = parse("<think>\nmaybe " + DALLAS + "\n</think>\n\nOK." + DALLAS)
    assert out.reasoning.startswith("maybe <tool_call>") and out.content == "OK."
    assert calls(out) == [("get_current_weather", DALLAS_ARGS)]
    assert parse("thinking</think>" + DALLAS, in_reasoning=None).reasoning == "thinking"
    assert parse(DALLAS + "</think>", in_reasoning=None).reasoning is None


def test_wrapper_close_elsewhere_is_text():
    assert parse("Use </tool_call> to close.").content == "Use </tool_call> to close."
    out = parse(DALLAS.replace("\n</tool_call>", " x </tool_call>"))
    assert out.content == "x </tool_call>" and len(out.tool_calls) == 1
    # The wrappers leave the text around the calls as Qwen3's JSON calls do.
    qwen3_call = '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>'
    assert parse("A" + DALLAS + "\n" + ORLANDO + "\nB").content == "A\n\nB"
    assert QWEN3.parse("A" + qwen3_call + "\n" + qwen3_call + "\nB").content == "A\n\nB"


@pytest.mark.parametrize(
    ("name", "prefix", "fill", "suffix"),
    [
        ("value", "<tool_call>\n<function=f>\n<parameter=s>\n", "ab<c", "\n</parameter>\n</function>"),
        ("name", "<tool_call>\n<function=", "abcd", ">\n</function>"),
        ("parameter name", "<tool_call>\n<function=f>\n<parameter=", "abcd", ">\nx\n</parameter>\n</function>"),
        ("many parameters", "<tool_call>\n<function=f>\n", "<parameter=p>\n1\n</parameter>\n", "</function>"),
        ("junk in the body", "<tool_call>\n<function=f>\n", "ab<p", "</function>"),
    ],
)
def test_streaming_work_is_linear(name, prefix, fill, suffix):
    small = _allocation_traffic(FMT, prefix, fill, suffix, 20_000, 4)
    large = _allocation_traffic(FMT, prefix, fill, suffix, 80_000, 4)
    assert large / small < 6, (name, small, large)


PIECES = ["<tool_call>", "</tool_call>", "<function=", "</function>", "<parameter=", "</parameter>", "<think>",
          "</think>", "<tool", "</par", "<func", "<", ">", "\n", " ", "f", "city", "i", "42", "x y", "null",
          '{"a": 1}', DALLAS, "é🌧"]  # fmt: skip
# Text, a call closed by its own </function>, blank text, text: what follows the blank decides
# whether it is content or dropped with a </tool_call>.
AROUND_A_CALL = st.tuples(
    st.sampled_from(["x", "é🌧", "</think>x", "<think>x</think>y"]),
    st.sampled_from(["<function=f>\n<parameter=i>\n1\n</parameter>\n</function>", "<tool_call>\n<function=f>\n</function>"]),
    st.text(" \n\t", min_size=1, max_size=3),
    st.sampled_from(["</tool_call>", "<function=f>\n</function>", "x", "x y", "<", "</tool_call>x"]),
).map(list)


@st.composite
def chunked(draw):
    pieces = draw(st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=30) | AROUND_A_CALL)
    text = "".join(pieces)
    # Cuts anywhere, and often where a piece ends: a chunk that is exactly a tag, or exactly the
    # blank text after one, is where the stream's held-back text is decided.
    ends = list(itertools.accumulate(map(len, pieces), initial=0))
    cuts = sorted(draw(st.lists(st.integers(0, len(text)) | st.sampled_from(ends), max_size=12)))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds)]


@given(data=chunked(), in_reasoning=st.sampled_from([False, True, None]), fmt=st.sampled_from([FMT, AUTO]))
def test_stream_equals_batch_for_any_chunking(data, in_reasoning, fmt):
    text, chunks = data
    tools = [fn("f", {"i": {"type": "integer"}, "city": {"type": "string"}})]
    out = parse(text, tools=tools, fmt=fmt, in_reasoning=in_reasoning)
    parser, events = stream(chunks, tools=tools, fmt=fmt, in_reasoning=in_reasoning)
    assert parser.output == out
    _check_events(events, out)
    for call in out.tool_calls:
        assert isinstance(json.loads(call.arguments), dict)


@pytest.mark.parametrize(
    ("text", "content"),
    [
        ("Before.<function=f>\n<parameter=i>\n1\n</parameter>\n</function>\n\nAfter.", "Before.\n\nAfter."),
        ("Before.\n<tool_call>\n<function=f>\n</function>\n \nAfter.", "Before.\n\n \nAfter."),
        ("Before.\n<tool_call>\n<function=f>\n</function>\n \n</tool_call>\nAfter.", "Before.\n\nAfter."),
    ],
)
def test_the_blank_text_after_a_call_closed_by_its_own_tag_is_the_same_in_every_chunking(text, content):
    # Held after </function> until </tool_call> (dropped with it) or other text (then content).
    tools = [fn("f", {"i": {"type": "integer"}})]
    assert parse(text, tools=tools).content == content
    for cut in range(len(text) + 1):
        assert stream([text[:cut], text[cut:]], tools=tools)[0].output.content == content, cut
    assert stream(list(text), tools=tools)[0].output.content == content


def reference(text: str) -> tuple[str, list[tuple[str, str]], list[str]]:
    """An independent batch reading of the rules on docs/formats.md (no think tags, no tools):
    (content, [(name, arguments)], [raw of each malformed block])."""
    bad_name = set("{}<>\"' \t\n\r")
    content, found, errors, pos = [], [], [], 0
    while True:
        starts = [(i, t) for t in ("<tool_call>", "<function=") if (i := text.find(t, pos)) >= 0]
        if not starts:
            content.append(text[pos:])
            break
        start, tag = min(starts)
        content.append(text[pos:start])
        body_from = start + len(tag)
        ends = [(i, t) for t in ("</function>", "</tool_call>") if (i := text.find(t, body_from)) >= 0]
        end, end_tag = min(ends) if ends else (len(text), "")
        body, pos = text[body_from:end], end + len(end_tag)
        raw = tag + body + end_tag
        if end_tag == "</function>":  # the wrapper's close after it is dropped with the blanks
            j = pos
            while j < len(text) and text[j].isspace():
                j += 1
            if text.startswith("</tool_call>", j):
                pos = j + len("</tool_call>")
        if tag == "<tool_call>":
            f = body.find("<function=")
            if f < 0:
                errors.append(raw)
                continue
            body = body[f + len("<function=") :]
        gt = body.find(">")
        name = body[:gt]
        if gt < 0 or not name or bad_name & set(name):
            errors.append(raw)
            continue
        args, rest, cut = {}, body[gt + 1 :], False
        while (p := rest.find("<parameter=")) >= 0:
            rest = rest[p + len("<parameter=") :]
            gt = rest.find(">")
            if gt < 0:
                cut = not end_tag
                break
            key, rest = rest[:gt], rest[gt + 1 :]
            ends = [i for t in ("</parameter>", "<parameter=") if (i := rest.find(t)) >= 0]
            if not ends and not end_tag:
                cut = True
                break
            value = rest[: min(ends)] if ends else rest
            if rest.startswith("</parameter>", len(value)):
                rest = rest[len(value) + len("</parameter>") :]
            else:
                rest = rest[len(value) :]
            value = value[1:] if value.startswith("\n") else value
            args.setdefault(key, value[:-1] if value.endswith("\n") else value)
        if cut:
            errors.append(raw)
        else:
            found.append((name, json.dumps(args, ensure_ascii=False)))
    return "".join(content).strip(), found, errors


XML_PIECES = [p for p in PIECES if "think" not in p] + ["<function=f>", "<parameter=city>", "\n</parameter>\n", "x\n"]


@given(text=st.lists(st.sampled_from(XML_PIECES) | st.text(max_size=4), max_size=30).map("".join))
def test_batch_equals_the_independent_reference(text):
    out = parse(text, tools=None)
    content, found, errors = reference(text)
    assert out.content == content
    assert [(c.name, c.arguments) for c in out.tool_calls] == found
    assert [e.raw for e in out.errors] == errors


# --- rendering, names, detection -------------------------------------------------------------------


@given(
    name=st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True),
    args=st.fixed_dictionaries(
        {},
        optional={"s": st.text(st.characters(blacklist_characters="<\r"), max_size=12), "i": st.integers(),
                  "b": st.booleans(), "o": st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
                  "a": st.lists(st.text(max_size=4), max_size=3)},
    ),
)  # fmt: skip
def test_render_then_parse_returns_the_calls(name, args):
    tools = [fn(name, {k: PROPS[k] for k in ("s", "i", "b", "o", "a")})]
    call = ToolCall(id="x", name=name, arguments=json.dumps(args))
    out = parse(FMT.render_message("Some text", [call, call]), tools=tools)
    assert calls(out) == [(name, args), (name, args)] and out.content == "Some text"


def test_rendering_is_exact():
    call = {
        "id": "x",
        "type": "function",
        "function": {"name": "f", "arguments": '{"city": "東京", "n": 2, "o": {"a": [1]}}'},
    }
    assert FMT.render_tool_call(call) == (
        "<tool_call>\n<function=f>\n<parameter=city>\n東京\n</parameter>\n<parameter=n>\n2\n</parameter>\n"
        '<parameter=o>\n{"a": [1]}\n</parameter>\n</function>\n</tool_call>'
    )
    assert (
        FMT.render_tool_call(ToolCall(id="x", name="g", arguments=""))
        == "<tool_call>\n<function=g>\n</function>\n</tool_call>"
    )
    assert FMT.render_tool_result("{}") == "<tool_response>\n{}\n</tool_response>"


def test_names_and_aliases():
    for name in ("qwen3-coder", "Qwen3_Coder", "qwen3_xml", "interns2-preview", "Intern-S2-Preview"):
        assert get_format(name) is FMT
    assert get_format("auto") is AUTO


CODER_LIKE_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if tools %}<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n"
    "</parameter>\n</function>\n</tool_call>{% endif %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_detect_format():
    fmt = detect_format(CODER_LIKE_TEMPLATE)
    assert fmt is not None and fmt.name == "qwen3-coder" and fmt.generation_opens_think is False
    qwen = detect_format("<tool_call>{{ messages }}")
    assert qwen is not None and qwen.name == "qwen3"


def test_auto_reads_every_family():
    json_call = '<tool_call>\n{"name": "f", "arguments": {"i": 1}}\n</tool_call>'
    is1 = '<|action_start|><|plugin|>\n{"name": "g", "parameters": {}}<|action_end|>'
    bare = "<function=h>\n<parameter=i>\n2\n</parameter>\n</function>\n</tool_call>"
    text = f"A {json_call} B {DALLAS} C {is1} D {bare} E"
    out = parse(text, tools=[fn("h", {"i": {"type": "integer"}})], fmt=AUTO)
    assert calls(out) == [("f", {"i": 1}), ("get_current_weather", DALLAS_ARGS), ("g", {}), ("h", {"i": 2})]
    assert out.content == "A  B  C  D  E" and out.errors == []
    assert [c.id for c in out.tool_calls] == ["call_0", "call_1", "call_2", "call_3"]
    parser, events = stream(list(text), tools=[fn("h", {"i": {"type": "integer"}})], fmt=AUTO)
    assert parser.output == out
    assert [e.index for e in events if isinstance(e, ToolCallReady)] == [0, 1, 2, 3]
    _check_events(events, out)
    # A blank first piece decides nothing: the body's first tag does.
    parser, _ = stream(["<tool_call>", "\n", " ", "<function=h>\n<parameter=i>\n2\n</parameter>\n</function>\n</tool_call>"],
                       tools=[fn("h", {"i": {"type": "integer"}})], fmt=AUTO)  # fmt: skip
    assert calls(parser.output) == [("h", {"i": 2})]
    (error,) = parse("<tool_call> \n </tool_call>", fmt=AUTO).errors
    assert "empty" in error.reason
    assert calls(parse(DALLAS, fmt=QWEN3)) == []  # Qwen3 itself reads JSON bodies only


def test_auto_tolerates_the_same_missing_tags():
    tools = [fn("f", {"i": {"type": "integer"}})]
    for text in ("<tool_call>\n<function=f>\n<parameter=i>\n1\n</tool_call>",
                 "<tool_call>\n<function=f>\n<parameter=i>\n1\n</function>\n<parameter=j>\n2\n</parameter>\n</tool_call>",
                 "<tool_call>\n<function=f>\n<parameter=i>\n1\n</parameter>\n</function>\n<parameter=j>\n2\n</parameter>\n</tool_call>",
                 "<function=f>\n<parameter=i>\n1\n</parameter>\n"):  # fmt: skip
        out = parse(text, tools=tools, fmt=AUTO)
        assert (calls(out), out.errors) == ([("f", {"i": 1})], []), text
    (error,) = parse("<tool_call>\n<function=f>\n<parameter=i>\n1", tools=tools, fmt=AUTO).errors
    assert "inside the value" in error.reason


def test_non_ascii_values_are_kept_as_written():
    tools = [fn("f", {"o": {"type": "object"}, "s": {"type": "string"}})]
    (call,) = parse(
        '<function=f>\n<parameter=o>\n{"city": "東京"}\n</parameter>\n<parameter=s>\né\n</parameter>\n</function>',
        tools=tools,
    ).tool_calls
    assert call.arguments == '{"o": {"city": "東京"}, "s": "é"}'
    (call,) = parse("<function=f>\n<parameter=o>\n{'é', 'x'}\n</parameter>\n</function>", tools=tools).tool_calls
    assert call.arguments == "{\"o\": \"{'é', 'x'}\"}"  # a set has no JSON form: the text, as written
    (call,) = parse("<function=f>\n<parameter=città>\nRoma\n</parameter>\n</function>").tool_calls
    assert call.arguments == '{"città": "Roma"}'
    rendered = FMT.render_tool_call(ToolCall(id="x", name="f", arguments='{"a": ["é"]}'))
    assert '<parameter=a>\n["é"]\n</parameter>' in rendered


@pytest.mark.anyio
@pytest.mark.parametrize("streaming", [False, True])
async def test_an_agent_on_a_scripted_coder_model_gets_typed_arguments(streaming):
    from agentkit import Agent
    from agentkit.testing import ScriptedModel

    @tool
    def repeat(word: str, times: int) -> str:
        """Repeat a word."""
        return word * times

    model = ScriptedModel(["<tool_call>\n<function=repeat>\n<parameter=word>\nab\n</parameter>\n"
                           "<parameter=times>\n3\n</parameter>\n</function>\n</tool_call>", "Done."],
                          format="qwen3-coder")  # fmt: skip
    agent = Agent(model, [repeat])
    if streaming:
        events = [e async for e in agent.stream("Repeat ab three times.")]
        result = events[-1].result
    else:
        result = await agent.run("Repeat ab three times.")
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == ["ababab"]


def test_malformed_after_opened_is_reported_once():
    text = "<tool_call>\n<function=f>\n<parameter=i>\n1\n</parameter>\n<parameter=s>\nunfinished"
    _, events = stream(list(text))
    assert sum(isinstance(e, ToolCallOpened) for e in events) == 1
    assert isinstance(events[-1], ToolCallMalformed) and events[-1].error.raw == text
