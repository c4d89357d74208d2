"""agentkit._problems: a problem shows the values the model wrote as JSON, whichever keyword failed."""

from __future__ import annotations

import pytest

from agentkit._problems import json_message
from agentkit._validation import validator


@pytest.mark.parametrize(
    ("schema", "value", "message"),
    [
        ({"type": "string"}, None, 'null is not of type "string"'),
        ({"type": ["integer", "null"]}, True, 'true is not of type "integer", "null"'),
        ({"enum": ["a", None]}, "b", '"b" is not one of ["a", null]'),
        ({"const": True}, False, "true was expected"),
        ({"format": "date"}, "x", '"x" is not a "date"'),
        ({"pattern": "^a$"}, "b", '"b" does not match "^a$"'),
        ({"maxLength": 1}, "ab", '"ab" is too long'),
        ({"required": ["é"]}, {}, '"é" is a required property'),
        ({"properties": {"a": {}}, "additionalProperties": False}, {"b": 1}, 'Additional properties are not allowed ("b" was unexpected)'),
        ({"unevaluatedProperties": False}, {"b": 1}, 'Unevaluated properties are not allowed ("b" was unexpected)'),
        ({"not": {}}, {"k": None}, '{"k": null} should not be valid under {}'),
        (False, [True], "False schema does not allow [true]"),
    ],
)
def test_each_keywords_problem_shows_json(schema, value, message):
    (error,) = validator(schema).iter_errors(value)
    assert json_message(error) == message
