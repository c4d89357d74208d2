"""agentkit._validation: every validator (a @tool's arguments, an MCP tool's, a typed output) never
fetches a schema and matches patterns in linear time — against a real MCP server whose schemas
attack (tests/mcp_servers/hostile_schemas.py), and unit by unit."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agentkit import Agent, ToolArgumentsError, _validation, tool
from agentkit._toolsets import SchemaTool
from agentkit._validation import SchemaProblem, SchemaTooCostly, search, validator
from agentkit.testing import ScriptedModel

from .agent_helpers import qw_call

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = str(ROOT / "tests" / "mcp_servers" / "hostile_schemas.py")
EVIL = "^(a+)+$"
BAD = "a" * 40 + "!"  # Python's re: about 2**40 steps to say no


class Listener:
    """A TCP listener on 127.0.0.1 that records each connection and closes it at once."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.connections: list[object] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:  # closed
                return
            self.connections.append(peer)
            conn.close()

    def close(self) -> None:
        self.sock.close()
        self.thread.join(10)


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


async def scenario(port: str, names: str) -> None:
    """Run in a child process: an agent calls each named tool of the hostile server, one per
    turn, with tool_timeout=5; prints {tool: what the model read}."""
    from agentkit import ToolCallFinished
    from agentkit.mcp import MCPToolset

    arguments = {"remote_ref": {"x": 1}, "remote_id": {"x": 1}, "remote_dynamic_ref": {"x": 1},
                 "remote_meta_schema": {"x": "y"}, "evil_pattern": {"word": BAD}, "evil_keys": {BAD: "v"},
                 "evil_draft7": {"word": BAD}, "hang": {"word": "aaaa"}, "evil_output": {},
                 "ref_bomb": {"x": 1}, "unique_output": {}, "duplicate_output": {}}  # fmt: skip
    calls = [qw_call(n, **arguments[n]) for n in names.split(",")]
    agent = Agent(ScriptedModel([*calls, "done"]), [MCPToolset.stdio(sys.executable, [HOSTILE, port])], tool_timeout=5)
    seen = {e.call.name: e.content async for e in agent.stream("q") if isinstance(e, ToolCallFinished)}
    print(json.dumps(seen))


def run_scenario(port: int, *names: str) -> dict[str, str]:
    """The scenario's answers; fails (instead of hanging the tests) when it takes over 60 s (the regex alone would take hours): a
    regex that backtracks holds the GIL, so only another process can bound it."""
    code = f"import anyio; from tests.test_validation import scenario; anyio.run(scenario, {str(port)!r}, {','.join(names)!r})"
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"calling {', '.join(names)} did not finish within 60 s")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_mcp_tool_schema_that_references_a_url_is_never_fetched(listener):
    pytest.importorskip("mcp")
    seen = run_scenario(listener.port, "remote_ref", "remote_id", "remote_dynamic_ref", "remote_meta_schema")
    assert listener.connections == []
    # Those schemas cannot be checked here: the server gets the arguments and checks them itself.
    assert seen == {n: f"ran {n}" for n in ("remote_ref", "remote_id", "remote_dynamic_ref", "remote_meta_schema")}


def test_a_catastrophic_pattern_in_an_mcp_output_schema_is_checked_promptly(listener):
    # The SDK's client checks structured results against the tool's output schema with Python's
    # `re`; agentkit gives it the RE2 validator instead.
    pytest.importorskip("mcp")
    seen = run_scenario(listener.port, "evil_output")
    word = "a" * 40 + "!"
    assert seen["evil_output"].startswith("Error: evil_output ran, but its result was refused: ")
    assert f"{word!r} does not match" in seen["evil_output"]


def test_a_catastrophic_pattern_in_an_mcp_tool_schema_is_answered_promptly_and_tool_timeout_still_works(listener):
    pytest.importorskip("mcp")
    seen = run_scenario(listener.port, "evil_pattern", "evil_keys", "evil_draft7", "hang")
    assert seen == {
        "evil_pattern": f'Error: Invalid arguments for evil_pattern:\n- word: "{BAD}" does not match "{EVIL}"',
        "evil_keys": f'Error: Invalid arguments for evil_keys:\n- arguments: "{BAD}" does not match any of the regexes: "{EVIL}"',
        "evil_draft7": f'Error: Invalid arguments for evil_draft7:\n- word: "{BAD}" does not match "{EVIL}"',
        "hang": "Error: the tool hang timed out after 5 s.",
    }


def test_mcp_schemas_whose_checks_explode_are_answered_promptly_and_tool_timeout_still_works(listener, caplog):
    # A $ref bomb (2**30 subschemas per check) in the input and output schemas, and uniqueItems
    # over 6000 objects (quadratic in jsonschema): the loop would be frozen for hours, or a minute.
    pytest.importorskip("mcp")
    seen = run_scenario(listener.port, "ref_bomb", "unique_output", "hang", "duplicate_output")  # a failed call ends the session: last
    assert seen["ref_bomb"] == "ran ref_bomb"  # too costly to check: left to the server (the text, not the structure)
    # Checked (uniqueItems in O(n log n)) and valid: the model reads the structured content.
    assert json.loads(seen["unique_output"])["x"] == [{"k": k} for k in range(6000)]
    assert seen["duplicate_output"].startswith("Error: duplicate_output ran, but its result was refused: ")
    assert "has non-unique elements" in seen["duplicate_output"]
    assert seen["hang"] == "Error: the tool hang timed out after 5 s."


# --- unit by unit --------------------------------------------------------------------------------

DRAFT7 = "http://json-schema.org/draft-07/schema#"


class _Measured(str):
    """A pattern that counts the characters its slices copy."""

    copied = 0

    def __getitem__(self, key):
        part = super().__getitem__(key)
        _Measured.copied += len(part)
        return part


@pytest.mark.parametrize(
    ("pattern", "rewritten"),
    [
        (r"\u00e9\u{1F600}", r"\x{00e9}\x{1F600}"),
        (r"\\u00e9", r"\\u00e9"),  # an escaped backslash, then "u00e9"
        (r"a\u{12", r"a\u{12"),  # no closing brace: left as written
        (r"\u{1}\u{2}x\u00", r"\x{1}\x{2}x\u00"),
        ("\\", "\\"),
    ],
)
def test_ecma_escapes_are_rewritten_for_re2(pattern, rewritten):
    assert _validation._ecma_escapes(pattern) == rewritten


def test_rewriting_escapes_copies_each_character_a_bounded_number_of_times(monkeypatch):
    pattern = _Measured("\\u{" * 3000 + "\\u00")  # no brace closes: each escape is left as written
    monkeypatch.setattr(_Measured, "copied", 0)
    _validation._ecma_escapes(pattern)
    assert _Measured.copied < 10 * len(pattern)


def test_a_pattern_re2_cannot_compile_is_compiled_once_whatever_the_keys_and_calls(monkeypatch):
    compiled = []
    stock = _validation.re2.compile
    monkeypatch.setattr(_validation.re2, "compile", lambda *a, **k: compiled.append(a[0]) or stock(*a, **k))
    pattern = "(?=only-this-test)"
    check = validator({"patternProperties": {pattern: {"type": "string"}}}, lenient=True)
    for _ in range(3):
        assert check.is_valid({f"k{i}": 1 for i in range(50)})
    assert compiled == [pattern]
    with pytest.raises(SchemaProblem, match="cannot be checked"):
        search(pattern, "x")


def test_patterns_are_ecma_like_on_re2_and_a_lone_surrogate_is_matched_not_raised():
    assert search(r"^\u00e9\\u$", "é\\u")  # ECMA's \uXXXX; an escaped backslash stays one
    assert search(r"^\u{1F600}$", "😀")
    assert search(r"^\d$", "٣") is False  # ECMA's \d is ASCII (Python's re would say yes)
    assert search("^a$", "a\n") is False  # ECMA's $ is the end (Python's re: also before a last newline)
    assert search("^a.b$", "a\ud800b")
    with pytest.raises(SchemaProblem, match=r"the pattern '\(\?=a\)' cannot be checked: invalid perl operator"):
        search("(?=a)", "a")
    assert search("(?=a)", "a", lenient=True) is None


def test_a_subschema_with_its_own_schema_keyword_is_still_matched_by_re2():
    # jsonschema would switch to its stock draft-7 class (Python's re) under either "$schema".
    schema = {"$schema": DRAFT7, "$ref": "#/$defs/D", "$defs": {"D": {"$schema": DRAFT7, "pattern": r"^\d$"}}}
    assert not validator(schema).is_valid("٣")
    assert validator(schema).is_valid("3")


@pytest.mark.parametrize(
    ("schema", "why"),
    [
        ({"properties": {"x": {"$ref": "http://127.0.0.1:9/x.json"}}}, "the reference 'http://127.0.0.1:9/x.json' does not resolve"),
        ({"$id": "http://127.0.0.1:9/r.json", "properties": {"x": {"$ref": "o.json"}}}, "the reference 'o.json' does not resolve"),
        ({"items": {"$dynamicRef": "http://127.0.0.1:9/d.json#m"}}, "the reference 'http://127.0.0.1:9/d.json#m' does not resolve"),
        ({"$ref": "#/$defs/missing"}, r"the reference '#/\$defs/missing' does not resolve"),
        ({"properties": {"x": {"pattern": "(a)\\1"}}}, r"the pattern '\(a\)\\\\1' cannot be checked"),
        ({"patternProperties": {"(?<=a)b": {}}}, "the pattern .* cannot be checked"),
        ({"patternProperties": {"a": {}}, "unevaluatedProperties": False}, "unevaluatedProperties together with"),
        ({"allOf": [{"patternProperties": {"a": {}}}], "unevaluatedProperties": False}, "unevaluatedProperties together"),
        ({"$ref": "#/$defs/d", "unevaluatedProperties": False, "$defs": {"d": {"patternProperties": {"a": {}}}}},
         "unevaluatedProperties together"),
        ({"if": {"anyOf": [{"patternProperties": {"a": {}}}]}, "unevaluatedProperties": False}, "unevaluatedProperties together"),
        ({"$dynamicRef": "#/$defs/d", "unevaluatedProperties": False, "$defs": {"d": {"patternProperties": {"a": {}}}}},
         "unevaluatedProperties together"),
        ({"properties": {"x": {"$id": "http://a.example/x", "$ref": "#/$defs/d", "unevaluatedProperties": False,
                               "$defs": {"d": {"patternProperties": {"a": {}}}}}}}, "unevaluatedProperties together"),
        ({"properties": 5}, "not valid JSON Schema: 5 is not of type 'object'"),
    ],
)
def test_what_cannot_be_checked_safely_is_a_schema_problem_saying_why(schema, why):
    with pytest.raises(SchemaProblem, match=why):
        validator(schema)


def test_a_chain_of_references_too_long_to_follow_counts_as_holding_patterns():
    chain = {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(40)}
    deep = {"$ref": "#/$defs/d0", "unevaluatedProperties": False, "$defs": {**chain, "d40": {"patternProperties": {"a": {}}}}}
    with pytest.raises(SchemaProblem, match="unevaluatedProperties together"):
        validator(deep)
    assert validator({**deep, "$defs": {**chain, "d40": {"properties": {"a": {}}}}}).is_valid({"a": 1})


def test_unevaluated_properties_is_refused_only_beside_patterns_of_its_own_parts():
    # jsonschema's unevaluatedProperties matches with `re` the patternProperties of the same
    # value's parts only: patterns elsewhere (a nested object, a definition, a property's name) are RE2's.
    apart = {
        "allOf": [{"properties": {"a": {}, "patternProperties": {}}}],
        "properties": {"h": {"patternProperties": {"^x": {"type": "string"}}}},
        "unevaluatedProperties": False,
        "$defs": {"d": {"patternProperties": {"^x": {}}}},
    }
    check = validator(apart)
    assert check.is_valid({"a": 1, "h": {"xy": "s"}})
    assert not check.is_valid({"a": 1, "b": 2})
    assert not check.is_valid({"h": {"xy": 1}})


def test_the_bundled_meta_schemas_resolve_and_regex_formats_are_re2s():
    assert validator({"$ref": "https://json-schema.org/draft/2020-12/schema"}).is_valid({"type": "string"})
    assert not validator({"format": "regex"}).is_valid("(?=a)")
    assert validator({"format": "regex"}, lenient=True).is_valid("(?=a)")  # the server's engine decides


def test_an_mcp_pattern_re2_cannot_compile_is_left_to_the_server_and_the_rest_is_checked():
    async def echo(arguments: dict) -> dict:
        return arguments

    schema = {"type": "object", "properties": {"email": {"type": "string", "pattern": r"^(?!\.)[^@]+@x$"},
                                               "n": {"type": "integer"}}}  # fmt: skip
    t = SchemaTool(name="mail", description="", parameters=schema, call=echo)
    assert t.validate({"email": ".a@x", "n": 1}) == {"email": ".a@x", "n": 1}
    with pytest.raises(ToolArgumentsError, match='n: "one" is not of type "integer"'):
        t.validate({"email": "a@x", "n": "one"})


def test_an_mcp_schema_that_cannot_be_checked_is_left_to_the_server_with_a_warning(caplog, listener):
    async def echo(arguments: dict) -> dict:
        return arguments

    remote = {"type": "object", "properties": {"x": {"$ref": f"http://127.0.0.1:{listener.port}/x.json"}}}
    with caplog.at_level(logging.WARNING, logger="agentkit"):
        t = SchemaTool(name="far", description="", parameters=remote, call=echo)
    assert t.validate({"x": 1}) == {"x": 1}
    assert "the arguments of far are not checked by agentkit (the server checks them): the reference" in caplog.text
    # A $ref into a place no subschema is (a "default") is found only while checking: same answer.
    sneaky = {"type": "object", "properties": {"x": {"$ref": "#/properties/y/default"},
                                                "y": {"default": {"$ref": f"http://127.0.0.1:{listener.port}/z"}}}}  # fmt: skip
    t = SchemaTool(name="sneaky", description="", parameters=sneaky, call=echo)
    assert t.validate({"x": 1}) == {"x": 1}
    assert t.validate({"x": 2}) == {"x": 2}
    assert "the arguments of sneaky are not checked" in caplog.text
    looping = SchemaTool(name="loop", description="", parameters={"$ref": "#"}, call=echo)
    assert looping.validate({"x": 1}) == {"x": 1}
    assert "the arguments of loop are not checked by agentkit (the server checks them): its references loop" in caplog.text
    assert listener.connections == []


def bomb(levels: int) -> dict:
    defs: dict = {"a0": {"type": "integer"}}
    for i in range(1, levels + 1):
        defs[f"a{i}"] = {"allOf": [{"$ref": f"#/$defs/a{i - 1}"}, {"$ref": f"#/$defs/a{i - 1}"}]}
    return {"type": "object", "properties": {"x": {"$ref": f"#/$defs/a{levels}"}}, "$defs": defs}


def test_a_check_that_spends_its_budget_stops_with_a_schema_problem():
    check = validator(bomb(40))  # 2**40 subschemas: days of work without the budget
    with pytest.raises(SchemaTooCostly, match="the schema is too costly to check: over 100,000 steps"):
        check.is_valid({"x": 1})
    assert validator(bomb(4)).is_valid({"x": 1})  # 32 subschemas: checked
    assert not validator(bomb(4)).is_valid({"x": "one"})
    many = {f"^k{i}$": {} for i in range(600)}  # patterns times keys
    with pytest.raises(SchemaTooCostly):
        list(validator({"patternProperties": many}).iter_errors({f"k{i}": 1 for i in range(600)}))
    with pytest.raises(SchemaTooCostly):
        list(validator({"patternProperties": many, "additionalProperties": False}).iter_errors({f"k{i}": 1 for i in range(600)}))


def test_the_budget_grows_with_the_value_checked(monkeypatch):
    monkeypatch.setattr(_validation, "STEPS", 100)
    monkeypatch.setattr(_validation, "STEPS_PER_PART", 2)
    assert validator({"items": {"type": "integer"}}).is_valid(list(range(1000)))  # 1000 steps, 2002 allowed
    monkeypatch.setattr(_validation, "STEPS_PER_PART", 0)
    with pytest.raises(SchemaTooCostly, match="over 100 steps"):
        validator({"items": {"type": "integer"}}).is_valid(list(range(1000)))
    # Each check has its own budget; a keyword's own sub-check (not) spends the same one.
    check = validator({"items": {"not": {"type": "string"}}})
    for _ in range(3):
        assert check.is_valid(list(range(40)))
    with pytest.raises(SchemaTooCostly):
        check.is_valid(list(range(60)))


@pytest.mark.parametrize(
    ("items", "unique"),
    [
        ([1, 1.0], False),
        ([True, 1], True),
        ([0, False, None, "", [], {}], True),
        ([{"a": 1, "b": [2]}, {"b": [2.0], "a": 1}], False),
        ([[1, 2], [2, 1]], True),
        ([{"a": True}, {"a": 1}], True),
        ([{"k": i} for i in range(20000)], True),
        ([*({"k": i} for i in range(20000)), {"k": 19999.0}], False),
    ],
)
def test_unique_items_is_json_schema_equality_in_n_log_n(items, unique):
    assert validator({"uniqueItems": True}).is_valid(items) is unique


def test_an_mcp_schema_too_costly_to_check_is_left_to_the_server_with_a_warning(caplog):
    async def echo(arguments: dict) -> dict:
        return arguments

    t = SchemaTool(name="bomb", description="", parameters=bomb(40), call=echo)
    with caplog.at_level(logging.WARNING, logger="agentkit"):
        assert t.validate({"x": "one"}) == {"x": "one"}
    assert "the arguments of bomb are not checked by agentkit (the server checks them): the schema is too costly" in caplog.text
    assert t.validate({"x": 2}) == {"x": 2}  # from then on, at no cost


def test_a_tool_whose_arguments_are_too_costly_to_check_refuses_them(monkeypatch):
    @tool
    def total(numbers: list[int]) -> int:
        """Add numbers."""
        return sum(numbers)

    monkeypatch.setattr(_validation, "STEPS", 10)
    monkeypatch.setattr(_validation, "STEPS_PER_PART", 0)
    with pytest.raises(ToolArgumentsError, match="The arguments of total cannot be checked: the schema is too costly"):
        total.validate({"numbers": list(range(100))})
    assert total.validate({"numbers": [1, 2]}) == {"numbers": [1, 2]}


def test_checking_a_schema_against_the_meta_schema_has_a_budget_too(monkeypatch):
    # jsonschema's check_schema is quadratic in a "type" array of objects (its stock uniqueItems).
    with pytest.raises(SchemaProblem, match="not valid JSON Schema"):
        validator({"type": [{"k": i} for i in range(20000)]})
    monkeypatch.setattr(_validation, "STEPS", 10)
    monkeypatch.setattr(_validation, "STEPS_PER_PART", 0)
    with pytest.raises(SchemaTooCostly):
        validator({"type": "object", "properties": {"x": {"type": "string"}}})


FORMAT_CASES = {
    "date": ("2024-02-29", "2024-02-30"),
    "date-time": ("2024-02-29T13:05:00Z", "2024-02-29 13:05"),
    "time": ("13:05:00+01:00", "25:00:00Z"),
    "email": ("ada@example.com", "ada.example.com"),
    "idn-email": ("ada@bücher.example", "ada@"),
    "uri": ("https://example.com/a?b=1#c", "example.com/a"),
    "uri-reference": ("../a?b=1", "a b"),
    "uuid": ("12345678-1234-5678-1234-567812345678", "12345678-1234-5678-1234"),
    "ipv4": ("192.168.0.1", "192.168.0.256"),
    "ipv6": ("::1", "::g"),
    "hostname": ("example.com", "-bad-.com"),
    "regex": ("^a+$", "(?=a)"),
}


def test_the_formats_agentkit_enforces_are_named():
    assert set(_validation.FORMATS) == set(FORMAT_CASES)


@pytest.mark.parametrize("fmt", sorted(FORMAT_CASES))
def test_each_format_agentkit_enforces_takes_a_good_value_and_refuses_a_bad_one(fmt):
    good, bad = FORMAT_CASES[fmt]
    check = validator({"type": "string", "format": fmt})
    assert check.is_valid(good)
    assert not check.is_valid(bad)
    assert validator({"format": fmt}).is_valid(5)  # a format speaks of strings only


# Each format's good value with a digit that is not ASCII (Arabic-Indic, fullwidth): RFC 3339,
# 4122, 5321, 3986, 1123 and the IP notations allow ASCII digits only (idn-email and regex do not).
NON_ASCII_DIGITS = {
    "date": "２０２４-02-29",
    "date-time": "2024-02-29T١٣:05:00Z",
    "time": "١٣:٠٥:٠٠+01:00",
    "email": "ada١@example.com",
    "uri": "https://example.com/a?b=١",
    "uri-reference": "../a?b=١",
    "uuid": "١٢٣٤٥٦٧٨-1234-5678-1234-567812345678",
    "ipv4": "١٩٢.168.0.1",
    "ipv6": "::١",
    "hostname": "example١.com",
}


def test_every_format_of_digits_is_named_for_the_non_ascii_digit_check():
    assert set(NON_ASCII_DIGITS) == set(FORMAT_CASES) - {"idn-email", "regex"}


@pytest.mark.parametrize("fmt", sorted(NON_ASCII_DIGITS))
def test_each_format_refuses_digits_that_are_not_ascii(fmt):
    assert not validator({"type": "string", "format": fmt}).is_valid(NON_ASCII_DIGITS[fmt])
    assert not validator({"type": "string", "format": fmt}).is_valid("１０:００:００.５Z")
    assert validator({"type": "string", "format": "time"}).is_valid("10:00:00.5Z")


@pytest.mark.parametrize(
    ("fmt", "value", "ok"),
    [
        ("time", "23:59:60Z", True),  # a leap second
        ("time", "00:00:00.123-23:59", True),
        ("time", "24:00:00Z", False),
        ("time", "23:60:00Z", False),
        ("time", "23:59:61Z", False),
        ("time", "10:00:00+24:00", False),
        ("time", "10:00:00+01:60", False),
        ("time", "10:00:00", False),
        ("date-time", "2024-02-29t10:00:00.5z", True),
        ("date-time", "2024-02-30T10:00:00Z", False),
        ("date-time", "2024-02-29T24:00:00Z", False),
        ("date-time", "2024-02-29T10:00:00+01:00x", False),
        ("hostname", "a" * 63 + ".com", True),
        ("hostname", "a" * 64 + ".com", False),
        ("hostname", "example.com.", True),
        ("hostname", "x-1.example", True),
        ("hostname", "ex_ample.com", False),
        ("hostname", "", False),
        ("hostname", ".".join(["a" * 63] * 4), False),  # 255 characters
        ("hostname", ".".join(["a" * 63] * 3 + ["a" * 61]), True),  # 253
        ("uuid", "12345678123456781234567812345678", False),
        ("uuid", "1234567-81234-5678-1234-567812345678", False),
        ("uuid", "{12345678-1234-5678-1234-5678123456}", False),
        ("uri", "https://a/b#c#d", False),
        ("uri", "urn:isbn:0451450523", True),
        ("uri", "1http://a", False),
        ("uri-reference", "", True),
        ("uri-reference", "#a#b", False),
        ("uri-reference", "a%2", False),
        ("email", "a b@x", False),
        ("email", "a@b@c", False),
    ],
)
def test_format_edges(fmt, value, ok):
    assert validator({"format": fmt}).is_valid(value) is ok
