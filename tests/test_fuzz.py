"""Fuzzing: random type hints -> tools; random values -> validation (issue: reliability).

Runs at the CI profile's size by default; `pytest --slow` runs 10,000 examples per property.
"""

import contextlib
import json
import typing
from typing import Any, Literal, Optional

import jsonschema
from hypothesis import given
from hypothesis import strategies as st

from agentkit import ToolArgumentsError, tool
from agentkit._schema import strict

SCALARS = [int, float, str, bool]


def hints() -> st.SearchStrategy[Any]:
    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            inner.map(lambda h: list[h]),
            inner.map(lambda h: dict[str, h]),
            inner.map(lambda h: Optional[h]),
            st.tuples(inner, inner).map(lambda hs: tuple[hs[0], hs[1]]),
        )

    literals = st.lists(st.integers(-5, 5) | st.text(max_size=3), min_size=1, max_size=4, unique=True).map(
        lambda vs: Literal[tuple(vs)]
    )
    return st.recursive(st.sampled_from(SCALARS) | literals, extend, max_leaves=5)


def values(hint: Any) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is int:
        return st.integers(-(10**12), 10**12)
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False, width=64)
    if hint is str:
        return st.text(max_size=10)
    if hint is bool:
        return st.booleans()
    if origin is Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(values(args[0]), max_size=4)
    if origin is dict:
        return st.dictionaries(st.text(max_size=5), values(args[1]), max_size=4)
    if origin is tuple:
        return st.tuples(*(values(a) for a in args))
    if origin is typing.Union:  # Optional[X]
        return st.none() | values(args[0])
    raise AssertionError(hint)


def make_tool(hint: Any):
    def f(x):
        """Fuzz target.

        Args:
            x: the value
        """
        return x

    f.__annotations__ = {"x": hint}
    return tool(f)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def hint_and_value(draw):
    hint = draw(hints())
    return hint, draw(values(hint))


@given(hint_and_value())
def test_valid_values_round_trip(data):
    hint, value = data
    t = make_tool(hint)
    jsonschema.Draft202012Validator.check_schema(t.parameters)
    got = t.validate(json.dumps({"x": value}))["x"]
    assert (got == value and type(got) is type(value)) or (isinstance(value, int) and got == value)


@given(hints(), JSON_VALUES)
def test_validation_agrees_with_the_schema_and_never_crashes(hint, value):
    t = make_tool(hint)
    valid = jsonschema.Draft202012Validator(strict(t.parameters)).is_valid({"x": value})
    try:
        t.validate(json.dumps({"x": value}))
    except ToolArgumentsError as e:
        assert not valid, e
        assert str(e).startswith("Invalid arguments for f:")
    else:
        assert valid


@given(st.text(max_size=60) | st.binary(max_size=30).map(lambda b: b.decode("latin-1")))
def test_arbitrary_argument_strings_never_crash(raw):
    t = make_tool(dict[str, int])
    with contextlib.suppress(ToolArgumentsError):
        t.validate(raw)
