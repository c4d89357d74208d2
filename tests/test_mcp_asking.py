"""What a server may ask of the client (agentkit.mcp._asking), checked against hostile requests: elicitation
schemas that loop or are huge, defaults the person never gave. End to end against a real server in
test_mcp_client.py."""

from __future__ import annotations

import threading

import anyio
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


# --- sampling: what a server may spend, and what it may send -------------------------------------


def _asking_toolset(**kw):
    import sys
    from pathlib import Path

    from agentkit.mcp import MCPToolset

    server = str(Path(__file__).resolve().parent / "mcp_servers" / "asking_server.py")
    return MCPToolset.stdio(sys.executable, [server], **kw)


async def test_a_servers_max_tokens_is_capped():
    from agentkit import Agent
    from agentkit.mcp._asking import SAMPLING_MAX_TOKENS
    from agentkit.testing import ScriptedModel

    from .agent_helpers import qw_call

    sampler = ScriptedModel(["Paris."])
    model = ScriptedModel([qw_call("ask_model", question="q", max_tokens=1_000_000), "done"])
    await Agent(model, [_asking_toolset(sampling=sampler)]).run("q")
    assert sampler.calls[0].options["max_tokens"] == SAMPLING_MAX_TOKENS


async def test_a_servers_max_tokens_is_capped_at_what_the_run_has_left():
    from agentkit import Agent, UsageLimits
    from agentkit.testing import ScriptedModel

    from .agent_helpers import qw_call

    sampler = ScriptedModel(["Paris."])
    asked = qw_call("ask_model", question="q", max_tokens=1_000_000)
    model = ScriptedModel([asked, "done"])
    limits = UsageLimits(max_output_tokens=len(asked) + 50)  # the first turn spends len(asked)
    await Agent(model, [_asking_toolset(sampling=sampler)], usage_limits=limits).run("q")
    assert sampler.calls[0].options["max_tokens"] == 50


def _request(*blocks):
    from mcp.types import CreateMessageRequestParams, SamplingMessage

    return CreateMessageRequestParams(messages=[SamplingMessage(role="user", content=list(blocks))], max_tokens=10)


async def test_a_sampling_image_over_max_image_bytes_is_refused_before_the_model_is_asked():
    import base64

    from mcp.types import ImageContent

    from agentkit.testing import ScriptedModel

    sampler = ScriptedModel(["never"])
    big = ImageContent(type="image", data=base64.b64encode(b"\x89PNG" + b"0" * 2000).decode(), mime_type="image/png")
    said = await Asking(where="t", sampling=sampler, max_image_bytes=1000).sample(_request(big), [])
    assert isinstance(said, ErrorData) and "image" in said.message and "1000" in said.message.replace(",", "")
    assert sampler.calls == []


@pytest.mark.parametrize("kind", ["image", "audio"])
async def test_invalid_base64_in_sampling_content_is_a_clear_refusal(kind):
    from mcp.types import AudioContent, ImageContent

    from agentkit.testing import ScriptedModel

    block = (ImageContent if kind == "image" else AudioContent)(type=kind, data="%%%not base64", mime_type=f"{kind}/x")
    sampler = ScriptedModel(["never"])
    said = await Asking(where="t", sampling=sampler).sample(_request(block), [])
    assert isinstance(said, ErrorData) and "base64" in said.message and kind in said.message
    assert sampler.calls == []


def test_the_toolsets_max_image_bytes_bounds_sampling_images():
    assert _asking_toolset(max_image_bytes=1234)._asking.max_image_bytes == 1234


async def test_a_sample_is_bounded_by_and_counted_in_every_run_with_a_call_in_flight(tmp_path):
    """Two runs share a connection; run A's tool samples while run B's call (sent after A's) is in flight.
    MCP (handshake-era) does not say which call a request serves: A's limits still bound it (the strictest
    of the runs wins), and it counts in both."""
    import sys
    from pathlib import Path

    from agentkit import Agent, UsageLimitExceeded, UsageLimits
    from agentkit.mcp import MCPToolset
    from agentkit.testing import ScriptedModel

    from .agent_helpers import qw_call

    server = str(Path(__file__).resolve().parent / "mcp_servers" / "two_runs.py")
    sampler = ScriptedModel(lambda messages: "sampled")
    toolset = MCPToolset.stdio(sys.executable, [server, str(tmp_path)], sampling=sampler)
    toolset._mode = "legacy"  # a server may sample outside a call's own round trip only on this protocol
    a = Agent(ScriptedModel([qw_call("sampler"), "done"]), [toolset], usage_limits=UsageLimits(max_requests=3))
    b = Agent(ScriptedModel([qw_call("wait"), "done"]), [toolset])
    results: dict[str, object] = {}
    async with toolset:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:

                async def run(name: str, agent: Agent) -> None:
                    try:
                        results[name] = await agent.run("go")
                    except UsageLimitExceeded as e:
                        results[name] = e

                tg.start_soon(run, "A", a)
                while not (tmp_path / "a_started").exists():  # A's call is in flight: now B's goes out
                    await anyio.sleep(0.01)
                tg.start_soon(run, "B", b)
    assert len(sampler.calls) == 2  # A made 1 model call of its own; max_requests=3 leaves 2
    assert isinstance(results["A"], UsageLimitExceeded)
    assert results["B"].usage.requests == 2 + 2  # its own two turns, and the two samples


async def test_the_toolset_sets_its_own_sampling_cap():
    from agentkit import Agent, UserError
    from agentkit.testing import ScriptedModel

    from .agent_helpers import qw_call

    sampler = ScriptedModel(["Paris."])
    model = ScriptedModel([qw_call("ask_model", question="q", max_tokens=1_000_000), "done"])
    await Agent(model, [_asking_toolset(sampling=sampler, sampling_max_tokens=77)]).run("q")
    assert sampler.calls[0].options["max_tokens"] == 77
    with pytest.raises(UserError, match="sampling_max_tokens"):
        _asking_toolset(sampling=sampler, sampling_max_tokens=0)


async def test_more_sampling_images_than_max_images_are_refused():
    import base64

    from mcp.types import ImageContent

    from agentkit.testing import ScriptedModel

    sampler = ScriptedModel(["never"])
    image = ImageContent(type="image", data=base64.b64encode(b"\x89PNG").decode(), mime_type="image/png")
    said = await Asking(where="t", sampling=sampler, max_images=2).sample(_request(image, image, image), [])
    assert isinstance(said, ErrorData) and "images" in said.message and "2" in said.message
    assert sampler.calls == []
    assert _asking_toolset(max_images=3)._asking.max_images == 3
