"""What a server may ask of the client (agentkit.mcp._asking), checked against hostile requests: elicitation
schemas that loop or are huge, defaults the person never gave. End to end against a real server in
test_mcp_client.py."""

from __future__ import annotations

import threading

import pytest

mcp = pytest.importorskip("mcp")
from mcp.types import ElicitRequestFormParams, ElicitResult, ErrorData  # noqa: E402

from agentkit.mcp._asking import Asking  # noqa: E402

pytestmark = pytest.mark.anyio
LOOP = {"type": "object", "$defs": {"a": {"$ref": "#/$defs/a"}}, "properties": {"x": {"$ref": "#/$defs/a"}}}


def form(schema: dict, message: str = "Fill this in") -> ElicitRequestFormParams:
    return ElicitRequestFormParams(message=message, requested_schema=schema)


def person(answer: dict | None, asked: list):
    async def elicit(message, schema):
        asked.append(message)
        return answer

    return elicit


async def test_a_schema_whose_references_loop_is_refused_before_the_person_is_asked():
    asked: list = []
    said = await Asking(where="t", elicit=person({"x": "a"}, asked)).answer(form(LOOP))
    assert isinstance(said, ErrorData) and "schema" in said.message and "loop" in said.message
    assert asked == []


async def test_a_huge_schema_is_refused_before_the_person_is_asked():
    huge = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(30_000)}}
    asked: list = []
    said = await Asking(where="t", elicit=person({"p1": "a"}, asked)).answer(form(huge))
    assert isinstance(said, ErrorData) and "schema" in said.message and "characters" in said.message
    assert asked == []


async def test_the_schema_and_the_answer_are_checked_off_the_event_loop(monkeypatch):
    from agentkit import _validation

    where: list[bool] = []
    real = _validation.validator

    class Watched:
        def __init__(self, inner):
            self.inner = inner

        def iter_errors(self, value):
            where.append(threading.current_thread() is threading.main_thread())
            return self.inner.iter_errors(value)

    def watched(schema, **kw):
        where.append(threading.current_thread() is threading.main_thread())
        return Watched(real(schema, **kw))

    monkeypatch.setattr(_validation, "validator", watched)
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    said = await Asking(where="t", elicit=person({"name": "Ada"}, [])).answer(form(schema))
    assert isinstance(said, ElicitResult) and said.action == "accept"
    assert len(where) >= 2 and not any(where)


async def test_a_boolean_default_of_true_is_not_filled_in_as_the_persons_answer():
    schema = {
        "type": "object",
        "properties": {
            "approve": {"type": "boolean", "default": True},
            "nights": {"type": "integer", "default": 2},
        },
    }
    said = await Asking(where="t", elicit=person({}, [])).answer(form(schema))
    assert isinstance(said, ElicitResult) and said.action == "accept"
    assert said.content == {"nights": 2}


async def test_a_required_approval_the_person_left_out_is_not_sent():
    schema = {
        "type": "object",
        "properties": {"approve": {"type": "boolean", "default": True}},
        "required": ["approve"],
    }
    said = await Asking(where="t", elicit=person({}, [])).answer(form(schema))
    assert isinstance(said, ErrorData) and "approve" in said.message
