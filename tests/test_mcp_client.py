"""The MCP client's capabilities and results (issue 25), against a server written with the SDK's own
server API (tests/mcp_servers/asking_server.py, paged_server.py): sampling, elicitation, roots, server
logs, progress, cancellation, structured content, annotations, rich blocks, resources, prompts and
pagination. server-everything (npm) is in test_mcp_everything.py."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import anyio
import pytest

from agentkit import Agent, ToolCallFinished, ToolCallStarted, ToolProgress, UsageLimitExceeded, UsageLimits
from agentkit.testing import ScriptedModel, check_transcript

from .agent_helpers import qw_call

mcp = pytest.importorskip("mcp")
from agentkit.mcp import MCPToolset  # noqa: E402

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
ASKING = str(ROOT / "tests" / "mcp_servers" / "asking_server.py")
PAGED = str(ROOT / "tests" / "mcp_servers" / "paged_server.py")


def asking(**kw) -> MCPToolset:
    return MCPToolset.stdio(sys.executable, [ASKING], **kw)


async def finished(agent: Agent, question: str, **kw) -> tuple[list, object, list]:
    events = [e async for e in agent.stream(question, **kw)]
    return [e for e in events if isinstance(e, ToolCallFinished)], events[-1].result, events


# --- sampling --------------------------------------------------------------------------------------


async def test_sampling_is_answered_by_the_given_model_with_its_max_tokens_and_counted_in_the_run():
    sampler = ScriptedModel(["Paris."])
    model = ScriptedModel([qw_call("ask_model", question="Capital of France?", max_tokens=7), "done"])
    done, result, _ = await finished(Agent(model, [asking(sampling=sampler)]), "q")
    assert done[0].error is None, done[0].content
    said = json.loads(done[0].content)
    assert said["text"] == "Paris." and said["stop"] == "endTurn"
    (call,) = sampler.calls
    assert call.messages == [{"role": "system", "content": "Answer briefly."},
                             {"role": "user", "content": "Capital of France?"}]  # fmt: skip
    assert call.options["max_tokens"] == 7
    assert result.usage.requests == 3 and result.turns == 2  # the sampling request counts, not as a turn
    asked = qw_call("ask_model", question="Capital of France?", max_tokens=7)
    assert result.usage.completion_tokens == len(asked) + len("done") + len("Paris.")


async def test_a_sampling_request_over_the_runs_max_requests_is_refused_and_the_model_not_called():
    sampler = ScriptedModel(["never"])
    model = ScriptedModel([qw_call("ask_model", question="q"), "done"])
    with pytest.raises(UsageLimitExceeded) as caught:
        await Agent(model, [asking(sampling=sampler)], usage_limits=UsageLimits(max_requests=1)).run("q")
    assert sampler.calls == []
    check_transcript(caught.value.messages)
    tool_message = next(m for m in caught.value.messages if m["role"] == "tool")
    assert "max_requests=1" in tool_message["content"]


async def test_without_a_sampling_model_the_capability_is_not_advertised_and_requests_fail():
    model = ScriptedModel([qw_call("ask_model", question="q"), "done"])
    done, _, _ = await finished(Agent(model, [asking()]), "q")
    assert done[0].error is not None and "ampling" in done[0].content


async def test_sampling_approval_sees_the_request_and_can_refuse_it():
    seen = []

    async def approval(request):
        seen.append(request)
        return "not now"

    sampler = ScriptedModel(["never"])
    model = ScriptedModel([qw_call("ask_model", question="Secret?"), "done"])
    done, _, _ = await finished(Agent(model, [asking(sampling=sampler, sampling_approval=approval)]), "q")
    assert sampler.calls == [] and done[0].error is not None and "not now" in done[0].content
    assert seen[0]["messages"][-1] == {"role": "user", "content": "Secret?"} and seen[0]["max_tokens"] == 50


async def test_sampling_outside_a_run_is_answered_and_counted_on_the_toolset():
    sampler = ScriptedModel(["Yes."])
    async with asking(sampling=sampler) as toolset:
        tool = {t.name: t for t in await toolset.list_tools()}["ask_model"]
        said = await tool.acall({"question": "ok?"})
    assert json.loads(said)["text"] == "Yes."
    assert toolset.sampling_usage.requests == 1


async def test_a_sampling_request_while_no_call_is_in_flight_is_refused(tmp_path):
    note = tmp_path / "note"
    sampler = ScriptedModel(["never"])
    toolset = asking(sampling=sampler)
    toolset._mode = "legacy"  # a server may send requests of its own only on the handshake-era protocol
    async with toolset:
        tool = {t.name: t for t in await toolset.list_tools()}["ask_later"]
        assert await tool.acall({"path": str(note)}) == "later"
        with anyio.fail_after(30):
            while not note.exists():  # the server notes what became of its request
                await anyio.sleep(0.05)
    assert note.read_text().startswith("refused: ") and "during its calls" in note.read_text()
    assert sampler.calls == []


# --- elicitation -----------------------------------------------------------------------------------


async def test_an_elicitation_answer_gets_the_schemas_defaults_and_is_checked_before_it_is_sent():
    answers = [{"name": "Ada"}, {"age": 5}, None]
    asked = []

    async def elicit(message, schema):
        asked.append((message, schema["required"]))
        return answers[len(asked) - 1]

    model = ScriptedModel([qw_call("ask_person"), qw_call("ask_person"), qw_call("ask_person"), "done"])
    done, result, _ = await finished(Agent(model, [asking(elicit=elicit)]), "q")
    check_transcript(result.messages)
    assert asked[0] == ("Who are you?", ["name"])
    first = json.loads(done[0].content)
    assert first == {"action": "accept", "content": {"name": "Ada", "age": 30}}
    assert done[1].error is not None and "name" in done[1].content and "schema" in done[1].content
    assert json.loads(done[2].content)["action"] == "decline"


async def test_a_sync_elicit_works_and_an_answer_that_is_not_a_dict_is_not_sent():
    answers = iter([{"name": "Bo"}, "yes"])
    model = ScriptedModel([qw_call("ask_person"), qw_call("ask_person"), "done"])
    done, _, _ = await finished(Agent(model, [asking(elicit=lambda message, schema: next(answers))]), "q")
    assert json.loads(done[0].content) == {"action": "accept", "content": {"name": "Bo", "age": 30}}
    assert done[1].error is not None and "not a dict" in done[1].content


async def test_an_elicitation_while_no_call_is_in_flight_is_declined_without_asking(tmp_path):
    note, asked = tmp_path / "note", []
    toolset = asking(elicit=lambda message, schema: asked.append(message) or {"password": "hunter2"})
    toolset._mode = "legacy"  # a server may send requests of its own only on the handshake-era protocol
    async with toolset:
        tool = {t.name: t for t in await toolset.list_tools()}["ask_later"]
        assert await tool.acall({"path": str(note), "person": True}) == "later"
        with anyio.fail_after(30):
            while not note.exists():  # the server notes what became of its request
                await anyio.sleep(0.05)
    assert note.read_text() == "decline" and asked == []


async def test_without_elicit_an_elicitation_is_refused():
    model = ScriptedModel([qw_call("ask_person"), "done"])
    done, _, _ = await finished(Agent(model, [asking()]), "q")
    assert done[0].error is not None


# --- roots, logs, progress, cancellation ------------------------------------------------------------


async def test_roots_are_file_uris_and_a_change_is_announced(tmp_path):
    toolset = asking(roots=[tmp_path, "file:///srv/data"])
    async with toolset:
        tool = {t.name: t for t in await toolset.list_tools()}["show_roots"]
        first = json.loads(await tool.acall({}))
        await toolset.set_roots([tmp_path / "sub"])
        second = json.loads(await tool.acall({}))
    assert [r["uri"] for r in first] == [tmp_path.resolve().as_uri(), "file:///srv/data"]
    assert [r["uri"] for r in second] == [(tmp_path / "sub").resolve().as_uri()]


async def test_server_log_messages_reach_python_logging_as_data_capped(caplog):
    caplog.set_level(logging.DEBUG, logger="agentkit.mcp")
    model = ScriptedModel([qw_call("chatty"), "done"])
    await Agent(model, [asking()]).run("q")
    records = [r for r in caplog.records if r.name == "agentkit.mcp"]
    texts = [r.getMessage() for r in records]
    assert any("100% %s of %d done" in t for t in texts)  # the server's text is never a format string
    assert any('{"step": 1}' in t for t in texts)
    long = next(r for r in records if "xxxx" in r.getMessage())
    assert long.levelno == logging.ERROR and len(long.getMessage()) < 5000


async def test_progress_notifications_are_stream_events_of_the_call():
    model = ScriptedModel([qw_call("count", n=3), "done"])
    _, _, events = await finished(Agent(model, [asking()]), "q")
    progress = [e for e in events if isinstance(e, ToolProgress)]
    assert [(e.progress, e.total, e.message) for e in progress] == [
        (1, 3, "step 1"),
        (2, 3, "step 2"),
        (3, 3, "step 3"),
    ]
    assert {e.call.name for e in progress} == {"count"}


async def test_a_call_of_a_run_that_does_not_stream_still_sends_a_progress_token():
    model = ScriptedModel([qw_call("has_token"), "done"])
    result = await Agent(model, [asking()]).run("q")
    assert result.messages[2]["content"] == "yes"


async def test_progress_that_goes_back_or_floods_is_not_passed_on():
    from agentkit.mcp._connection import MAX_PROGRESS_EVENTS

    model = ScriptedModel([qw_call("flood", n=MAX_PROGRESS_EVENTS + 200), "done"])
    _, _, events = await finished(Agent(model, [asking()]), "q")
    progress = [e.progress for e in events if isinstance(e, ToolProgress)]
    assert progress == list(range(1, MAX_PROGRESS_EVENTS + 1))


async def test_cancelling_a_run_tells_the_server_to_cancel_the_call_in_flight(tmp_path):
    note = tmp_path / "note"
    model = ScriptedModel([qw_call("wait_noting", path=str(note)), "never"])
    async with asking() as toolset:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:

                async def run() -> None:
                    async for event in Agent(model, [toolset]).stream("q"):
                        if isinstance(event, ToolCallStarted):
                            started.set()

                started = anyio.Event()
                tg.start_soon(run)
                await started.wait()
                await anyio.sleep(0.5)  # the request reaches the server; what is checked is the note below
                tg.cancel_scope.cancel()
            while not note.exists():  # the server notes the cancellation it was sent
                await anyio.sleep(0.05)
    assert note.read_text() == "cancelled"


# --- results ---------------------------------------------------------------------------------------


async def test_structured_content_is_what_the_model_reads_when_the_tool_declares_an_output_schema():
    model = ScriptedModel([qw_call("weather", city="Oslo") + qw_call("look"), "done"])
    done, _, _ = await finished(Agent(model, [asking()]), "q")
    assert json.loads(done[0].content) == {"city": "Oslo", "celsius": 21.5}
    assert done[1].content == "seen"  # the SDK's {"result": ...} wrapping of a plain value says what the text says


def test_structured_content_wins_over_a_text_that_says_something_else():
    from mcp.types import CallToolResult, TextContent

    from agentkit.mcp._results import result_value

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    result = CallToolResult(content=[TextContent(text="see the data")], structured_content={"n": 5})
    assert result_value(result, output_schema=schema) == {"n": 5}
    assert result_value(result) == "see the data"  # no output schema: the text, as before


async def test_titles_and_annotations_are_kept_and_destructive_tools_need_approval():
    toolset = asking(requires_approval="destructive")
    async with toolset:
        tools = {t.name: t for t in await toolset.list_tools()}
    assert tools["delete_everything"].title == "Delete everything"
    assert tools["delete_everything"].annotations == {"destructiveHint": True, "readOnlyHint": False}
    assert tools["look"].annotations == {"readOnlyHint": True}
    # MCP's defaults: destructiveHint true, readOnlyHint false -- a tool that says nothing may destroy.
    needs = {name for name, t in tools.items() if t.requires_approval}
    assert {"delete_everything", "plain"} <= needs and "look" not in needs


async def test_audio_links_and_embedded_resources_are_described_and_images_reach_a_model_that_takes_them():
    model = ScriptedModel([qw_call("sound") + qw_call("linker") + qw_call("embedded"), "done"])
    model.takes_images = True  # type: ignore[attr-defined]
    finished_calls, _, _ = await finished(Agent(model, [asking()]), "q")
    # The three calls run concurrently and finish in any order: taken in the message's order.
    by_name = {e.call.name: e for e in finished_calls}
    done = [by_name["sound"], by_name["linker"], by_name["embedded"]]
    assert done[0].content == "[audio: audio/wav, 12 bytes]"
    assert "note://hello" in done[1].content and "not fetched" in done[1].content and "a greeting" in done[1].content
    assert "inline text" in done[2].content and "[image: image/png" in done[2].content
    parts = [p for m in model.calls[1].messages if m["role"] == "user" and isinstance(m["content"], list)
             for p in m["content"]]  # fmt: skip
    assert any(p.get("type") == "image_url" and p["image_url"]["url"].startswith("data:image/png") for p in parts)


async def test_instructions_are_available():
    async with asking() as toolset:
        assert toolset.instructions == "Ask the weather tool about the weather."


# --- resources, prompts, pagination ----------------------------------------------------------------


async def test_resources_and_prompts_are_listed_read_and_got():
    async with asking() as toolset:
        resources = await toolset.list_resources()
        assert {(str(r.uri), r.name) for r in resources} >= {("note://hello", "hello"), ("note://blob", "blob")}
        assert await toolset.read_resource("note://hello") == "hello there"
        assert await toolset.read_resource("note://blob") == b"\x00\x01\x02"
        prompts = {p.name: p for p in await toolset.list_prompts()}
        assert [a.name for a in prompts["greet"].arguments] == ["name"]
        assert await toolset.get_prompt("greet", {"name": "Ada"}) == [{"role": "user", "content": "Say hello to Ada."}]


async def test_the_model_may_read_resources_through_a_tool_when_asked_for():
    model = ScriptedModel([qw_call("notes_read_resource", uri="note://hello"), "done"])
    done, _, _ = await finished(Agent(model, [asking(prefix="notes", offer_resources=True)]), "q")
    assert done[0].content == "hello there"
    async with asking(offer_resources=True) as offering, asking() as plain:
        reader = {t.name: t for t in await offering.list_tools()}["read_resource"]
        assert "note://hello" in reader.description and "note://blob" in reader.description
        assert "read_resource" not in {t.name for t in await plain.list_tools()}


async def test_tool_pages_are_followed_and_task_only_tools_not_offered():
    toolset = MCPToolset.stdio(sys.executable, [PAGED])
    toolset._mode = "legacy"  # tasks (execution.taskSupport) are of the 2025-11-25 protocol
    async with toolset:
        assert [t.name for t in await toolset.list_tools()] == ["tool_0", "tool_1"]


async def test_a_tool_list_that_never_ends_stops_at_the_page_cap(caplog):
    async with MCPToolset.stdio(sys.executable, [PAGED, "--endless"]) as toolset:
        with anyio.fail_after(60):
            tools = await toolset.list_tools()
    from agentkit.mcp._listing import MAX_PAGES

    assert len(tools) == MAX_PAGES and "pages" in caplog.text


async def test_an_mcp_call_in_a_run_copies_no_transcript(monkeypatch):
    # A tool's RunContext carries a deep copy of the transcript; an MCP tool never reads it, and
    # the copy would cost each call as much as the call itself on a long transcript.
    from agentkit._capability import RunState

    given = []
    real = RunState.context
    monkeypatch.setattr(RunState, "context", lambda self, *a, **kw: given.append(real(self, *a, **kw)) or given[-1])
    model = ScriptedModel([qw_call("look") + qw_call("plain"), "done"])
    done, _, _ = await finished(Agent(model, [asking()]), "q" * 1000)
    assert [d.content for d in done] == ["seen", "plain"]
    assert [c.messages for c in given] == [[], []]
