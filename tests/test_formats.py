import itertools
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit.formats import (
    AUTO,
    INTERN_S1,
    QWEN3,
    Format,
    ParsedOutput,
    ReasoningDelta,
    StreamParser,
    TextDelta,
    ToolCall,
    ToolCallArgsDelta,
    ToolCallMalformed,
    ToolCallOpened,
    ToolCallReady,
    detect_format,
    get_format,
    opens_think,
)
from tests import reference_parser as reference
from tests.server_cases import VLLM_CASES, VLLM_MALFORMED


def ids():
    counter = itertools.count()
    return lambda: f"call_{next(counter)}"


def parse(fmt: Format, text: str, **kw) -> ParsedOutput:
    return fmt.parse(text, id_factory=ids(), **kw)


def stream(fmt: Format, chunks: list[str], **kw):
    parser = fmt.stream_parser(id_factory=ids(), **kw)
    events = [e for c in chunks for e in parser.feed(c)] + parser.close()
    return parser, events


def calls(out: ParsedOutput) -> list[tuple[str, dict]]:
    return [(c.name, json.loads(c.arguments)) for c in out.tool_calls]


IS1_CALL = '<|action_start|><|plugin|>\n{"name": "get_current_temperature", "parameters": {"location": "San Francisco, CA, USA"}}<|action_end|>'
IS1_CALL2 = '<|action_start|><|plugin|>\n{"name": "get_temperature_date", "parameters": {"location": "San Francisco, CA, USA", "date": "2024-11-15"}}<|action_end|>'
QW_CALL = '<tool_call>\n{"name": "get_current_temperature", "arguments": {"location": "San Francisco, CA, USA"}}\n</tool_call>'
QW_CALL2 = '<tool_call>\n{"name": "get_temperature_date", "arguments": {"location": "San Francisco, CA, USA", "date": "2024-11-15"}}\n</tool_call>'
SF = {"location": "San Francisco, CA, USA"}
SF2 = {"location": "San Francisco, CA, USA", "date": "2024-11-15"}


# --- batch: cases of the peers' parser tests and ours -------------------------------------------


@pytest.mark.parametrize("fmt", [INTERN_S1, QWEN3])
def test_plain_text_has_no_calls(fmt):
    out = parse(fmt, "Hello! How can I help you today?")
    assert out == ParsedOutput(content="Hello! How can I help you today?")


def test_intern_s1_guide_output_with_thinking():
    text = f"The user wants now and tomorrow.\n</think>\n\nLet me check.\n{IS1_CALL}\n{IS1_CALL2}"
    out = parse(INTERN_S1, text, in_reasoning=True)
    assert out.reasoning == "The user wants now and tomorrow."
    assert out.content == "Let me check."
    assert calls(out) == [("get_current_temperature", SF), ("get_temperature_date", SF2)]
    assert [c.id for c in out.tool_calls] == ["call_0", "call_1"]
    assert out.errors == []


def test_qwen3_parallel_calls_and_explicit_think():
    text = f"<think>\nNeed two calls.\n</think>\n\n{QW_CALL}\n{QW_CALL2}"
    out = parse(QWEN3, text)
    assert out.reasoning == "Need two calls."
    assert out.content == ""
    assert calls(out) == [("get_current_temperature", SF), ("get_temperature_date", SF2)]


@pytest.mark.parametrize(("fmt", "call"), [(INTERN_S1, IS1_CALL), (QWEN3, QW_CALL)])
def test_text_before_between_and_after_calls_is_kept_in_order(fmt, call):
    out = parse(fmt, f"Before.\n{call}\nBetween.\n{call}\nAfter.")
    assert out.content == "Before.\n\nBetween.\n\nAfter."
    assert len(out.tool_calls) == 2
    assert len({c.id for c in out.tool_calls}) == 2


def test_ids_are_fresh_and_unique_by_default():
    out = INTERN_S1.parse(IS1_CALL * 3)
    assert len({c.id for c in out.tool_calls}) == 3
    assert all(re.fullmatch("call_[0-9a-f]{24}", c.id) for c in out.tool_calls)


def test_spaces_between_special_tokens_and_arguments_key():
    text = '<|action_start|> <|plugin|>\n{"name": "f", "arguments": {"a": 1}}<|action_end|>'
    assert calls(parse(INTERN_S1, text)) == [("f", {"a": 1})]


def test_arguments_are_kept_as_written():
    text = '<tool_call>\n{"name": "f", "arguments": {"b":2,  "a": "é"}}\n</tool_call>'
    assert parse(QWEN3, text).tool_calls[0].arguments == '{"b":2,  "a": "é"}'


def test_arguments_as_a_json_string_and_missing_arguments():
    text = '<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call><tool_call>{"name": "g"}</tool_call>'
    text += (
        '<tool_call>{"name": "h", "arguments": ""}</tool_call><tool_call>{"name": "i", "arguments": " "}</tool_call>'
    )
    out = parse(QWEN3, text)
    assert [(c.name, c.arguments) for c in out.tool_calls] == [("f", '{"a": 1}'), ("g", "{}"), ("h", "{}"), ("i", "{}")]


def test_escapes_next_to_structural_characters_stream_exactly():
    # A backslash escapes one character, also across chunk ends: the scan must not end the
    # string (or the arguments object) early.
    args = {"s": 'a"}', "t": "b\\", "u": '\\"{', "v": '"]', "w": "\\"}
    arguments = json.dumps(args)
    text = f'<tool_call>{{"name": "f", "arguments": {arguments}, "x": 1}}</tool_call>'
    for chunks in ([text], list(text), [text[i : i + 2] for i in range(0, len(text), 2)]):
        parser, events = stream(QWEN3, chunks)
        (call,) = parser.output.tool_calls
        assert call.arguments == arguments
        _check_events(events, parser.output)


def test_unicode_and_escaped_quotes_in_arguments():
    args = {"q": 'He said "hi" \\ {not a brace} 東京 🌧', "n": [1, {"x": "}"}]}
    text = f"<tool_call>\n{json.dumps({'name': 'search', 'arguments': args}, ensure_ascii=False)}\n</tool_call>"
    assert calls(parse(QWEN3, text)) == [("search", args)]
    text = f"<tool_call>\n{json.dumps({'name': 'search', 'arguments': args})}\n</tool_call>"
    assert calls(parse(QWEN3, text)) == [("search", args)]


def test_intern_s1_calls_inside_think_are_calls():
    # vLLM's intern_s1 reasoning parser moves action blocks out of the reasoning.
    text = f"Thinking {IS1_CALL} more thinking</think>Answer."
    out = parse(INTERN_S1, text, in_reasoning=True)
    assert out.reasoning == "Thinking  more thinking"
    assert calls(out) == [("get_current_temperature", SF)]
    assert out.content == "Answer."


def test_qwen3_calls_inside_think_are_thought_text():
    # vLLM runs the hermes tool parser on the content only.
    out = parse(QWEN3, f"<think>maybe {QW_CALL}</think>ok")
    assert out.tool_calls == []
    assert "<tool_call>" in (out.reasoning or "")
    assert out.content == "ok"


def test_unclosed_think_is_reasoning():
    out = parse(INTERN_S1, "Still thinking about", in_reasoning=True)
    assert out == ParsedOutput(reasoning="Still thinking about")
    out = parse(QWEN3, "<think>cut off")
    assert out == ParsedOutput(reasoning="cut off")


def test_thinking_off_and_stray_close_tag():
    assert parse(QWEN3, "Hi").reasoning is None
    assert parse(QWEN3, "Hi</think> there") == ParsedOutput(content="Hi there")
    assert parse(INTERN_S1, "</think>Answer", in_reasoning=True) == ParsedOutput(content="Answer")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('<tool_call>{"name": "f", "arguments": {"a": 1}</tool_call>', "not valid JSON"),
        ('<tool_call>{"arguments": {"a": 1}}</tool_call>', 'no "name"'),
        ('<tool_call>{"name": "f", "arguments": [1]}</tool_call>', "must be a JSON object"),
        ("<tool_call>[1, 2]</tool_call>", "must be a JSON object"),
        ("<tool_call>  </tool_call>", "empty"),
        ('<tool_call>{"name": "f", "arguments": {"a": ', "never closed"),
    ],
)
def test_malformed_calls_land_in_errors_with_raw_text(text, reason):
    out = parse(QWEN3, f"Before {text}")
    assert out.tool_calls == []
    assert out.content == "Before"
    (error,) = out.errors
    assert error.raw == text
    assert reason in error.reason
    assert ("never closed" in error.reason) == (not text.endswith("</tool_call>"))


def test_intern_s1_other_action_types_are_errors():
    text = "<|action_start|><|interpreter|>\nprint(1)<|action_end|>"
    (error,) = parse(INTERN_S1, text).errors
    assert "<|interpreter|>" in error.reason and error.raw == text


def test_unclosed_but_complete_call_at_the_end_is_a_call():
    # Servers that stop on <|action_end|> strip it; lmdeploy and vLLM's hermes accept this too.
    text = '<|action_start|><|plugin|>\n{"name": "f", "parameters": {"a": 1}}'
    assert calls(parse(INTERN_S1, text)) == [("f", {"a": 1})]


def test_a_malformed_call_does_not_hide_the_good_ones():
    out = parse(QWEN3, f"{QW_CALL}<tool_call>{{bad</tool_call>{QW_CALL2}")
    assert [c.name for c in out.tool_calls] == ["get_current_temperature", "get_temperature_date"]
    assert len(out.errors) == 1


# --- streaming -----------------------------------------------------------------------------


def test_stream_emits_early_and_in_order():
    text = f"Checking the weather.\n</think>\n\nSure.{IS1_CALL}"
    _, events = stream(INTERN_S1, list(text), in_reasoning=True)
    kinds = [type(e) for e in events]
    first_open = kinds.index(ToolCallOpened)
    assert kinds.index(ReasoningDelta) < kinds.index(TextDelta) < first_open
    assert kinds[-1] is ToolCallReady
    opened = events[first_open]
    assert opened.name == "get_current_temperature" and opened.id == "call_0"
    args = "".join(e.text for e in events if isinstance(e, ToolCallArgsDelta))
    assert args == events[-1].call.arguments
    # The name is announced before the arguments have been written.
    assert sum(isinstance(e, ToolCallArgsDelta) for e in events) > 5


def test_partial_tags_are_never_emitted_as_text():
    text = f"Hello <|act{IS1_CALL[5:]} <not a tag> <<|act <a<|actx <</think>"
    tags = ["<|action_start|>", "<|action_end|>", "<think>", "</think>"]
    prefixes = tuple(t[:n] for t in tags for n in range(2, len(t)))  # a lone "<" before "<" is text
    for cut in range(1, len(text)):
        parser = INTERN_S1.stream_parser(id_factory=ids())
        first = parser.feed(text[:cut])
        emitted = "".join(e.text for e in first if isinstance(e, TextDelta))
        held = [p for p in prefixes if text[:cut].endswith(p)]  # it may still become a tag
        assert not any(emitted.endswith(p) for p in held), (cut, emitted)
        events = first + parser.feed(text[cut:]) + parser.close()
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == parser.output.content
        assert parser.output.content == "Hello  <not a tag> <<|act <a<|actx <"


def test_call_is_ready_before_the_message_ends():
    parser = QWEN3.stream_parser(id_factory=ids())
    events = parser.feed(QW_CALL + "\nand now some more text")
    assert any(isinstance(e, ToolCallReady) for e in events)


def test_malformed_call_in_stream_is_reported():
    text = f'{QW_CALL}<tool_call>{{"name": "f", "arguments": {{"a": }}</tool_call>'
    parser, events = stream(QWEN3, list(text))
    assert isinstance(events[-1], ToolCallMalformed) and events[-1].index == 1
    assert events[-1].error.raw == text[len(QW_CALL) :]
    _check_events(events, parser.output)


@pytest.mark.parametrize("fmt", [INTERN_S1, QWEN3])
def test_arguments_written_before_the_name_stream_once_the_name_is_known(fmt):
    body = '{"arguments": {"a": 1, "b": [2, 3]}, "parameters": {"c": 4}, "name": "f"}'
    text = f"{fmt.call_open[0]}{body}{fmt.call_close[0]}"
    for chunks in (list(text), [text[i : i + 3] for i in range(0, len(text), 3)]):
        parser, events = stream(fmt, chunks)
        (call,) = parser.output.tool_calls
        assert (call.name, call.arguments) == ("f", '{"a": 1, "b": [2, 3]}')
        _check_events(events, parser.output)
        opened = next(i for i, e in enumerate(events) if isinstance(e, ToolCallOpened))
        assert not any(isinstance(e, ToolCallArgsDelta) for e in events[:opened])


def test_feed_after_close_is_an_error():
    parser = QWEN3.stream_parser()
    parser.close()
    with pytest.raises(RuntimeError, match=r"feed\(\) after close\(\)"):
        parser.feed("x")
    assert StreamParser(QWEN3).feed("<think>x") == [ReasoningDelta("x")]  # content by default


def test_the_text_is_content_unless_told_otherwise():
    # Each default is False (content): True would make "x" reasoning, None would hold it back.
    assert StreamParser(QWEN3).feed("x ") == [TextDelta("x")]
    assert QWEN3.stream_parser().feed("x ") == [TextDelta("x")]
    assert QWEN3.parse("x</think>y") == ParsedOutput(content="xy")  # a stray </think> in content is dropped


def test_call_indices_count_every_block():
    text = QW_CALL + "<tool_call>{bad</tool_call>" + QW_CALL2 + QW_CALL
    _, events = stream(QWEN3, [text[i : i + 7] for i in range(0, len(text), 7)])
    ends = [e for e in events if isinstance(e, ToolCallReady | ToolCallMalformed)]
    assert [(type(e), e.index) for e in ends] == [
        (ToolCallReady, 0), (ToolCallMalformed, 1), (ToolCallReady, 2), (ToolCallReady, 3)
    ]  # fmt: skip


# --- fixed examples from vLLM's own tests (tests/tool_parsers/test_hermes_tool_parser.py and
# test_internlm2_tool_parser.py), where our semantics match theirs ----------------------------


@pytest.mark.parametrize(("fmt", "text", "expected", "content"), VLLM_CASES)
def test_vllm_parser_test_cases(fmt, text, expected, content):
    out = parse(fmt, text)
    assert [(c.name, c.arguments) for c in out.tool_calls] == expected
    assert (out.content, out.errors) == (content, [])
    for step in (1, 3, 5):  # token-sized streaming, as vLLM's tests replay tokens
        parser, events = stream(fmt, [text[i : i + step] for i in range(0, len(text), step)])
        assert parser.output == out
        _check_events(events, out)


@pytest.mark.parametrize("text", VLLM_MALFORMED)
def test_vllm_malformed_cases_are_errors(text):
    out = parse(AUTO, text)
    assert out.tool_calls == [] and [e.raw for e in out.errors] == [text]


# --- duplicate keys: the first wins, in batch and stream alike (API.md) -------------------------

DUPLICATES = [
    # (format, call body, name, arguments)
    (QWEN3, '{"name": "f", "arguments": {"a": 1}, "arguments": {"b": 2}}', "f", '{"a": 1}'),
    (QWEN3, '{"name": "f", "name": "g", "arguments": {"a": 1}}', "f", '{"a": 1}'),
    (QWEN3, '{"name": "f", "parameters": {"p": 1}, "arguments": {"a": 2}}', "f", '{"p": 1}'),
    (INTERN_S1, '{"name": "f", "arguments": {"a": 2}, "parameters": {"p": 1}}', "f", '{"a": 2}'),
    (INTERN_S1, '{"name": "f", "parameters": "{\\"s\\": 1}", "arguments": {"a": 2}}', "f", '{"s": 1}'),
    (QWEN3, '{"name": "f", "arguments": {"x": NaN, "x": 2}}', "f", '{"x": NaN, "x": 2}'),
]


@pytest.mark.parametrize(("fmt", "body", "name", "arguments"), DUPLICATES)
def test_duplicate_keys_first_wins_and_pieces_add_up(fmt, body, name, arguments):
    open_tag, close_tag = fmt.call_open[0], fmt.call_close[0]
    text = f"{open_tag}{body}{close_tag}"
    (call,) = parse(fmt, text).tool_calls
    assert (call.name, call.arguments) == (name, arguments)
    for chunks in ([text], list(text), [text[i : i + 4] for i in range(0, len(text), 4)]):
        parser, events = stream(fmt, chunks)
        _check_events(events, parser.output)
        assert parser.output.tool_calls == [call]


def test_a_first_name_that_is_not_a_string_is_never_announced():
    text = '<tool_call>{"name": 1, "name": "g", "arguments": {}}</tool_call>'
    parser, events = stream(QWEN3, list(text))
    assert not any(isinstance(e, ToolCallOpened) for e in events)
    assert 'no "name"' in parser.output.errors[0].reason


# --- <think> opens reasoning only at the start of the message ----------------------------------


@pytest.mark.parametrize("fmt", [INTERN_S1, QWEN3])
def test_think_tag_inside_content_is_text(fmt):
    out = parse(fmt, "Use the <think> tag to show reasoning. Done.")
    assert out == ParsedOutput(content="Use the <think> tag to show reasoning. Done.")
    out = parse(fmt, "<think>plan</think>Write <think> literally.")
    assert (out.reasoning, out.content) == ("plan", "Write <think> literally.")
    out = parse(fmt, "\n  <think>plan</think>ok")  # leading whitespace is still the start
    assert (out.reasoning, out.content) == ("plan", "ok")


def test_think_tag_after_a_call_or_inside_reasoning_is_text():
    out = parse(QWEN3, f"{QW_CALL}<think>x")
    assert (out.content, out.reasoning, len(out.tool_calls)) == ("<think>x", None, 1)
    out = parse(QWEN3, "<think></think><think>x")  # </think> ends the start too
    assert (out.content, out.reasoning) == ("<think>x", None)
    out = parse(INTERN_S1, "<think>a <think> b</think>c")
    assert (out.reasoning, out.content) == ("a <think> b", "c")
    out = parse(INTERN_S1, "<think>\nstill the opener</think>c", in_reasoning=True)
    assert (out.reasoning, out.content) == ("still the opener", "c")


# --- a close tag inside a JSON string ends the block, as vLLM's and SGLang's parsers do ---------


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        (QWEN3, '<tool_call>{"name": "f", "arguments": {"s": "a</tool_call>b"}}</tool_call>'),
        (INTERN_S1, '<|action_start|><|plugin|>{"name": "f", "parameters": {"s": "a<|action_end|>b"}}<|action_end|>'),
    ],
)
def test_close_tag_inside_a_json_string_ends_the_block(fmt, text):
    # vLLM's hermes and intern_s1 parsers cut at the first close tag (non-greedy regex), as do
    # SGLang's qwen25 and internlm detectors: the JSON is then broken and no call is made.
    close = fmt.call_close[0]
    out = parse(fmt, text)
    assert out.tool_calls == []
    (error,) = out.errors
    assert error.raw == text[: text.index(close) + len(close)]
    assert out.content == 'b"}}' + close


# --- undecided start: in_reasoning=None ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "text", "reasoning", "content", "n_calls"),
    [
        (QWEN3, "thinking</think>answer", "thinking", "answer", 0),
        (QWEN3, "just an answer", None, "just an answer", 0),
        (QWEN3, "<think>t</think>answer", "t", "answer", 0),
        (QWEN3, "answer <think>x</think>y", None, "answer <think>xy", 0),
        (QWEN3, f"Let me call.{QW_CALL}</think>after", None, "Let me call.after", 1),
        (INTERN_S1, f"thinking {IS1_CALL} more</think>answer", "thinking  more", "answer", 1),
        (INTERN_S1, f"answer {IS1_CALL} done", None, "answer  done", 1),
        (AUTO, f"thinking {QW_CALL}</think>x", None, "thinking x", 1),
        (QWEN3, "   </think>answer", None, "answer", 0),
    ],
)
def test_undecided_start(fmt, text, reasoning, content, n_calls):
    out = parse(fmt, text, in_reasoning=None)
    assert (out.reasoning, out.content, len(out.tool_calls)) == (reasoning, content, n_calls)
    for cut in range(len(text) + 1):
        parser, events = stream(fmt, [text[:cut], text[cut:]], in_reasoning=None)
        assert parser.output == out
        _check_events(events, out)


def test_undecided_start_holds_text_until_decided():
    parser = QWEN3.stream_parser(in_reasoning=None)
    assert parser.feed("thinking ") == [] and parser.feed("more") == []
    events = parser.feed("</think>answer")
    assert [type(e) for e in events] == [ReasoningDelta, TextDelta]
    assert parser.output == ParsedOutput(reasoning="thinking more", content="answer")
    parser = QWEN3.stream_parser(in_reasoning=None)
    assert parser.feed("an answer") == []
    assert parser.close() == [TextDelta("an answer")]


# --- O(n): no delta costs work in proportion to what came before --------------------------------


def _allocation_traffic(fmt: Format, prefix: str, fill: str, suffix: str, n: int, step: int, **kw) -> int:
    """Sum over deltas of the peak memory each `feed` allocates: linear work keeps this O(n);
    rebuilding a buffer per delta (``body += delta``) makes it O(n²)."""
    import tracemalloc

    text = prefix + fill * (n // len(fill)) + suffix
    chunks = [text[i : i + step] for i in range(0, len(text), step)]
    parser = fmt.stream_parser(id_factory=ids(), **kw)
    total = 0
    tracemalloc.start()
    try:
        for chunk in chunks:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            parser.feed(chunk)
            total += tracemalloc.get_traced_memory()[1] - base
        parser.close()
    finally:
        tracemalloc.stop()
    return total


@pytest.mark.parametrize(
    ("name", "fmt", "prefix", "fill", "suffix", "kw"),
    [
        ("call body", QWEN3, '<tool_call>{"name": "f", "arguments": {"s": "', "abcd", '"}}</tool_call>', {}),
        ("call body with <", QWEN3, '<tool_call>{"name": "f", "arguments": {"s": "', "a<b>", '"}}</tool_call>', {}),
        ("name string", QWEN3, '<tool_call>{"name": "', "abcd", '", "arguments": {}}</tool_call>', {}),
        ("reasoning", QWEN3, "<think>", "abcd", "</think>x", {}),
        ("content", QWEN3, "", "ab c", "", {}),
        ("content with <", QWEN3, "", "a<b ", "", {}),
        ("whitespace run", QWEN3, "a", "    ", "b", {}),
        ("undecided", QWEN3, "", "abcd", "</think>x", {"in_reasoning": None}),
    ],
)
def test_streaming_work_is_linear(name, fmt, prefix, fill, suffix, kw):
    small = _allocation_traffic(fmt, prefix, fill, suffix, 20_000, 4, **kw)
    large = _allocation_traffic(fmt, prefix, fill, suffix, 80_000, 4, **kw)
    # 4x the text: linear work allocates about 4x as much, quadratic about 16x.
    assert large / small < 6, (name, small, large)


# --- stream == batch, for every chunking (property tests) ---------------------------------------

PIECES = [
    "<think>", "</think>", "<|action_start|>", "<|plugin|>", "<|action_end|>", "<tool_call>",
    "</tool_call>", "<|act", "</th", "<tool", "<", ">", "|", " ", "\n", "{", "}", '"', "\\", ":", ",",
    '{"name": "f", "parameters": {"a": 1}}', '{"name": "g", "arguments": {"s": "x\\"}{"}}',
    '{"name": "h"}', '"name"', '"arguments"', "hello", "é東🌧",
    '{"name": "f", "name": "g", "arguments": {"a": 1}, "arguments": {"b": 2}}',
    '{"name": "f", "parameters": {"p": 1}, "arguments": {"a": 2}}',
    '{"name": "f", "arguments": "{\\"s\\": 1}", "parameters": {"p": 1}}',
    '{"name": 1, "name": "g"}', '{"name": "f", "arguments": {"x": NaN, "x": 2}}',
    '{"name": "f", "arguments": {"a": "</tool_call>"}}', "  \n", " x ",
]  # fmt: skip

tag_soup = st.lists(st.sampled_from(PIECES) | st.text(max_size=5), max_size=25).map("".join)
any_text = st.text(max_size=200) | tag_soup | st.sampled_from([IS1_CALL + IS1_CALL2, QW_CALL + QW_CALL2])


@st.composite
def chunked(draw):
    text = draw(any_text)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(bounds)]


def _check_stream_equals_batch(fmt: Format, text: str, chunks: list[str], in_reasoning: bool | None):
    """The stream, for this chunking, agrees with the independent reference and with `parse`."""
    ref = reference.parse(reference.SPECS[fmt.name], text, in_reasoning)
    parser, events = stream(fmt, chunks, in_reasoning=in_reasoning)
    out = parser.output
    assert (out.content, out.reasoning) == (ref.content, ref.reasoning)
    assert [(c.id, c.name, c.arguments) for c in out.tool_calls] == [(f"call_{i}", n, a) for i, n, a in ref.calls]
    assert [e.raw for e in out.errors] == [raw for _, raw in ref.errors]
    assert out == parse(fmt, text, in_reasoning=in_reasoning)
    _check_events(events, out)


def _check_events(events, out: ParsedOutput) -> None:
    """The event contract: texts add up, and per call index the pieces add up and the names agree."""
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == out.content
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == (out.reasoning or "")
    assert all(e.text for e in events if isinstance(e, TextDelta | ReasoningDelta | ToolCallArgsDelta))
    ready = [e for e in events if isinstance(e, ToolCallReady)]
    assert [e.call for e in ready] == out.tool_calls
    malformed = [e for e in events if isinstance(e, ToolCallMalformed)]
    assert [e.error for e in malformed] == out.errors
    for e in ready:
        opened = [o for o in events if isinstance(o, ToolCallOpened) and o.index == e.index]
        assert [(o.id, o.name) for o in opened] == [(e.call.id, e.call.name)]
        assert events.index(opened[0]) < events.index(e)
        args = "".join(d.text for d in events if isinstance(d, ToolCallArgsDelta) and d.index == e.index)
        assert args == e.call.arguments
    for e in malformed:
        assert sum(isinstance(o, ToolCallOpened) and o.index == e.index for o in events) <= 1


@given(data=chunked(), fmt=st.sampled_from([INTERN_S1, QWEN3, AUTO]), in_reasoning=st.sampled_from([False, True, None]))
def test_stream_equals_reference_for_any_chunking(data, fmt, in_reasoning):
    text, chunks = data
    _check_stream_equals_batch(fmt, text, chunks, in_reasoning)


@pytest.mark.parametrize("in_reasoning", [False, True, None])
@pytest.mark.parametrize("fmt", [INTERN_S1, QWEN3])
def test_every_single_split_point(fmt, in_reasoning):
    text = f"<think>a</think>x {IS1_CALL} y {QW_CALL} z"
    for cut in range(len(text) + 1):
        _check_stream_equals_batch(fmt, text, [text[:cut], text[cut:]], in_reasoning)
    _check_stream_equals_batch(fmt, text, list(text), in_reasoning)


# --- rendering and detection -------------------------------------------------------------------


@given(
    name=st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True),
    args=st.dictionaries(st.text(max_size=8), st.text(max_size=8) | st.integers() | st.booleans(), max_size=4),
    fmt=st.sampled_from([INTERN_S1, QWEN3]),
)
def test_render_then_parse_returns_the_calls(name, args, fmt):
    call = ToolCall(id="x", name=name, arguments=json.dumps(args))
    text = fmt.render_message("Some text", [call, call])
    out = parse(fmt, text)
    assert calls(out) == [(name, args), (name, args)]
    assert out.content == "Some text"


def test_rendering_is_exact():
    call = {"id": "x", "type": "function", "function": {"name": "f", "arguments": '{"city": "東京"}'}}
    assert QWEN3.render_tool_call(call) == '<tool_call>\n{"name": "f", "arguments": {"city": "東京"}}\n</tool_call>'
    assert INTERN_S1.render_tool_call(call) == (
        '<|action_start|><|plugin|>\n{"name": "f", "parameters": {"city": "東京"}}<|action_end|>'
    )
    empty = ToolCall(id="x", name="g", arguments="")
    assert QWEN3.render_message("Hi", [empty]) == 'Hi\n<tool_call>\n{"name": "g", "arguments": {}}\n</tool_call>'
    assert QWEN3.render_message("", [empty]).startswith("<tool_call>")
    assert QWEN3.render_message("Hi", reasoning="") == "Hi"
    assert QWEN3.render_message("Hi", reasoning="r") == "<think>\nr\n</think>\n\nHi"
    assert INTERN_S1.render_tool_result("{}") == "<|im_start|>environment name=<|plugin|>\n{}<|im_end|>\n"


def test_render_message_with_reasoning_round_trips():
    call = ToolCall(id="x", name="f", arguments='{"a": 1}')
    text = INTERN_S1.render_message("", [call], reasoning="think first")
    out = parse(INTERN_S1, text)
    assert out.reasoning == "think first" and calls(out) == [("f", {"a": 1})]
    assert "environment name=<|plugin|>" in INTERN_S1.render_tool_result("{}")
    assert QWEN3.render_tool_result("{}") == "<tool_response>\n{}\n</tool_response>"


def test_get_format_names_and_aliases():
    assert get_format("intern-s1") is INTERN_S1 and get_format("Qwen3") is QWEN3
    assert get_format("interns1") is INTERN_S1 and get_format("hermes") is QWEN3
    with pytest.raises(ValueError, match="unknown format"):
        get_format("llama")


QWEN3_LIKE_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if tools %}<tools>{% for t in tools %}{{ t | tojson }}{% endfor %}</tools> use <tool_call></tool_call>{% endif %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
INTERN_LIKE_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{# tools: <|action_start|><|plugin|> #}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is not defined or enable_thinking %}<think>\n{% endif %}{% endif %}"
)


def test_detect_format_and_think_opening():
    qwen = detect_format(QWEN3_LIKE_TEMPLATE)
    intern = detect_format(INTERN_LIKE_TEMPLATE)
    assert qwen is not None and qwen.name == "qwen3" and qwen.generation_opens_think is False
    assert intern is not None and intern.name == "intern-s1" and intern.generation_opens_think is True
    assert detect_format("{{ messages }}") is None
    plugin_only = detect_format("{# <|plugin|> #}{{ messages }}")
    assert plugin_only is not None and plugin_only.name == "intern-s1"


def test_detect_format_renders_a_user_turn():
    # Real templates branch on the last message's role and refuse unknown ones.
    template = (
        "{% for m in messages %}{% if m['role'] not in ('user', 'system') %}{{ raise_exception('bad role') }}"
        "{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] | tojson }}<|im_end|>\n{% endfor %}<tool_call>"
        "{% if add_generation_prompt and messages[-1]['role'] == 'user' and messages[-1]['content'] %}"
        "<|im_start|>assistant\n<think>\n{% endif %}"
    )
    fmt = detect_format(template)
    assert fmt is not None and fmt.generation_opens_think is True
    broken = detect_format("<tool_call>{{ raise_exception('no') }}")
    assert broken is not None and broken.generation_opens_think is None
    assert opens_think("<|im_start|>assistant\n<think>\n") and not opens_think("<think>x</think>")


# --- calls written inside the reasoning (issue 28) ------------------------------------------------

CODER_CALL = ("<tool_call>\n<function=get_current_temperature>\n<parameter=location>\nSan Francisco, CA, USA\n"
              "</parameter>\n</function>\n</tool_call>")  # fmt: skip
TOOL_SCHEMA = [{"type": "function", "function": {"name": "get_current_temperature", "parameters": {
    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]  # fmt: skip


@pytest.mark.parametrize("size", [1, 5, 1000])
@pytest.mark.parametrize(
    ("fmt", "block"), [(QWEN3, QW_CALL), (get_format("qwen3-coder"), CODER_CALL), (AUTO, CODER_CALL), (AUTO, QW_CALL)]
)
@pytest.mark.parametrize("closed", [True, False])
def test_the_parser_keeps_a_call_block_inside_the_reasoning_as_thought(fmt, block, closed, size):
    """vLLM #39056, #42021: Qwen3.5 / Intern-S2-Preview write the call before ``</think>`` (or
    never close it). The parser sees only the text: the block stays in the reasoning, as written,
    and `reasoning_calls` reads it from there; whether it runs is decided on the whole response
    (agentkit/_reasoned.py, review of issue 28). parse and stream agree."""
    text = f"The user wants the temperature.\n{block}" + ("\n</think>\n\n" if closed else "")
    whole = parse(fmt, text, in_reasoning=True, tools=TOOL_SCHEMA)
    assert whole.tool_calls == [] and whole.content == "" and whole.errors == []
    assert whole.reasoning is not None and block.strip() in whole.reasoning  # kept as written
    parser, events = stream(fmt, [text[i : i + size] for i in range(0, len(text), size)],
                            in_reasoning=True, tools=TOOL_SCHEMA)  # fmt: skip
    assert parser.output == whole and not any(isinstance(e, ToolCallReady) for e in events)
    read = fmt.reasoning_calls(whole.reasoning, tools=TOOL_SCHEMA)
    assert [(c.name, json.loads(c.arguments)) for c in read] == [("get_current_temperature", SF)]


def test_reasoning_calls_are_the_blocks_ending_the_reasoning_each_once():
    """attack-28 02 and 05: a drafted or quoted block with more thought after it is no call; a
    block restated identically is one call; an unfinished block at the end means none."""
    def read(text):
        return [(c.name, json.loads(c.arguments)) for c in QWEN3.reasoning_calls(text, tools=TOOL_SCHEMA)]

    assert read(f"Maybe {QW_CALL} -- no, I know it.") == []
    assert read(f"Draft {QW_CALL2}\nNo, this one:\n{QW_CALL}\n") == [("get_current_temperature", SF)]
    assert read(f"Plan {QW_CALL}\nSo:\n{QW_CALL}\n{QW_CALL}") == [("get_current_temperature", SF)]
    assert read(f"Both:\n{QW_CALL}\n{QW_CALL2}") == [("get_current_temperature", SF), ("get_temperature_date", SF2)]
    assert read(f"Let me {QW_CALL[:-15]}") == []
    assert read(f"Let me\n{QW_CALL.removesuffix('</tool_call>')}") == []  # complete JSON, but left open
    assert read(f"{QW_CALL}\n<tool_call>\n{{not json}}\n</tool_call>") == []
