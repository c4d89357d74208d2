"""Fuzzing: random type hints -> tools; random values -> validation (issue: reliability).

The oracle is independent of agentkit and of JSON Schema: `accepts` and `expected` below say,
for the small family of hints generated here, which JSON values a tool must take and what
Python value its function must receive. Runs at the CI profile's size by default;
`pytest --slow` runs 10,000 examples per property.
"""

import contextlib
import json
import typing
from typing import Any, Literal, Optional, Union

import jsonschema
from hypothesis import example, given
from hypothesis import strategies as st

from agentkit import ToolArgumentsError, tool

SCALARS = [int, float, str, bool]
NONE = type(None)


def hints() -> st.SearchStrategy[Any]:
    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            inner.map(lambda h: list[h]),
            inner.map(lambda h: dict[str, h]),
            inner.map(lambda h: Optional[h]),
            st.tuples(inner, inner).map(lambda hs: tuple[hs[0], hs[1]]),
            st.tuples(inner, inner).map(lambda hs: Union[hs[0], hs[1]]),
        )

    literals = st.lists(st.integers(-5, 5) | st.text(max_size=3), min_size=1, max_size=4, unique=True).map(
        lambda vs: Literal[tuple(vs)]
    )
    return st.recursive(st.sampled_from(SCALARS) | literals, extend, max_leaves=5)


def values(hint: Any) -> st.SearchStrategy[Any]:
    """Python values of `hint` (what the function should receive)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is NONE:
        return st.none()
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
    if origin is Union:
        return st.one_of(*(values(a) for a in args))
    raise AssertionError(hint)


# --- the oracle: written from the meaning of the hints, not from agentkit's schema ------------


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def accepts(hint: Any, value: Any) -> bool:
    """Whether a decoded JSON `value` is an acceptable argument for `hint`.

    JSON has one number type: 2.0 is an integer (as JSON Schema says), 2 is a float; true is
    not a number.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is NONE:
        return value is None
    if hint is int:
        return type(value) is int or (type(value) is float and value.is_integer())
    if hint is float:
        return _number(value)
    if hint is str:
        return type(value) is str
    if hint is bool:
        return type(value) is bool
    if origin is Literal:
        return any(
            (type(a) is str and type(value) is str and a == value) or (type(a) is int and _number(value) and a == value)
            for a in args
        )
    if origin is list:
        return type(value) is list and all(accepts(args[0], v) for v in value)
    if origin is dict:
        return type(value) is dict and all(accepts(args[1], v) for v in value.values())
    if origin is tuple:
        return type(value) is list and len(value) == len(args) and all(map(accepts, args, value))
    if origin is Union:
        return any(accepts(a, value) for a in args)
    raise AssertionError(hint)


def expected(hint: Any, value: Any) -> Any:
    """The Python value the function must receive for an accepted JSON `value`.

    A union converts by its first member that accepts the value.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is int:
        return int(value)
    if hint is float:
        return float(value)
    if origin is Literal:
        return next(a for a in args if a == value and type(a) is (str if type(value) is str else int))
    if origin is list:
        return [expected(args[0], v) for v in value]
    if origin is dict:
        return {k: expected(args[1], v) for k, v in value.items()}
    if origin is tuple:
        return tuple(map(expected, args, value))
    if origin is Union:
        return expected(next(a for a in args if accepts(a, value)), value)
    return value


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same type all the way down (1 == 1.0 == True is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    return bool(a == b)


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
    sent = json.loads(json.dumps(value))
    got = t.validate(json.dumps({"x": value}))["x"]
    assert accepts(hint, sent), (hint, value)  # the oracle itself agrees with the generator
    assert same(got, expected(hint, sent)), (hint, value, got)


def near(hint: Any) -> st.SearchStrategy[Any]:
    """Decoded JSON values close to `hint`'s: valid ones in every JSON spelling, or one part wrong."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in (int, float):
        base = st.integers(-(10**6), 10**6) | st.integers(-(10**6), 10**6).map(float)
        base = base | st.floats(allow_nan=False, allow_infinity=False) if hint is float else base
    elif origin is Literal:
        base = st.sampled_from(args) | st.sampled_from([float(a) if type(a) is int else a for a in args])
    elif origin is list:
        base = st.lists(near(args[0]), max_size=4)
    elif origin is dict:
        base = st.dictionaries(st.text(max_size=3), near(args[1]), max_size=3)
    elif origin is tuple:
        base = st.tuples(*(near(a) for a in args)).map(list) | st.lists(near(args[0]), max_size=3)
    elif origin is Union:
        base = st.one_of(*(near(a) for a in args))
    else:
        base = values(hint)
    return st.one_of(base, base, base, JSON_VALUES)


@st.composite
def hint_and_json(draw):
    hint = draw(hints())
    return hint, draw(near(hint))


@given(hint_and_json())
# Cases that must hold on every run, whatever the random draw.
@example((int, 2.0))  # JSON Schema's integer: the function still gets an int
@example((Literal[1, "a"], 1.0))
@example((Union[int, float], 3))  # the first member that fits converts
@example((Union[float, int], 3))
@example((Union[float, int], 2.5))
@example((float, True))
@example((Optional[Literal[0]], False))
@example((tuple[int, str], [1, "a", 2]))
@example((dict[str, Union[list[int], dict[str, int]]], {"a": [1.0], "b": {"c": 2}}))
@example((list[Union[dict[str, str], list[str]]], [["s"], {"k": "v"}, ["t"]]))
def test_validation_agrees_with_an_independent_oracle_and_never_crashes(data):
    hint, value = data
    t = make_tool(hint)
    ok = accepts(hint, value)
    # The schema sent to the model means what the hint means (the model is told the truth).
    assert jsonschema.Draft202012Validator(t.parameters).is_valid({"x": value}) == ok, t.parameters
    try:
        got = t.validate(json.dumps({"x": value}))["x"]
    except ToolArgumentsError as e:
        assert not ok, e
        assert str(e).startswith("Invalid arguments for f:")
    else:
        assert ok, (hint, value, got)
        assert same(got, expected(hint, value)), (hint, value, got)


@given(st.text(max_size=60) | st.binary(max_size=30).map(lambda b: b.decode("latin-1")))
def test_arbitrary_argument_strings_never_crash(raw):
    t = make_tool(dict[str, int])
    with contextlib.suppress(ToolArgumentsError):
        t.validate(raw)
