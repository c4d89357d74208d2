"""`Tool.from_schema`: a tool described by a JSON Schema, with checks equal to `@tool`'s, and the
name rule every tool keeps (agentkit/_schema_tool.py)."""

from __future__ import annotations

import threading

import anyio
import pytest

from agentkit import Agent, Tool, ToolArgumentsError, ToolDefinitionError, _schema_walk, _validation, tool
from agentkit.testing import ScriptedModel, check_transcript

from .agent_helpers import qw_call

pytestmark = pytest.mark.anyio

BOX = {
    "type": "object",
    "properties": {
        "height": {"type": "integer", "minimum": 1, "description": "In cm."},
        "colour": {"type": "string", "enum": ["red", "green"]},
        "when": {"type": "string", "format": "date"},
        "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "integer"}}}},
    },
    "required": ["height"],
}


def box(**kwargs: object) -> dict:
    return {"thread": threading.current_thread() is threading.main_thread(), **kwargs}


async def test_a_schema_tool_calls_its_function_with_the_checked_arguments_as_keywords():
    t = Tool.from_schema("box", BOX, box, description="Make a box.")
    assert t.schema == {"type": "function", "function": {"name": "box", "description": "Make a box.", "parameters": BOX}}
    assert (t.name, t.requires_approval, t.takes_context, t.sequential, t.is_async) == ("box", False, False, False, False)
    got = await t.acall('{"height": 5.0, "tags": [{"k": 2.0}]}')
    assert got == {"thread": False, "height": 5, "tags": [{"k": 2}]}  # a sync function runs in a worker thread
    assert type(got["height"]) is int and type(got["tags"][0]["k"]) is int  # 5.0 is 5, as @tool converts


async def test_an_async_function_is_awaited_on_the_loop_and_sequential_is_kept():
    async def fetch(town: str) -> str:
        await anyio.sleep(0)
        return town.upper()

    t = Tool.from_schema("fetch", {"type": "object", "properties": {"town": {"type": "string"}}}, fetch, sequential=True)
    assert (t.is_async, t.sequential, t.description) == (True, True, "")
    assert await t.acall({"town": "oslo"}) == "OSLO"


def test_its_checks_equal_tools_unknown_arguments_enum_bounds_format_and_nested_keys():
    t = Tool.from_schema("box", BOX, box)
    with pytest.raises(ToolArgumentsError) as info:
        t.validate({"heigth": 5})
    assert info.value.problems == ["missing required argument 'height'", "unknown argument 'heigth'; box takes: height, colour, when, tags"]
    with pytest.raises(ToolArgumentsError) as info:
        t.validate({"height": 0, "colour": "blue", "when": "2024-02-30", "tags": [{"k": 1, "v": 2}]})
    assert info.value.problems == [
        "height: 0 is less than the minimum of 1",
        'colour: "blue" is not one of ["red", "green"]',
        'when: "2024-02-30" is not a "date"',
        "tags[0]: Additional properties are not allowed (\"v\" was unexpected)",
    ]


def test_a_schema_may_allow_more_arguments_and_one_without_properties_takes_any_object():
    free = Tool.from_schema("free", {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": True}, box)
    assert free.validate({"a": 1, "b": [2]}) == {"a": 1, "b": [2]}
    typed = Tool.from_schema("typed", {"type": "object", "properties": {}, "additionalProperties": {"type": "integer"}}, box)
    assert typed.validate({"b": 2.0}) == {"b": 2}
    with pytest.raises(ToolArgumentsError, match='b: "x" is not of type "integer"'):
        typed.validate({"b": "x"})
    assert Tool.from_schema("any", {"type": "object"}, box).validate({"z": None}) == {"z": None}
    with pytest.raises(ToolArgumentsError, match="unknown argument 'z'; none takes: no arguments"):
        Tool.from_schema("none", {"type": "object", "properties": {}}, box).validate({"z": 1})


def test_composed_schemas_refuse_unknown_arguments_and_keep_every_declared_one():
    schema = {
        "type": "object",
        "allOf": [{"$ref": "#/$defs/Base"}, {"properties": {"b": {"type": "integer"}}}],
        "$defs": {"Base": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}},
    }
    t = Tool.from_schema("both", schema, box)
    assert t.validate({"a": 1.0, "b": 2}) == {"a": 1, "b": 2}
    with pytest.raises(ToolArgumentsError) as info:
        t.validate({"a": 1, "c": 3})
    assert info.value.problems == ["unknown argument 'c'; both takes: a, b"]
    either = {"type": "object", "properties": {"x": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}
    assert Tool.from_schema("either", either, box).validate({"x": 3.0}) == {"x": 3}
    shapes = {"type": "object", "properties": {"s": {"oneOf": [
        {"type": "object", "properties": {"r": {"type": "number"}}, "required": ["r"]},
        {"type": "object", "properties": {"w": {"type": "integer"}}, "required": ["w"]},
    ]}}}  # fmt: skip
    s = Tool.from_schema("shape", shapes, box)
    assert exactly(s.validate({"s": {"w": 2.0}})) == exactly({"s": {"w": 2}})  # the member that fits converts
    assert exactly(s.validate({"s": {"r": 2.0}})) == exactly({"s": {"r": 2.0}})
    with pytest.raises(ToolArgumentsError):
        s.validate({"s": {"r": 1, "w": 2}})  # each alternative is whole


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "allOf": [{"properties": {"path": {"type": "string"}}}],
         "$defs": {"Headers": {"type": "object", "patternProperties": {"^X-": {"type": "string"}}}}},
        {"type": "object", "allOf": [{"properties": {"path": {"type": "string"}, "patternProperties": {"type": "string"}}}]},
        {"$ref": "#/$defs/Args", "$defs": {"Args": {"type": "object", "properties": {
            "path": {"type": "string"},
            "headers": {"type": "object", "patternProperties": {"^X-": {"type": "string"}}}}}}},
    ],
)
def test_patterns_outside_a_composed_objects_own_parts_leave_it_closed(schema):
    t = Tool.from_schema("delete", schema, box)
    assert t.validate({"path": "a"}) == {"path": "a"}
    with pytest.raises(ToolArgumentsError, match="force"):
        t.validate({"path": "a", "force": True})


def test_objects_under_draft_07_definitions_refuse_unknown_keys_and_convert_like_defs():
    schema = {
        "type": "object",
        "properties": {"order": {"$ref": "#/definitions/Order"}},
        "definitions": {
            "Order": {"type": "object", "properties": {"item": {"$ref": "#/definitions/Item"}, "n": {"type": "integer"}}},
            "Item": {"type": "object", "properties": {"sku": {"type": "string"}}},
        },
    }
    t = Tool.from_schema("order", schema, box)
    assert exactly(t.validate({"order": {"item": {"sku": "A"}, "n": 2.0}})) == exactly({"order": {"item": {"sku": "A"}, "n": 2}})
    for extra in ({"item": {"sku": "A", "price": 0}}, {"n": 1, "price": 0}):
        with pytest.raises(ToolArgumentsError, match="price"):
            t.validate({"order": extra})


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "dict", "properties": {}}, "not valid JSON Schema"),  # BFCL's raw type
        ({"type": "object", "properties": {"x": {"$ref": "#/$defs/Nope"}}}, "does not resolve within the schema"),
        ({"type": "object", "properties": {"x": {"$ref": "https://example.com/x.json"}}}, "never fetches"),
        ({"type": "object", "properties": {"x": {"type": "string", "pattern": "(?=a)"}}}, "cannot be checked"),
        ({"$ref": "#"}, "references loop"),
        ({"type": "array"}, "must describe a JSON object"),
    ],
)
def test_a_schema_that_cannot_be_read_is_a_definition_error_never_no_checks(schema, words):
    with pytest.raises(ToolDefinitionError, match=words) as info:
        Tool.from_schema("t", schema, box)
    assert str(info.value).startswith("t: ")


def test_a_reference_found_only_while_checking_refuses_the_arguments():
    sneaky = {"type": "object", "properties": {"x": {"$ref": "#/properties/y/default"},
                                                "y": {"default": {"$ref": "https://example.com/z"}}}}  # fmt: skip
    t = Tool.from_schema("sneaky", sneaky, box)
    with pytest.raises(ToolArgumentsError, match="The arguments of sneaky cannot be checked"):
        t.validate({"x": 1})


async def test_an_agent_runs_a_schema_tool_like_any_other():
    t = Tool.from_schema("box", BOX, lambda **kw: f"box of {kw['height']} cm", description="Make a box.")
    model = ScriptedModel([qw_call("box", height=3.0, heigth=1) + qw_call("box", height=3.0), "done"])
    result = await Agent(model, [t]).run("q")
    check_transcript(result.messages)
    assert result.messages[2]["content"].startswith("Error: Invalid arguments for box:\n- unknown argument 'heigth'")
    assert result.messages[3]["content"] == "box of 3 cm"
    assert model.calls[0].tools == ["box"]


# --- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "alternative"),
    [("math.add", "math_add"), ("get weather", "get_weather"), ("café", "caf_"), ("x" * 65, "x" * 64), ("a/b:c", "a_b_c")],
)
def test_a_name_outside_the_rule_is_a_definition_error_naming_a_valid_alternative(name, alternative):
    with pytest.raises(ToolDefinitionError) as info:
        Tool.from_schema(name, {"type": "object"}, box)
    assert str(info.value) == (
        f"the tool name {name!r} is not accepted by OpenAI-style servers (letters, digits, _ and -, "
        f"1 to 64 of them): use {alternative!r}, for example"
    )

    def f() -> None:
        """Do nothing."""

    with pytest.raises(ToolDefinitionError, match=f"use {alternative!r}"):
        tool(name=name)(f)


def test_names_inside_the_rule_are_kept():
    for name in ("a", "A-b_9", "x" * 64):
        assert Tool.from_schema(name, {"type": "object"}, box).name == name


def test_tool_takes_sequential_and_defaults_to_false():
    def f() -> None:
        """Do nothing."""

    assert tool(f).sequential is False
    assert tool(sequential=True)(f).sequential is True
    assert Tool(f, sequential=True).sequential is True


def bomb(levels: int) -> dict:
    defs: dict = {"a0": {"type": "integer"}}
    for i in range(1, levels + 1):
        defs[f"a{i}"] = {"allOf": [{"$ref": f"#/$defs/a{i - 1}"}, {"$ref": f"#/$defs/a{i - 1}"}]}
    return {"type": "object", "properties": {"x": {"$ref": f"#/$defs/a{levels}"}}, "$defs": defs}


def test_references_that_multiply_refuse_the_arguments_of_a_users_tool_and_converting_has_the_budget_too():
    t = Tool.from_schema("bomb", bomb(40), box)  # 2**40 subschemas per check: refused, not hours
    with pytest.raises(ToolArgumentsError, match="The arguments of bomb cannot be checked: the schema is too costly"):
        t.validate({"x": 1})
    assert Tool.from_schema("small", bomb(3), box).validate({"x": 2.0}) == {"x": 2}
    schema = bomb(40)
    convert = _schema_walk.converter(schema, _validation.resolver(schema), lambda value, sub: True)
    with pytest.raises(_validation.SchemaTooCostly, match="too costly to convert"):
        convert({"x": 1.0})


def test_properties_beside_one_of_and_recursive_references_keep_their_keys():
    either = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
              "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}  # fmt: skip
    t = Tool.from_schema("either", either, box)
    assert t.validate({"a": 1.0}) == {"a": 1}
    with pytest.raises(ToolArgumentsError, match="unknown argument 'c'; either takes: a, b"):
        t.validate({"b": 1, "c": 2})
    tree = {
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/Node"}},
        "$defs": {"Node": {"type": "object", "properties": {"v": {"type": "integer"},
                                                            "kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}},
    }  # fmt: skip
    t = Tool.from_schema("tree", tree, box)
    assert t.validate({"root": {"v": 1.0, "kids": [{"v": 2.0, "kids": []}]}}) == {"root": {"v": 1, "kids": [{"v": 2, "kids": []}]}}
    with pytest.raises(ToolArgumentsError) as info:
        t.validate({"root": {"v": 1, "kids": [{"w": 2}]}})
    assert info.value.problems == ['root.kids[0]: Unevaluated properties are not allowed ("w" was unexpected)']


def exactly(value: object) -> str:
    """`value` as JSON: 2 and 2.0 differ here, as they do for the function."""
    import json

    return json.dumps(value, sort_keys=True)


@pytest.mark.parametrize(
    ("schema", "sent", "got"),
    [
        ({"type": "integer"}, 2.0, 2),
        ({"type": "number"}, 2.0, 2.0),
        ({"type": ["integer", "null"]}, 2.0, 2),
        ({"type": ["integer", "number"]}, 2.0, 2.0),
        ({"type": "integer"}, 2.5, 2.5),  # refused by the check first; never cut here
        ({"enum": [1, "a"]}, 1.0, 1),
        ({"enum": [1.0, "a"]}, 1.0, 1.0),
        ({"const": 3}, 3.0, 3),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, 3.0, 3),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, 3.0, 3),
        ({"anyOf": [{"type": "number"}, {"type": "integer"}]}, 3.0, 3.0),  # the first member that fits
        ({"allOf": [{"type": "integer"}]}, 3.0, 3),
        ({"$ref": "#/$defs/n"}, 3.0, 3),
        ({"prefixItems": [{"type": "integer"}, {"type": "number"}], "items": {"type": "integer"}}, [1.0, 2.0, 3.0], [1, 2.0, 3]),
        ({"type": "object", "patternProperties": {"^n_": {"type": "integer"}}, "additionalProperties": {"type": "number"}},
         {"n_a": 1.0, "m": 2.0}, {"n_a": 1, "m": 2.0}),
        ({"type": "object", "properties": {"k": {"type": "integer"}}, "additionalProperties": True}, {"k": 1.0, "o": 1.0},
         {"k": 1, "o": 1.0}),
    ],
)
def test_a_whole_number_becomes_an_int_exactly_where_the_schema_wants_an_integer(schema, sent, got):
    parameters = {"type": "object", "properties": {"v": schema}, "$defs": {"n": {"type": "integer"}}}
    convert = _schema_walk.converter(parameters, _validation.resolver(parameters), lambda v, s: _validation.validator(s).is_valid(v))
    assert exactly(convert({"v": sent})) == exactly({"v": got})


def test_the_budget_of_converting_grows_with_the_arguments(monkeypatch):
    monkeypatch.setattr(_validation, "STEPS", 5)
    monkeypatch.setattr(_validation, "STEPS_PER_PART", 3)
    schema = {"type": "array", "items": {"type": "integer"}}
    convert = _schema_walk.converter(schema, _validation.resolver(schema), lambda v, s: True)
    assert convert([1.0] * 10) == [1] * 10  # 11 steps; 3 for each of 11 parts allowed
    monkeypatch.setattr(_validation, "STEPS_PER_PART", 0)
    with pytest.raises(_validation.SchemaTooCostly):
        convert([1.0] * 10)


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ([], "t: the parameters must be a JSON Schema object"),
        ({"type": ["string", "null"]}, "t: the parameters must describe a JSON object, not ['string', 'null']"),
    ],
)
def test_parameters_that_describe_no_object_are_a_definition_error(parameters, words):
    with pytest.raises(ToolDefinitionError) as info:
        Tool.from_schema("t", parameters, box)
    assert str(info.value) == words
    assert Tool.from_schema("t", {"type": ["object", "null"]}, box).validate({}) == {}


def test_what_is_found_unreadable_only_while_checking_is_said_exactly():
    sneaky = {"type": "object", "properties": {"x": {"$ref": "#/properties/y/default"},
                                                "y": {"default": {"$ref": "https://example.com/z"}}}}  # fmt: skip
    with pytest.raises(ToolArgumentsError) as info:
        Tool.from_schema("sneaky", sneaky, box).validate({"x": 1})
    assert str(info.value) == (
        "The arguments of sneaky cannot be checked: the reference 'https://example.com/z' does not resolve within the schema."
    )
    loop = {"type": "object", "properties": {"x": {"$ref": "#/properties/y/default"}, "y": {"default": {"$ref": "#/properties/x"}}}}
    with pytest.raises(ToolArgumentsError) as info:
        Tool.from_schema("loop", loop, box).validate({"x": 1})
    assert str(info.value) == "The arguments of loop cannot be checked: its references loop."


def test_converting_over_budget_refuses_a_users_arguments_and_leaves_a_servers_as_sent(caplog):
    from agentkit._schema_check import SchemaCheck

    def costly(value: object) -> object:
        raise _validation.SchemaTooCostly("too costly")

    user = SchemaCheck("t", {"type": "object"}, server=False)
    user._convert = costly
    with pytest.raises(ToolArgumentsError, match=r"^The arguments of t cannot be checked: too costly\.$"):
        user.convert({"a": 1.0})
    server = SchemaCheck("t", {"type": "object"}, server=True)
    server._convert = costly
    assert server.convert({"a": 1.0}) == {"a": 1.0}
    assert "the arguments of t are not checked by agentkit (the server checks them): too costly" in caplog.text
    assert server.validator is None
