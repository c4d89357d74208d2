import dataclasses
import datetime
import enum
import functools
import json
import logging
from typing import Annotated, Any, Literal, Optional, TypedDict, Union

import annotated_types
import anyio
import jsonschema
import pydantic
import pytest

from agentkit import Tool, ToolArgumentsError, ToolDefinitionError, tool
from agentkit._demo import weather

# The guide's two tools as agentkit ships them for its demo (agentkit/_demo/weather.py), unwrapped:
# their schemas must be the guide's own.
get_current_temperature = weather.get_current_temperature.function
get_temperature_date = weather.get_temperature_date.function


# The tools list of the Intern-S1 guide, as written there by hand.
GUIDE_TOOLS = [{
    'type': 'function',
    'function': {
        'name': 'get_current_temperature',
        'description': 'Get current temperature at a location.',
        'parameters': {
            'type': 'object',
            'properties': {
                'location': {
                    'type': 'string',
                    'description': 'The location to get the temperature for, in the format \'City, State, Country\'.'
                },
                'unit': {
                    'type': 'string',
                    'enum': ['celsius', 'fahrenheit'],
                    'description': 'The unit to return the temperature in. Defaults to \'celsius\'.'
                }
            },
            'required': ['location']
        }
    }
}, {
    'type': 'function',
    'function': {
        'name': 'get_temperature_date',
        'description': 'Get temperature at a location and date.',
        'parameters': {
            'type': 'object',
            'properties': {
                'location': {
                    'type': 'string',
                    'description': 'The location to get the temperature for, in the format \'City, State, Country\'.'
                },
                'date': {
                    'type': 'string',
                    'description': 'The date to get the temperature for, in the format \'Year-Month-Day\'.'
                },
                'unit': {
                    'type': 'string',
                    'enum': ['celsius', 'fahrenheit'],
                    'description': 'The unit to return the temperature in. Defaults to \'celsius\'.'
                }
            },
            'required': ['location', 'date']
        }
    }
}]  # fmt: skip


def _requote(obj: Any) -> Any:
    return json.loads(json.dumps(obj).replace("'", '\\"'))


def test_seed_functions_give_the_guides_schemas_exactly():
    ours = [tool(get_current_temperature).schema, tool(get_temperature_date).schema]
    assert ours == _requote(GUIDE_TOOLS)


def test_tool_attributes_and_call_passthrough():
    t = tool(get_current_temperature)
    assert isinstance(t, Tool)
    assert t.name == "get_current_temperature"
    assert t.description == "Get current temperature at a location."
    assert t.parameters == t.schema["function"]["parameters"]
    assert t("Paris") == {"temperature": 26.1, "location": "Paris", "unit": "celsius"}
    assert t.__doc__ == get_current_temperature.__doc__


def test_decorator_with_options_and_async_function():
    @tool(name="weather", description="Weather now.")
    async def fetch(city: str) -> str:
        """Ignored summary."""
        return city.upper()

    assert fetch.name == "weather" and fetch.description == "Weather now."
    coro = fetch("x")
    assert hasattr(coro, "__await__")
    assert anyio.run(lambda: coro) == "X"
    assert anyio.run(fetch.acall, '{"city": "oslo"}') == "OSLO"


def test_bound_method():
    class Station:
        def __init__(self) -> None:
            self.offset = 10

        def reading(self, value: int) -> int:
            """Add the station offset.

            Args:
                value: raw reading
            """
            return value + self.offset

    t = tool(Station().reading)
    assert list(t.parameters["properties"]) == ["value"]
    assert t(1) == 11
    assert anyio.run(t.acall, {"value": 5}) == 15


def test_sync_tool_runs_in_a_worker_thread():
    import threading

    @tool
    def where() -> str:
        """Name the thread."""
        return threading.current_thread().name

    assert anyio.run(where.acall, "{}") != threading.current_thread().name


def test_positional_only_parameters():
    @tool
    def add(a: int, b: int, /) -> int:
        """Add."""
        return a + b

    assert anyio.run(add.acall, {"a": 1, "b": 2}) == 3


# --- the type table ------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(pydantic.BaseModel):
    street: str = pydantic.Field(description="Street and number")
    zip_code: Optional[str] = None


@dataclasses.dataclass
class Point:
    """A point.

    Attributes:
        x: horizontal
        y: vertical
    """

    x: float
    y: float = 0.0


class Options(TypedDict, total=False):
    verbose: bool


@dataclasses.dataclass
class Documented:
    """Fields documented in an Args section, one on two lines, one also in its hint.

    Args:
        a: first line
            second line
        b: from the docstring
        c:
    """

    a: int
    b: Annotated[int, "from the hint"]
    c: int = 0


class Tagged(pydantic.BaseModel):
    """Tagged.

    Attributes:
        n: how many
    """

    n: int
    tag: Annotated[str, "a label"] = ""


class Sized(TypedDict):
    """Sized.

    Attributes:
        w: width
    """

    w: int


TYPE_TABLE: list[tuple[Any, dict[str, Any]]] = [
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (None, {"type": "null"}),
    (Any, {}),
    (list[int], {"type": "array", "items": {"type": "integer"}}),
    (list, {"type": "array"}),
    (set[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
    (tuple[int, str], {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
                       "minItems": 2, "maxItems": 2}),
    (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
    (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
    (dict, {"type": "object"}),
    (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
    (Literal[1, "x"], {"type": ["integer", "string"], "enum": [1, "x"]}),
    (Color, {"type": "string", "enum": ["red", "green"]}),
    (Level, {"type": "integer", "enum": [1, 2]}),
    (Optional[int], {"type": ["integer", "null"]}),
    (int | None, {"type": ["integer", "null"]}),
    (Union[int, str], {"type": ["integer", "string"]}),
    (Optional[Color], {"anyOf": [{"type": "string", "enum": ["red", "green"]}, {"type": "null"}]}),
    (Union[list[int], str], {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "string"}]}),
    (Annotated[int, "how many"], {"type": "integer", "description": "how many"}),
    (Annotated[str, pydantic.Field(description="a name")], {"type": "string", "description": "a name"}),
    (datetime.date, {"type": "string", "format": "date"}),
    (datetime.datetime, {"type": "string", "format": "date-time"}),
    (Address, {"type": "object", "properties": {
        "street": {"type": "string", "description": "Street and number"},
        "zip_code": {"type": ["string", "null"]}}, "required": ["street"]}),
    (Point, {"type": "object", "properties": {
        "x": {"type": "number", "description": "horizontal"},
        "y": {"type": "number", "description": "vertical"}}, "required": ["x"]}),
    (Options, {"type": "object", "properties": {"verbose": {"type": "boolean"}}}),
    (Union[list, tuple], {"type": "array"}),
    (tuple[()], {"type": "array", "maxItems": 0}),
    (Annotated[int, 3], {"type": "integer"}),  # metadata that is not a description is ignored
    (Optional[list[int]], {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]}),
    (Literal[None, "a"], {"type": ["null", "string"], "enum": [None, "a"]}),
    (Documented, {"type": "object", "properties": {
        "a": {"type": "integer", "description": "first line second line"},
        "b": {"type": "integer", "description": "from the hint"},
        "c": {"type": "integer"}}, "required": ["a", "b"]}),
    (Tagged, {"type": "object", "properties": {
        "n": {"type": "integer", "description": "how many"},
        "tag": {"type": "string", "description": "a label"}}, "required": ["n"]}),
    (Sized, {"type": "object", "properties": {"w": {"type": "integer", "description": "width"}}, "required": ["w"]}),
    (list[Point], {"type": "array", "items": {"type": "object", "properties": {
        "x": {"type": "number", "description": "horizontal"},
        "y": {"type": "number", "description": "vertical"}}, "required": ["x"]}}),
]  # fmt: skip


def _param_schema(hint: Any) -> dict[str, Any]:
    def f(x):  # type: ignore[no-untyped-def]
        """F."""

    f.__annotations__ = {"x": hint}
    return tool(f).parameters["properties"]["x"]


@pytest.mark.parametrize(("hint", "expected"), TYPE_TABLE, ids=[repr(h) for h, _ in TYPE_TABLE])
def test_type_table(hint: Any, expected: dict[str, Any]):
    schema = _param_schema(hint)
    assert schema == expected
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_tool_schema_is_valid_json_schema():
    for hint, _ in TYPE_TABLE:
        jsonschema.Draft202012Validator.check_schema(_param_schema(hint))
    jsonschema.Draft202012Validator.check_schema(tool(get_temperature_date).parameters)


# Values that probe what a schema accepts. Agreement on all of them = the same meaning.
PROBES = [None, True, False, 0, 1, -3, 2.5, "", "red", "a", "x", "2024-11-14", [], [1, 2], ["a"],
          [1, "a"], [1, "a", 3], {}, {"k": 1.5}, {"k": "v"}, {"verbose": True}]  # fmt: skip


def _transformers_meaning(schema: dict[str, Any]) -> dict[str, Any]:
    """transformers writes OpenAPI's ``nullable``; say it in JSON Schema."""
    schema = json.loads(json.dumps(schema))
    for sub in [schema, *schema.get("anyOf", [])]:
        if sub.pop("nullable", False):
            if isinstance(sub.get("type"), str):
                sub["type"] = [sub["type"], "null"]
            elif isinstance(sub.get("type"), list):
                sub["type"] = [*sub["type"], "null"]
            else:
                schema = {"anyOf": [schema, {"type": "null"}]}
            if "enum" in sub:
                sub["enum"] = [*sub["enum"], None]
    return schema


COMPARABLE = [str, int, float, bool, Any, list[int], list, dict[str, float], dict,
              Optional[int], Union[int, str], Literal["a", "b"], Optional[list[str]],
              Union[list[int], str], tuple[int, str]]  # fmt: skip


@pytest.mark.parametrize("hint", COMPARABLE, ids=[repr(h) for h in COMPARABLE])
def test_same_meaning_as_transformers_get_json_schema(hint: Any):
    transformers_utils = pytest.importorskip("transformers.utils")

    def f(x):  # type: ignore[no-untyped-def]
        """F.

        Args:
            x: the x
        """

    f.__annotations__ = {"x": hint}
    theirs = _transformers_meaning(
        transformers_utils.get_json_schema(f)["function"]["parameters"]["properties"]["x"]
    )
    ours = tool(f).parameters["properties"]["x"]
    assert ours.get("description") == theirs.get("description") == "the x"
    for probe in PROBES:
        if hint == tuple[int, str] and isinstance(probe, list) and len(probe) != 2:
            continue  # theirs lets a pair have any length; ours says exactly two (stricter, on purpose)
        assert jsonschema.Draft202012Validator(ours).is_valid(probe) == jsonschema.Draft202012Validator(
            theirs
        ).is_valid(probe), (hint, probe, ours, theirs)


def test_docstring_conventions():
    @tool
    def book(room: str, nights: int = 1, note: str = "") -> None:
        """Book a room.

        Longer explanation of booking.

        Args:
            room (str): Which room,
                on two lines.
            nights: How long.
                (choices: [1, 2, 3])
        """

    assert book.description == "Book a room.\n\nLonger explanation of booking."
    props = book.parameters["properties"]
    assert props["room"] == {"type": "string", "description": "Which room, on two lines."}
    assert props["nights"] == {"type": "integer", "description": "How long.", "enum": [1, 2, 3]}
    assert props["note"] == {"type": "string"}  # no description: allowed
    assert book.parameters["required"] == ["room"]


def test_missing_docstring_is_allowed_and_logged(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="agentkit"):

        @tool
        def bare(x: int) -> int:
            return x

    assert bare.description == ""
    assert "bare" in caplog.text


# --- definition errors -----------------------------------------------------------------------


def test_unresolvable_annotation_names_the_parameter():
    def later(when: "Missing") -> None:  # type: ignore[name-defined]  # noqa: F821
        """D."""

    with pytest.raises(ToolDefinitionError, match=r"later\(\): parameter 'when'.*Missing"):
        tool(later)


def test_definition_errors_name_function_and_parameter():
    def no_hint(x):  # type: ignore[no-untyped-def]
        """D."""

    def varargs(*args: int) -> None:
        """D."""

    def kwargs(**kw: int) -> None:
        """D."""

    def extra_doc(x: int) -> None:
        """D.

        Args:
            x: fine
            y: not a parameter
        """

    class Opaque:
        pass

    def unsupported(x: Opaque) -> None:
        """D."""

    def bad_choices(x: str) -> None:
        """D.

        Args:
            x: pick one (choices: [a, b])
        """

    def int_keys(x: dict[int, str]) -> None:
        """D."""

    cases = [
        (no_hint, ["no_hint", "'x'", "type hint"]),
        (varargs, ["varargs", "'args'"]),
        (kwargs, ["kwargs", "'kw'"]),
        (extra_doc, ["extra_doc", "y", "not a parameter"]),
        (unsupported, ["unsupported", "'x'", "Opaque"]),
        (bad_choices, ["bad_choices", "'x'", "choices"]),
        (int_keys, ["int_keys", "'x'"]),
    ]
    for fn, words in cases:
        with pytest.raises(ToolDefinitionError) as info:
            tool(fn)
        for w in words:
            assert w in str(info.value), (fn, str(info.value))


@dataclasses.dataclass
class Node:
    children: "list[Node]"


def test_recursive_type_is_a_definition_error():
    def walk(tree: Node) -> None:
        """D."""

    with pytest.raises(ToolDefinitionError, match="recursive"):
        tool(walk)


# --- validation --------------------------------------------------------------------------------


@tool
def plan(
    color: Color,
    when: datetime.date,
    where: Address,
    points: list[Point],
    pair: tuple[int, str] = (0, ""),
    level: Optional[Level] = None,
) -> str:
    """Plan something.

    Args:
        color: a color
        when: the day
        where: the address
        points: the route
        pair: a pair
        level: how much
    """
    return "ok"


def test_validate_converts_to_python_values():
    values = plan.validate(
        json.dumps({
            "color": "green", "when": "2024-11-14", "where": {"street": "Main 1"},
            "points": [{"x": 1, "y": 2.5}], "pair": [3, "c"], "level": 2,
        })
    )  # fmt: skip
    assert values == {
        "color": Color.GREEN,
        "when": datetime.date(2024, 11, 14),
        "where": Address(street="Main 1"),
        "points": [Point(x=1.0, y=2.5)],
        "pair": (3, "c"),
        "level": Level.HIGH,
    }
    assert isinstance(values["points"][0].x, float)


def test_validate_lists_every_problem_with_its_path():
    with pytest.raises(ToolArgumentsError) as info:
        plan.validate({
            "color": "blue", "when": "not a date", "where": {"street": 5, "floor": 2},
            "points": [{"x": 1}, {"y": 2}], "bogus": 1,
        })  # fmt: skip
    problems = info.value.problems
    text = str(info.value)
    assert 'color: "blue" is not one of ["red", "green"]' in problems
    assert any(p.startswith("when:") and "date" in p for p in problems)
    assert 'where.street: 5 is not of type "string"' in problems
    assert any(p.startswith("where:") and "floor" in p for p in problems)
    assert any(p.startswith("points[1]:") and '"x"' in p for p in problems)
    assert any("unknown argument 'bogus'" in p for p in problems)
    assert text.startswith("Invalid arguments for plan:")


def test_validate_missing_required_and_wrong_type():
    t = tool(get_temperature_date)
    with pytest.raises(ToolArgumentsError, match="missing required argument 'location', 'date'"):
        t.validate("{}")
    with pytest.raises(ToolArgumentsError, match='location: 3 is not of type "string"'):
        t.validate({"location": 3, "date": "x"})


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"location": "Paris"', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("__import__('os').system('true')", "not valid JSON"),
    ],
)
def test_validate_rejects_what_is_not_a_json_object(raw: str, words: str):
    with pytest.raises(ToolArgumentsError, match=words):
        tool(get_current_temperature).validate(raw)


def test_empty_arguments_mean_no_arguments():
    @tool
    def ping() -> str:
        """Ping."""
        return "pong"

    assert ping.validate("") == {} and ping.validate(None) == {}
    assert anyio.run(ping.acall, " ") == "pong"


def test_impossible_value_the_schema_cannot_see_is_reported():
    @tool
    def on(day: datetime.date) -> None:
        """D."""

    with pytest.raises(ToolArgumentsError, match="day"):
        on.validate({"day": "2024-02-30"})


def test_union_members_are_converted_by_the_one_that_matches():
    @tool
    def when(at: Union[datetime.date, int]) -> None:
        """D."""

    assert when.validate({"at": 5}) == {"at": 5}
    assert when.validate({"at": "2024-01-02"}) == {"at": datetime.date(2024, 1, 2)}


def test_acall_validates_before_running():
    calls: list[str] = []

    @tool
    def record(x: int) -> int:
        """D."""
        calls.append("ran")
        return x

    with pytest.raises(ToolArgumentsError):
        anyio.run(record.acall, '{"x": "1"}')
    assert calls == []


def test_nested_union_fields_under_future_annotations_convert_every_time():
    # Under `from __future__ import annotations` each validation re-creates the field hints;
    # a validator cached by the hint's id() then answered for whatever object reused the id.
    from tests.future_hints import Pair, Shape

    @tool
    def take(pair: Pair, shape: Shape) -> None:
        """D."""

    for i in range(60):
        a: Any = [i, 2] if i % 2 else {"k": i}
        b: Any = ["s"] if i % 3 else {"k": "s"}
        at: Any = "2024-01-02" if i % 5 else i
        got = take.validate({"pair": {"a": a, "b": b}, "shape": {"v": a, "at": at}})
        assert got["pair"] == Pair(a=a, b=b), i
        assert type(got["pair"].a) is type(a) and type(got["pair"].b) is type(b), i
        assert got["shape"] == {"v": a, "at": datetime.date(2024, 1, 2) if i % 5 else i}, i


def test_nested_hints_are_resolved_once_when_the_tool_is_defined(monkeypatch: pytest.MonkeyPatch):
    # Per-value resolution is what made fresh hint objects (and recycled ids) in the first place.
    import typing

    from tests.future_hints import Pair

    @tool
    def take(pair: Pair) -> None:
        """D."""

    resolved: list[object] = []
    real = typing.get_type_hints
    monkeypatch.setattr(typing, "get_type_hints", lambda *a, **k: resolved.append(a[0]) or real(*a, **k))
    for _ in range(3):
        assert take.validate({"pair": {"a": [1], "b": {"k": "v"}}}) == {"pair": Pair(a=[1], b={"k": "v"})}
    assert resolved == []


def test_a_json_integer_written_as_float_reaches_the_function_as_int():
    # JSON Schema counts 2.0 as an integer, so the check lets it through; `range(n)` must still work.
    @tool
    def repeat(n: int, tags: list[int], pick: Literal[1, "one"], dims: tuple[int, float]) -> None:
        """D."""

    got = repeat.validate('{"n": 2.0, "tags": [1.0, 3], "pick": 1.0, "dims": [4.0, 5]}')
    assert got == {"n": 2, "tags": [1, 3], "pick": 1, "dims": (4, 5.0)}
    assert [type(v) for v in (got["n"], *got["tags"], got["pick"], *got["dims"])] == [int, int, int, int, int, float]
    with pytest.raises(ToolArgumentsError, match=r'n: 2\.5 is not of type "integer"'):
        repeat.validate({"n": 2.5, "tags": [], "pick": "one", "dims": [1, 1]})


# --- cases found by mutation testing (mutmut on tools.py and _schema.py) ------------------------
# Each tool is built inside its test: a module-level tool's validator is built once, by whichever
# test validates first, so a broken builder would go unseen by the others.


@dataclasses.dataclass
class Leaf:
    n: int


class Crate(TypedDict):
    leaf: Leaf


def test_unknown_keys_are_rejected_at_every_depth_with_their_path():
    @tool
    def nest(crates: list[Crate], by_name: dict[str, Leaf], pair: tuple[Leaf, int], either: Union[Leaf, int]) -> None:
        """D."""

    good = {"crates": [{"leaf": {"n": 1}}], "by_name": {"a": {"n": 2}}, "pair": [{"n": 3}, 4], "either": {"n": 5}}
    assert nest.validate(good) == {
        "crates": [{"leaf": Leaf(1)}], "by_name": {"a": Leaf(2)}, "pair": (Leaf(3), 4), "either": Leaf(5),
    }  # fmt: skip
    with pytest.raises(ToolArgumentsError) as info:
        nest.validate({
            "crates": [{"leaf": {"n": 1, "x": 0}}], "by_name": {"a": {"n": 2, "y": 0}},
            "pair": [{"n": 3, "z": 0}, 4], "either": {"n": 5, "w": 0},
        })  # fmt: skip
    assert info.value.problems == [
        'crates[0].leaf: Additional properties are not allowed ("x" was unexpected)',
        'by_name.a: Additional properties are not allowed ("y" was unexpected)',
        'pair[0]: Additional properties are not allowed ("z" was unexpected)',
        'either: {"n": 5, "w": 0} is not valid under any of the given schemas',
    ]


def test_formats_are_checked_at_the_top_and_inside_unions():
    @tool
    def on(day: datetime.date, label: Union[datetime.date, str]) -> None:
        """D."""

    with pytest.raises(ToolArgumentsError) as info:
        on.validate({"day": "tomorrow", "label": "x"})
    assert info.value.problems == ['day: "tomorrow" is not a "date"']
    assert on.validate({"day": "2024-01-02", "label": "hello"})["label"] == "hello"
    assert on.validate({"day": "2024-01-02", "label": "2024-01-03"})["label"] == datetime.date(2024, 1, 3)


def test_problem_texts_are_exact():
    @tool
    def ping() -> str:
        """Ping."""
        return "pong"

    @tool
    def pair(x: int, y: int) -> None:
        """D."""

    with pytest.raises(ToolArgumentsError) as info:
        ping.validate({"x": 1})
    assert info.value.problems == ["unknown argument 'x'; ping takes: no arguments"]
    with pytest.raises(ToolArgumentsError) as info:
        pair.validate({"x": 1, "y": 2, "b": 0, "a": 0})
    assert str(info.value) == "Invalid arguments for pair:\n- unknown argument 'a', 'b'; pair takes: x, y"
    with pytest.raises(ToolArgumentsError) as info:
        pair.validate({"y": "2"})
    assert info.value.problems == ['y: "2" is not of type "integer"', "missing required argument 'x'"]
    with pytest.raises(ToolArgumentsError, match=r"^The arguments of pair must be a JSON object, not list\.$"):
        pair.validate("[1]")


class Strict(pydantic.BaseModel):
    n: int

    @pydantic.field_validator("n")
    @classmethod
    def positive(cls, n: int) -> int:
        if n <= 0:
            raise ValueError("must be\n   positive")
        return n


def test_a_conversion_error_becomes_one_line_naming_the_argument_and_field():
    @tool
    def count(m: Strict) -> None:
        """D."""

    with pytest.raises(ToolArgumentsError) as info:
        count.validate({"m": {"n": 0}})
    (problem,) = info.value.problems
    assert problem == "m.n: Value error, must be positive"
    assert "\n" not in problem and "  " not in problem


@pytest.mark.parametrize("choices", ["[]", "[[1], 2]", '{"a": 1}', '"a"'])
def test_choices_must_be_a_non_empty_list_of_scalars(choices: str):
    def pick(x: str) -> None:
        pass

    pick.__doc__ = f"D.\n\nArgs:\n    x: one (choices: {choices})\n"
    with pytest.raises(ToolDefinitionError) as info:
        tool(pick)
    assert str(info.value) == (
        f"{pick.__qualname__}(): the choices of argument 'x' must be a non-empty JSON list of scalars, got {choices!r}"
    )


def test_more_definition_error_texts():
    def later(when: "Missing") -> None:  # type: ignore[name-defined]  # noqa: F821
        """D."""

    with pytest.raises(ToolDefinitionError) as info:
        tool(later)
    assert str(info.value).endswith("define the type at module level")
    with pytest.raises(ToolDefinitionError, match=r"^functools\.partial\(.*\): a tool needs a name$"):
        tool(functools.partial(get_current_temperature))
    with pytest.raises(ToolDefinitionError, match=r"^iter\(\): cannot read its signature: "):
        tool(iter)

    def extra_doc(x: int) -> None:
        """D.

        Args:
            x: fine
            y: no
            z: no
        """

    with pytest.raises(ToolDefinitionError) as info:
        tool(extra_doc)
    assert str(info.value).endswith("documents y, z, which is not a parameter")


def test_missing_docstring_warning_text(caplog: pytest.LogCaptureFixture):
    def bare(x: int) -> int:
        return x

    with caplog.at_level(logging.WARNING, logger="agentkit"):
        tool(bare)
    assert caplog.messages == [f"tool {bare.__qualname__} has no docstring: the model gets no description"]


def test_tool_called_with_options_and_descriptions_from_hint_or_docstring():
    def f(a: Annotated[int, "from the hint"], b: int, c: int) -> None:
        """Summary.

        Args:
            a: from the docstring
            b: documented
            c:
        """

    t = tool(f, name="g", description="Given.")
    assert (t.name, t.description) == ("g", "Given.")
    assert t.parameters["properties"] == {
        "a": {"type": "integer", "description": "from the hint"},
        "b": {"type": "integer", "description": "documented"},
        "c": {"type": "integer"},
    }
    assert tool(f).name == "f" and tool(f).description == "Summary."
    assert tool(get_current_temperature)(location="Oslo", unit="f")["unit"] == "f"


def test_async_tools_run_on_the_event_loop_and_positional_only_arguments_reach_them():
    import threading

    @tool
    async def add(a: int, b: int, /, *, scale: int = 1) -> tuple[int, str]:
        """Add."""
        return (a + b) * scale, threading.current_thread().name

    async def main() -> tuple[tuple[int, str], str]:
        return await add.acall({"a": 1, "b": 2, "scale": 10}), threading.current_thread().name

    (total, tool_thread), loop_thread = anyio.run(main)
    assert total == 30 and tool_thread == loop_thread


def test_a_sync_function_that_returns_an_awaitable_is_awaited():
    async def later(x: int) -> int:
        return x * 2

    def start(x: int):  # type: ignore[no-untyped-def]
        """Start."""
        return later(x)

    start.__annotations__ = {"x": int}
    assert anyio.run(tool(start).acall, {"x": 4}) == 8


def test_cancelling_a_hung_sync_tool_returns_without_waiting_for_it():
    import threading

    release, started, finished = threading.Event(), threading.Event(), threading.Event()

    @tool
    def hang() -> None:
        """Hang until released."""
        started.set()
        release.wait(30)  # bounded, so a regression fails instead of hanging the suite
        finished.set()

    async def main() -> bool:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(hang.acall, None)
                await anyio.to_thread.run_sync(started.wait)
                scope.cancel()
        return finished.is_set()  # False: the scope ended while the thread still waited

    try:
        assert anyio.run(main) is False
    finally:
        release.set()


@dataclasses.dataclass
class Chain:
    next: "Optional[Chain]"


class Pairs(enum.Enum):
    A = (1, 2)


def test_unsupported_and_recursive_types_are_named_exactly():
    from agentkit import _schema

    def link(c: Chain) -> None:
        """D."""

    def pairs(x: Pairs) -> None:
        """D."""

    def keys(x: dict[int, str]) -> None:
        """D."""

    with pytest.raises(ToolDefinitionError) as info:
        tool(link)  # the recursion goes through a union
    assert str(info.value).endswith("parameter 'c': unsupported type Chain (recursive types are not supported)")
    for through in (dict[str, Chain], tuple[Chain, ...], tuple[int, Chain]):

        def deep(d):  # type: ignore[no-untyped-def]
            """D."""

        deep.__annotations__ = {"d": through}
        with pytest.raises(ToolDefinitionError, match=r"unsupported type Chain \(recursive types are not supported\)$"):
            tool(deep)
    with pytest.raises(ToolDefinitionError) as info:
        tool(pairs)
    assert str(info.value).endswith("parameter 'x': unsupported type (1, 2) (enum values must be JSON scalars)")
    with pytest.raises(ToolDefinitionError) as info:
        tool(keys)
    assert str(info.value).endswith(
        "parameter 'x': unsupported type dict[int, str] (JSON object keys are strings: use dict[str, ...])"
    )

    class Opaque:
        pass

    with pytest.raises(_schema.UnsupportedType) as schema_info:
        _schema.type_schema(list[Opaque])
    assert schema_info.value.hint is Opaque and str(schema_info.value) == "unsupported type Opaque"
    for hint, name in ((Node, "Node"), (Chain, "Chain")):  # through a list, through a union
        with pytest.raises(_schema.UnsupportedType, match=rf"^unsupported type {name} \(recursive types are not supported\)$"):
            _schema.converter(hint, lambda hint: lambda value: True)


def test_unions_nested_in_union_members_and_bool_literals_convert():
    @tool
    def f(x: Union[list[Union[int, str]], int], flag: Literal[1, True]) -> None:
        """D."""

    got = f.validate({"x": [1, "a", 2.0], "flag": True})
    assert got == {"x": [1, "a", 2], "flag": True}
    assert type(got["x"][2]) is int and got["flag"] is True
    assert f.validate({"x": 3, "flag": 1.0})["flag"] == 1


def test_sets_and_variadic_tuples_are_converted_item_by_item():
    @tool
    def f(s: set[int], fs: frozenset[Level], t: tuple[int, ...], bare: set, none: tuple[()]) -> None:  # type: ignore[type-arg]
        """D."""

    got = f.validate({"s": [1, 2.0], "fs": [1], "t": [3.0, 4.0, 5], "bare": ["a"], "none": []})
    assert got == {"s": {1, 2}, "fs": frozenset({Level.LOW}), "t": (3, 4, 5), "bare": {"a"}, "none": ()}
    assert type(got["fs"]) is frozenset and [type(v) for v in got["t"]] == [int, int, int]
    assert all(type(v) is int for v in got["s"])


def test_async_tools_take_no_worker_thread(monkeypatch: pytest.MonkeyPatch):
    # Worker threads are a limited pool that hung sync tools can use up; an async tool must not wait for one.
    import agentkit.tools

    async def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an async tool asked for a worker thread")

    @tool
    async def echo(x: int) -> int:
        """Echo."""
        return x

    monkeypatch.setattr(agentkit.tools.anyio.to_thread, "run_sync", no_thread)
    assert anyio.run(echo.acall, {"x": 7}) == 7


def test_unresolvable_hints_name_the_right_parameter_or_none():
    def second(a: int, when: "Missing") -> None:  # type: ignore[name-defined]  # noqa: F821
        """D."""

    def returns(a: int) -> "Missing":  # type: ignore[name-defined]  # noqa: F821
        """D."""

    with pytest.raises(ToolDefinitionError, match=r"second\(\): parameter 'when': cannot resolve"):
        tool(second)
    with pytest.raises(ToolDefinitionError) as info:
        tool(returns)
    assert str(info.value).startswith(f"{returns.__qualname__}(): cannot resolve the type hint (name 'Missing'")


def test_every_problem_on_its_own_line_with_exact_paths():
    @tool
    def f(Xval: int, pts: list[Point]) -> None:
        """D."""

    with pytest.raises(ToolArgumentsError) as info:
        f.validate({"Xval": "1", "pts": [{"x": 1, "y": "2"}]})
    assert str(info.value) == (
        'Invalid arguments for f:\n- Xval: "1" is not of type "integer"\n- pts[0].y: "2" is not of type "number"'
    )


# --- pydantic Field constraints (Annotated[int, Field(ge=1, le=5)]) ----------------------------------

RATED: list[int] = []


@tool
def rate(
    stars: Annotated[int, pydantic.Field(ge=1, le=5, description="How good.")],
    code: Annotated[str, pydantic.Field(pattern="^[A-Z]{3}$", min_length=3, max_length=3)] = "ABC",
    share: Annotated[float, pydantic.Field(gt=0, lt=1, multiple_of=0.25)] = 0.5,
    tags: Annotated[list[str], pydantic.Field(min_length=1, max_length=2)] = ["x"],  # noqa: B006
    extra: Annotated[dict[str, int], annotated_types.Len(0, 1)] = {},  # noqa: B006
) -> str:
    """Rate the place.

    Args:
        stars: Ignored: the Field's description wins.
    """
    RATED.append(stars)
    return "ok"


def test_field_constraints_of_a_parameter_are_in_its_schema():
    assert rate.parameters["properties"] == {
        "stars": {"type": "integer", "minimum": 1, "maximum": 5, "description": "How good."},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 3, "maxLength": 3},
        "share": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "multipleOf": 0.25},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
        "extra": {"type": "object", "additionalProperties": {"type": "integer"}, "maxProperties": 1},  # Len(0, 1)
    }
    assert rate.validate({"stars": 5, "code": "XYZ", "share": 0.75, "tags": ["a", "b"], "extra": {"k": 1}})


def test_an_argument_outside_its_field_constraints_is_refused_and_the_function_never_runs():
    from agentkit import Agent
    from agentkit.testing import ScriptedModel

    from .agent_helpers import qw_call

    RATED.clear()
    script = [qw_call("rate", stars=9, code="abcd", share=1, tags=[], extra={"a": 1, "b": 2}), qw_call("rate", stars=3), "done"]
    result = Agent(ScriptedModel(script), [rate]).run_sync("Rate it.")
    assert result.messages[2]["content"] == (
        "Error: Invalid arguments for rate:\n"
        "- stars: 9 is greater than the maximum of 5\n"
        '- code: "abcd" is too long\n'
        '- code: "abcd" does not match "^[A-Z]{3}$"\n'
        "- share: 1 is greater than or equal to the maximum of 1\n"
        "- tags: [] should be non-empty\n"
        '- extra: {"a": 1, "b": 2} has too many properties'
    )
    assert RATED == [3]  # only the second call ran
    assert result.messages[4]["content"] == "ok"


def test_constraints_that_json_schema_cannot_say_are_definition_errors():
    def even(n: Annotated[int, annotated_types.Predicate(lambda v: v % 2 == 0)]) -> None:
        """D."""

    def after(d: Annotated[datetime.date, pydantic.Field(gt=datetime.date(2020, 1, 1))]) -> None:
        """D."""

    def ahead(word: Annotated[str, pydantic.Field(pattern="^(?=a)")]) -> None:
        """D."""

    with pytest.raises(ToolDefinitionError, match=r"parameter 'n': unsupported type int \(the constraint Predicate"):
        tool(even)
    with pytest.raises(ToolDefinitionError, match=r"parameter 'd': .*gt=datetime.date\(2020, 1, 1\) needs a number"):
        tool(after)
    with pytest.raises(ToolDefinitionError, match=r"ahead\(\): the pattern '\^\(\?=a\)' cannot be checked"):
        tool(ahead)


def test_a_docstring_the_parser_cannot_read_is_no_argument_docs_never_a_parse_error(caplog: pytest.LogCaptureFixture):
    def pwd() -> str:
        """Return the current working directory path.

        Args:
            None
        Returns:
            current_working_directory (str): The current working directory path.
        """
        return "/"

    with caplog.at_level(logging.WARNING, logger="agentkit"):
        t = tool(pwd)
    assert t.description == "Return the current working directory path."
    assert t.parameters == {"type": "object", "properties": {}, "required": []}
    assert "cannot be read" in caplog.text and "pwd" in caplog.text


def test_problems_show_the_json_the_model_wrote_not_python_reprs():
    @tool
    def f(name: str, flag: bool, colour: Literal["red", "green"], n: Optional[int] = None) -> None:
        """Do nothing."""

    with pytest.raises(ToolArgumentsError) as info:
        f.validate('{"name": null, "flag": "yes", "colour": "blue", "n": true}')
    assert info.value.problems == [
        'name: null is not of type "string"',
        'flag: "yes" is not of type "boolean"',
        'colour: "blue" is not one of ["red", "green"]',
        'n: true is not of type "integer", "null"',
    ]


def test_date_times_and_times_need_an_offset_as_rfc_3339_says():
    @tool
    def meet(at: datetime.datetime, daily: datetime.time) -> None:
        """Meet."""

    got = meet.validate({"at": "2024-11-15T10:00:00Z", "daily": "09:30:00+01:00"})
    assert got["at"] == datetime.datetime(2024, 11, 15, 10, tzinfo=datetime.timezone.utc)
    assert got["daily"].utcoffset() == datetime.timedelta(hours=1)
    with pytest.raises(ToolArgumentsError) as info:
        meet.validate({"at": "2024-11-15T10:00:00", "daily": "09:30"})
    assert info.value.problems == ['at: "2024-11-15T10:00:00" is not a "date-time"', 'daily: "09:30" is not a "time"']


def test_a_class_docstring_the_parser_cannot_read_documents_no_field():
    @dataclasses.dataclass
    class Spot:
        """A place.

        Attributes:
            None
        """

        x: int

    @tool
    def go(to: Spot) -> None:
        """Go."""

    assert go.parameters["properties"]["to"] == {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
