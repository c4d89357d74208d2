"""agentkit._schema_walk.close: where a schema's objects are closed, and how (one schema at a time,
the whole result compared)."""

from __future__ import annotations

import pytest

from agentkit import _validation
from agentkit._schema_walk import close, declared

A = {"properties": {"a": {}}}
SHUT = {"additionalProperties": False}
NONE_LEFT = {"unevaluatedProperties": False}


@pytest.mark.parametrize(
    ("schema", "closed"),
    [
        # Plain objects close themselves, at every place a value lives.
        (A, {**A, **SHUT}),
        ({"items": A, "contains": A, "unevaluatedItems": A, "prefixItems": [A, {}]},
         {"items": {**A, **SHUT}, "contains": {**A, **SHUT}, "unevaluatedItems": {**A, **SHUT},
          "prefixItems": [{**A, **SHUT}, {}]}),
        ({"properties": {"p": A}, "additionalProperties": A},
         {"properties": {"p": {**A, **SHUT}}, "additionalProperties": {**A, **SHUT}}),
        ({"patternProperties": {"^x": A}}, {"patternProperties": {"^x": {**A, **SHUT}}}),
        # What the schema says already stands.
        ({**A, "additionalProperties": True}, {**A, "additionalProperties": True}),
        ({**A, "unevaluatedProperties": {}}, {**A, "unevaluatedProperties": {}}),
        ({"type": "object"}, {"type": "object"}),
        # Alternatives are whole: each closes itself.
        ({"anyOf": [A, {"type": "null"}], "oneOf": [A]}, {"anyOf": [{**A, **SHUT}, {"type": "null"}], "oneOf": [{**A, **SHUT}]}),
        # Parts close where they meet, never alone.
        ({"allOf": [A, {"properties": {"b": {}}}]}, {"allOf": [A, {"properties": {"b": {}}}], **NONE_LEFT}),
        ({**A, "anyOf": [{"required": ["a"]}]}, {**A, "anyOf": [{"required": ["a"]}], **NONE_LEFT}),
        ({**A, "oneOf": [{"properties": {"b": {}}}]}, {**A, "oneOf": [{"properties": {"b": {}}}], **NONE_LEFT}),
        ({**A, "if": A, "then": {"properties": {"b": {}}}, "else": A},
         {**A, "if": A, "then": {"properties": {"b": {}}}, "else": A, **NONE_LEFT}),
        ({**A, "dependentSchemas": {"a": {"properties": {"b": A}}}},
         {**A, "dependentSchemas": {"a": {"properties": {"b": {**A, **SHUT}}}}, **NONE_LEFT}),
        ({"not": {"properties": {"x": A}}}, {"not": {"properties": {"x": {**A, **SHUT}}}}),
        ({"$ref": "#/$defs/d", "$defs": {"d": {"properties": {"e": A}}}},
         {"$ref": "#/$defs/d", "$defs": {"d": {"properties": {"e": {**A, **SHUT}}}}, **NONE_LEFT}),
        # draft-07's "definitions" is where a $ref may lead too: closed like $defs, at the referrer.
        ({"$ref": "#/definitions/d", "definitions": {"d": {"properties": {"e": A}}}},
         {"$ref": "#/definitions/d", "definitions": {"d": {"properties": {"e": {**A, **SHUT}}}}, **NONE_LEFT}),
        ({"properties": {"o": {"$ref": "#/definitions/d"}}, "definitions": {"d": A}},
         {"properties": {"o": {"$ref": "#/definitions/d", **NONE_LEFT}}, "definitions": {"d": A}, **SHUT}),
        # Every part counts, through alternatives and conditions too.
        ({"allOf": [{"anyOf": [A]}]}, {"allOf": [{"anyOf": [A]}], **NONE_LEFT}),
        ({"allOf": [{"oneOf": [A]}]}, {"allOf": [{"oneOf": [A]}], **NONE_LEFT}),
        ({"if": {}, "then": A}, {"if": {}, "then": A, **NONE_LEFT}),
        ({"if": {}, "else": A}, {"if": {}, "else": A, **NONE_LEFT}),
        ({"dependentSchemas": {"x": A}}, {"dependentSchemas": {"x": A}, **NONE_LEFT}),
        ({"allOf": [{"$ref": "#/$defs/d"}], "$defs": {"d": {"$ref": "#/$defs/e"}, "e": A}},
         {"allOf": [{"$ref": "#/$defs/d"}], "$defs": {"d": {"$ref": "#/$defs/e"}, "e": A}, **NONE_LEFT}),
        # ... unless a part already says what more keys may be, or declares no key at all.
        ({"allOf": [{**A, **SHUT}]}, {"allOf": [{**A, **SHUT}]}),
        ({"allOf": [{**A, "unevaluatedProperties": True}]}, {"allOf": [{**A, "unevaluatedProperties": True}]}),
        ({"allOf": [{"type": "object"}]}, {"allOf": [{"type": "object"}]}),
        ({"$ref": "#/$defs/d", "$defs": {"d": {"type": "string"}}}, {"$ref": "#/$defs/d", "$defs": {"d": {"type": "string"}}}),
        # Beside patternProperties in its own parts, unevaluatedProperties cannot be checked
        # (jsonschema's would use `re`): such an object stays open; patterns elsewhere change nothing.
        ({"allOf": [{**A, "patternProperties": {"^x": {}}}]}, {"allOf": [{**A, "patternProperties": {"^x": {}}}]}),
        ({**A, "if": {"allOf": [{"patternProperties": {"^x": {}}}]}}, {**A, "if": {"allOf": [{"patternProperties": {"^x": {}}}]}}),
        ({"$ref": "#/$defs/d", "$defs": {"d": {**A, "patternProperties": {"^x": {}}}}},
         {"$ref": "#/$defs/d", "$defs": {"d": {**A, "patternProperties": {"^x": {}}}}}),
        ({"allOf": [A], "properties": {"p": {"patternProperties": {"^x": {}}}}},
         {"allOf": [A], "properties": {"p": {"patternProperties": {"^x": {}}}}, **NONE_LEFT}),
        ({"allOf": [A], "$defs": {"h": {"patternProperties": {"^x": {}}}}},
         {"allOf": [A], "$defs": {"h": {"patternProperties": {"^x": {}}}}, **NONE_LEFT}),
        ({"allOf": [{"properties": {"patternProperties": {}}}]}, {"allOf": [{"properties": {"patternProperties": {}}}], **NONE_LEFT}),
    ],
)
def test_close(schema, closed):
    assert close(schema, _validation.resolver(schema)) == closed


def test_declared_names_every_parts_properties_in_order_once():
    schema = {"properties": {"z": {}}, "allOf": [{"$ref": "#/$defs/d"}, {"properties": {"a": {}, "z": {}}}],
              "then": {"properties": {"t": {}}}, "$defs": {"d": {"properties": {"m": {}}}}}  # fmt: skip
    assert declared(schema, _validation.resolver(schema)) == ["z", "m", "a", "t"]
    loop = {"$ref": "#/$defs/l", "$defs": {"l": {"$ref": "#/$defs/l", "properties": {"q": {}}}}}
    assert declared(loop, _validation.resolver(loop)) == ["q"]


class _Counted(dict):
    """A subschema that counts the reads a walk makes of it."""

    reads = 0

    def get(self, *args):
        _Counted.reads += 1
        return super().get(*args)


def test_closing_reads_each_part_a_bounded_number_of_times_however_many_places_refer_to_it(monkeypatch):
    # N properties each a $ref to one allOf of N parts: a walk of the parts per referrer is N².
    n = 300
    shared = {"allOf": [_Counted(properties={f"p{i}": {}}) for i in range(n)]}
    schema = {"$defs": {"D": shared}, "properties": {f"a{i}": {"$ref": "#/$defs/D"} for i in range(n)}}
    monkeypatch.setattr(_Counted, "reads", 0)
    closed = close(schema, _validation.resolver(schema))
    assert closed["properties"]["a7"] == {"$ref": "#/$defs/D", **NONE_LEFT}
    assert _Counted.reads < 20 * n
