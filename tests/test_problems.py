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


class _Scanned(str):
    """A message that counts the characters its rewrites scan."""

    scanned = 0

    def replace(self, *args):
        _Scanned.scanned += len(self)
        return _Scanned(super().replace(*args))


def test_the_keys_an_objects_problem_names_are_written_as_json_in_one_pass():
    keys = {"it's": 1, 'say "hi"': 2, "é\n": 3, "b": 4, "kept": 5}
    (error,) = validator({"properties": {"kept": {}}, "unevaluatedProperties": False}).iter_errors(keys)
    assert json_message(error) == (
        'Unevaluated properties are not allowed ("b", "it\'s", "say \\"hi\\"", "é\\n" were unexpected)'
    )
    many = {f"k{i}": i for i in range(3000)}
    (error,) = validator({"unevaluatedProperties": False}).iter_errors(many)
    error.message = _Scanned(error.message)
    _Scanned.scanned = 0
    wrote = json_message(error)
    assert '"k2999"' in wrote and "'k" not in wrote
    assert _Scanned.scanned < 10 * len(error.message)
