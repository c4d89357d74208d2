"""Handoffs: ``Agent(handoffs=[...])`` offers ``transfer_to_<name>``; a call hands the run over.

These fail before issue 24: `Agent` took no `handoffs`, `RunResult` had no `agent` and `Handoff`
did not exist.
"""

import anyio
import anyio.lowlevel
import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    Capability,
    Handoff,
    MaxTurnsExceeded,
    ModelError,
    RunContext,
    RunState,
    UsageLimitExceeded,
    UsageLimits,
    UserError,
    tool,
)
from agentkit.sessions import MemorySession
from agentkit.testing import ScriptedModel, check_transcript
from tests.agent_helpers import collect, is1_call, qw_call, run_in

MODES = ["run", "stream"]
pytestmark = pytest.mark.anyio


@tool
def forecast(city: str) -> str:
    """Tomorrow's weather.

    Args:
        city: The city.
    """
    return f"rain in {city}"


def pair(weather_script, router_script, **router_kw):
    weather_model = ScriptedModel(weather_script)
    weather = Agent(weather_model, [forecast], name="weather", description="Answers weather questions.",
                    system="You are the weather agent.")  # fmt: skip
    router_model = ScriptedModel(router_script)
    router = Agent(router_model, name="router", system="You route.", handoffs=[weather], **router_kw)
    return router, router_model, weather, weather_model


def test_handoffs_offer_one_transfer_tool_per_target_described_by_it():
    router, _model, *_ = pair([], [])
    names = {}

    class Look(Capability):
        async def run_started(self, run: RunState) -> None:
            names.update({n: t.description for n, t in run.tools.items()})

    with pytest.raises(ModelError):  # the script is empty: the first model call fails the test double
        router.run_sync("hi", capabilities=[Look()])
    assert names == {"transfer_to_weather": "Answers weather questions."}


@pytest.mark.parametrize("mode", MODES)
async def test_a_transfer_goes_on_with_the_target_over_the_same_transcript(mode):
    router, router_model, _, weather_model = pair(
        [qw_call("forecast", city="Oslo"), "Rain in Oslo tomorrow."], [qw_call("transfer_to_weather")]
    )
    result = await run_in(mode, router, "Weather in Oslo tomorrow?")
    assert result.output == "Rain in Oslo tomorrow."
    assert result.agent == "weather"
    assert result.turns == 3 and result.usage.requests == 3
    check_transcript(result.messages)
    transfer = next(m for m in result.messages if m["role"] == "tool")
    assert transfer["name"] == "transfer_to_weather" and transfer["content"].startswith("Transferred to weather")
    # The target was sent the whole conversation, with its own system message in place of the first.
    sent = weather_model.calls[0]
    assert sent.messages[0] == {"role": "system", "content": "You are the weather agent."}
    assert sent.messages[1] == {"role": "user", "content": "Weather in Oslo tomorrow?"}
    assert sent.messages[2]["tool_calls"][0]["function"]["name"] == "transfer_to_weather"
    assert sent.tools == ["forecast"]
    assert router_model.calls[0].tools == ["transfer_to_weather"]
    assert result.messages[0] == {"role": "system", "content": "You route."}  # the transcript keeps the first


async def test_the_stream_tells_the_handoff():
    router, *_ = pair(["Sunny."], [qw_call("transfer_to_weather")])
    events = await collect(router, "Weather?")
    handoffs = [e for e in events if isinstance(e, Handoff)]
    assert handoffs == [Handoff(source="router", target="weather")]


async def test_two_transfers_in_one_message_the_first_wins():
    billing = Agent(ScriptedModel(["billing here"]), name="billing")
    router, router_model, _, weather_model = pair(
        ["weather here"], [qw_call("transfer_to_billing") + qw_call("transfer_to_weather")]
    )
    router = Agent(router_model, name="router", handoffs=[billing, router.handoffs[0]])
    result = await router.run("help")
    assert result.agent == "billing" and result.output == "billing here"
    answers = [m for m in result.messages if m["role"] == "tool"]
    assert answers[0]["content"].startswith("Transferred to billing")
    assert answers[1]["content"].startswith("Error: this call was not run")
    assert weather_model.calls == []
    check_transcript(result.messages)


async def test_a_handoff_loop_ends_with_max_turns_and_a_valid_transcript():
    a = Agent(ScriptedModel(lambda m: qw_call("transfer_to_b")), name="a")
    b = Agent(ScriptedModel(lambda m: qw_call("transfer_to_a")), name="b", handoffs=[a])
    a.handoffs.append(b)
    with pytest.raises(MaxTurnsExceeded, match="after 5 model calls") as caught:
        await a.run("loop", max_turns=5)  # the run's, across agents (each agent's own is 20)
    check_transcript(caught.value.messages)
    transfers = [m["name"] for m in caught.value.messages if m["role"] == "tool"]
    assert transfers == ["transfer_to_b", "transfer_to_a", "transfer_to_b", "transfer_to_a", "transfer_to_b"]


async def test_usage_limits_count_every_agents_model_calls():
    router, *_ = pair([qw_call("forecast", city="x"), "done"], [qw_call("transfer_to_weather")])
    with pytest.raises(UsageLimitExceeded, match="max_requests=2"):
        await router.run("go", usage_limits=UsageLimits(max_requests=2))


@pytest.mark.parametrize("mode", MODES)
async def test_a_later_run_on_the_transcript_goes_on_with_the_agent_of_the_last_transfer(mode):
    router, router_model, _, weather_model = pair(
        ["Sunny.", "Still sunny."], [qw_call("transfer_to_weather")]
    )
    first = await run_in(mode, router, "Weather?")
    again = await run_in(mode, router, [*first.messages, {"role": "user", "content": "And later?"}])
    assert again.output == "Still sunny." and again.agent == "weather"
    assert len(router_model.calls) == 1 and len(weather_model.calls) == 2


async def test_a_transcript_without_agentkits_keys_still_names_the_last_transfer():
    router, _router_model, _, weather_model = pair(["Sunny.", "Still sunny."], [qw_call("transfer_to_weather")])
    first = await router.run("Weather?")
    stripped = [{k: v for k, v in m.items() if not k.startswith("agentkit_")} for m in first.messages]
    again = await router.run([*stripped, {"role": "user", "content": "And later?"}])
    assert again.agent == "weather" and len(weather_model.calls) == 2


async def test_a_session_goes_on_with_the_agent_of_the_last_transfer():
    router, router_model, _, _weather_model = pair(["Sunny.", "Still sunny."], [qw_call("transfer_to_weather")])
    session = MemorySession()
    await router.run("Weather?", session=session)
    again = await router.run("And later?", session=session)
    assert again.agent == "weather" and len(router_model.calls) == 1
    check_transcript(await session.get_messages())


async def test_an_unreachable_agent_in_the_transcript_is_not_taken():
    router, router_model, _weather, _ = pair(["Sunny."], [qw_call("transfer_to_weather"), "router again"])
    first = await router.run("Weather?")
    alone = Agent(router_model, name="router")  # no handoffs: the transcript's agent is not reachable
    again = await alone.run([*first.messages, {"role": "user", "content": "hi"}])
    assert again.agent == "router" and again.output == "router again"


async def test_a_call_waiting_for_approval_in_the_targets_tool_is_resumed_by_the_target():
    ran = []

    @tool(requires_approval=True)
    def refund(amount: int) -> str:
        """Refund.

        Args:
            amount: How much.
        """
        ran.append(amount)
        return "refunded"

    billing = Agent(ScriptedModel([qw_call("refund", amount=3), "Refunded 3."]), [refund], name="billing")
    router = Agent(ScriptedModel([qw_call("transfer_to_billing")]), name="router", handoffs=[billing])
    first = await router.run("refund me")
    assert [c.name for c in first.pending] == ["refund"] and first.agent == "billing"
    check_transcript(first.messages, pending=True)
    again = await router.run(first.messages, approvals={first.pending[0].id: True})
    assert ran == [3] and again.output == "Refunded 3." and again.agent == "billing"
    check_transcript(again.messages)


class Ticket(BaseModel):
    summary: str


async def test_the_target_brings_its_output_type():
    target = Agent(ScriptedModel([qw_call("final_result", summary="broken")]), name="triage", output_type=Ticket)
    router = Agent(ScriptedModel([qw_call("transfer_to_triage")]), name="router", handoffs=[target])
    result = await router.run("it broke")
    assert result.output == Ticket(summary="broken") and result.agent == "triage"


async def test_a_typed_router_hands_to_a_text_target():
    target = Agent(ScriptedModel(["plain text"]), name="chat")
    router = Agent(ScriptedModel([qw_call("transfer_to_chat")]), name="router", handoffs=[target],
                   output_type=Ticket)  # fmt: skip
    result = await router.run("hi")
    assert result.output == "plain text" and result.agent == "chat"


async def test_a_handoff_between_model_formats_renders_each_in_its_own():
    # The router writes Intern-S1 markup, the target Qwen3's: each backend reads its own format.
    target_model = ScriptedModel([qw_call("forecast", city="Rome"), "Rain in Rome."], format="qwen3")
    target = Agent(target_model, [forecast], name="weather")
    router_model = ScriptedModel(["Route.</think>" + is1_call("transfer_to_weather")], format="intern-s1",
                                 in_reasoning=True)  # fmt: skip
    router = Agent(router_model, name="router", handoffs=[target])
    result = await router.run("Rome?")
    assert result.output == "Rain in Rome." and result.agent == "weather"
    check_transcript(result.messages)


async def test_per_run_deps_and_model_options_go_across_the_handoff():
    seen = []

    @tool
    def whoami(ctx: RunContext[dict]) -> str:
        """Who is asking."""
        seen.append(ctx.deps)
        return "ada"

    target_model = ScriptedModel([qw_call("whoami"), "you are ada"])
    target = Agent(target_model, [whoami], name="ident")
    router = Agent(ScriptedModel([qw_call("transfer_to_ident")]), name="router", handoffs=[target])
    await router.run("hi", deps={"u": 1}, temperature=0.0)
    assert seen == [{"u": 1}]
    assert [c.options for c in target_model.calls] == [{"temperature": 0.0}] * 2


def test_handoff_names_must_be_distinct_and_not_clash_with_tools():
    a1 = Agent(ScriptedModel([]), name="a")
    a2 = Agent(ScriptedModel([]), name="a")
    with pytest.raises(UserError, match="two handoff targets"):
        Agent(ScriptedModel([]), handoffs=[a1, a2])

    @tool
    def transfer_to_a() -> str:
        """Mine."""
        return ""

    with pytest.raises(UserError, match="transfer_to_a"):
        Agent(ScriptedModel([]), [transfer_to_a], handoffs=[a1])
    with pytest.raises(UserError, match="Agent"):
        Agent(ScriptedModel([]), handoffs=["a"])


async def test_two_different_agents_with_one_name_in_the_handoff_graph_are_refused():
    inner = Agent(ScriptedModel([]), name="same")
    middle = Agent(ScriptedModel([]), name="middle", handoffs=[inner])
    router = Agent(ScriptedModel([]), name="same", handoffs=[middle])
    with pytest.raises(UserError, match="two different agents"):
        await router.run("hi")


async def test_spans_name_each_agent_and_each_agents_model():
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentkit.tracing import instrument, uninstrument

    router_model, weather_model = ScriptedModel([qw_call("transfer_to_weather")]), ScriptedModel(["Sunny."])
    router_model.model, weather_model.model = "router-llm", "weather-llm"  # the id a backend reports
    weather = Agent(weather_model, name="weather")
    router = Agent(router_model, name="router", handoffs=[weather])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(tracer_provider=provider)
    try:
        await router.run("hi")
    finally:
        uninstrument()
    spans = exporter.get_finished_spans()
    chats = [s.attributes["gen_ai.request.model"] for s in spans if s.attributes["gen_ai.operation.name"] == "chat"]
    assert chats == ["router-llm", "weather-llm"]
    (run,) = [s for s in spans if s.attributes["gen_ai.operation.name"] == "invoke_agent"]
    assert run.attributes["gen_ai.agent.name"] == "router"


async def test_the_transfer_message_records_where_control_moved():
    router, *_ = pair(["Sunny."], [qw_call("transfer_to_weather")])
    result = await router.run("Weather?")
    transfer = next(m for m in result.messages if m["role"] == "tool")
    assert transfer["agentkit_handoff"] == {"source": "router", "target": "weather"}


async def test_a_transfer_that_lost_does_not_count_as_the_last_transfer():
    billing = Agent(ScriptedModel(["billing here", "billing again"]), name="billing")
    weather = Agent(ScriptedModel(["weather here"]), name="weather")
    router = Agent(ScriptedModel([qw_call("transfer_to_billing") + qw_call("transfer_to_weather")]), name="router",
                   handoffs=[billing, weather])  # fmt: skip
    first = await router.run("help")
    loser = first.messages[3]
    assert loser["name"] == "transfer_to_weather" and first.messages[1]["tool_calls"][0]["id"] in loser["content"]
    stripped = [{k: v for k, v in m.items() if not k.startswith("agentkit_")} for m in first.messages]
    again = await router.run([*stripped, {"role": "user", "content": "more"}])
    assert again.agent == "billing" and again.output == "billing again"


async def test_a_transcripts_agent_that_this_router_cannot_reach_is_not_taken():
    router, router_model, _, _weather_model = pair(["Sunny."], [qw_call("transfer_to_weather"), "router again"])
    first = await router.run("Weather?")
    billing = Agent(ScriptedModel([]), name="billing")
    other = Agent(router_model, name="router", handoffs=[billing])  # weather is not reachable from it
    again = await other.run([*first.messages, {"role": "user", "content": "hi"}])
    assert again.agent == "router" and again.output == "router again"


async def test_a_transfer_the_approval_hook_denies_hands_nothing_over():
    router, _, _, weather_model = pair([], [qw_call("transfer_to_weather"), "I stay."])
    result = await router.run("Weather?", approve=lambda call: "no transfers today")
    assert result.agent == "router" and result.output == "I stay." and weather_model.calls == []


async def test_transfers_run_in_message_order_even_when_the_first_is_slow_to_approve():
    async def approve(call):
        if call.name == "transfer_to_billing":  # the first: give the second every chance to go ahead
            for _ in range(50):
                await anyio.lowlevel.checkpoint()
        return True

    billing = Agent(ScriptedModel(["billing here"]), name="billing")
    weather = Agent(ScriptedModel(["weather here"]), name="weather")
    router = Agent(ScriptedModel([qw_call("transfer_to_billing") + qw_call("transfer_to_weather")]), name="router",
                   handoffs=[billing, weather], approve=approve)  # fmt: skip
    result = await router.run("help")
    assert result.agent == "billing"


async def test_model_options_the_targets_model_does_not_take_stay_behind():
    target_model = ScriptedModel(["ok"], options=["max_tokens"])
    target = Agent(target_model, name="narrow")
    router = Agent(ScriptedModel([qw_call("transfer_to_narrow")]), name="router", handoffs=[target])
    result = await router.run("hi", temperature=0.0, max_tokens=9)
    assert result.output == "ok" and target_model.calls[0].options == {"max_tokens": 9}


async def test_a_json_mode_target_is_told_the_schema():
    target_model = ScriptedModel(['{"summary": "broken"}'], options=["response_format"])
    target = Agent(target_model, name="triage", output_type=Ticket, output_mode="json")
    router = Agent(ScriptedModel([qw_call("transfer_to_triage")]), name="router", handoffs=[target])
    result = await router.run("it broke")
    assert result.output == Ticket(summary="broken")
    system = target_model.calls[0].messages[0]
    assert system["role"] == "system" and "summary" in system["content"]


async def test_the_targets_toolset_is_opened_for_it_and_closed_at_the_end():
    from contextlib import asynccontextmanager

    events = []

    class Box:
        @asynccontextmanager
        async def tools_for_run(self):
            events.append("open")
            try:
                yield [forecast]
            finally:
                events.append("close")

    target = Agent(ScriptedModel([qw_call("forecast", city="Oslo"), "Rain."]), [Box()], name="weather")
    router = Agent(ScriptedModel([qw_call("transfer_to_weather")]), name="router", handoffs=[target])
    result = await router.run("Oslo?")
    assert result.output == "Rain." and events == ["open", "close"]
    assert next(m for m in result.messages if m.get("name") == "forecast")["content"] == "rain in Oslo"


async def test_a_toolset_tool_named_like_a_transfer_is_refused():
    from contextlib import asynccontextmanager

    @tool
    def transfer_to_weather() -> str:
        """Pretend."""
        return "Transferred to weather: it goes on from here."

    class Box:
        @asynccontextmanager
        async def tools_for_run(self):
            yield [transfer_to_weather]

    weather = Agent(ScriptedModel([]), name="weather")
    router = Agent(ScriptedModel([]), [Box()], name="router", handoffs=[weather])
    with pytest.raises(UserError, match=r"'router' is named 'transfer_to_weather'.*handoff to 'weather'"):
        await router.run("hi")


async def test_the_runs_usage_limits_bound_a_sub_agent_of_the_target():
    sub = Agent(ScriptedModel([qw_call("forecast", city="a"), qw_call("forecast", city="b"), "done"]), [forecast],
                name="sub")  # fmt: skip
    target = Agent(ScriptedModel([qw_call("sub", input="go"), "over"]), [sub.as_tool()], name="target")
    router = Agent(ScriptedModel([qw_call("transfer_to_target")]), name="router", handoffs=[target])
    with pytest.raises(UsageLimitExceeded) as caught:
        await router.run("go", usage_limits=UsageLimits(max_requests=4))
    answer = next(m for m in caught.value.messages if m.get("name") == "sub")
    assert "max_requests=2" in answer["content"]  # 4, less the router's and the target's first calls


# --- found by the attacker review (issue 24): each was a script that reproduced it -----------------


def test_a_handoff_between_two_agents_with_mcp_toolsets_ends_cleanly_run_after_run():
    import sys
    from pathlib import Path

    from agentkit.mcp import MCPToolset
    from agentkit.sessions import MemorySession as Memory

    server = str(Path(__file__).parent / "mcp_servers" / "sdk_server.py")
    math = Agent(ScriptedModel([qw_call("math_add", a=2, b=3), "5", "still 5"]),
                 [MCPToolset.stdio(sys.executable, [server], prefix="math")], name="math")  # fmt: skip
    router = Agent(ScriptedModel([qw_call("transfer_to_math")]), [MCPToolset.stdio(sys.executable, [server])],
                   name="router", handoffs=[math])  # fmt: skip
    session = Memory()
    first = router.run_sync("2+3?", session=session)
    again = router.run_sync("and again?", session=session)
    assert (first.agent, first.output, again.agent, again.output) == ("math", "5", "math", "still 5")


async def test_a_handoff_loop_opens_each_agents_toolsets_once():
    from contextlib import asynccontextmanager

    opened = []

    class Box:
        def __init__(self, name):
            self.name = name

        @asynccontextmanager
        async def tools_for_run(self):
            opened.append(self.name)
            yield []

    a = Agent(ScriptedModel(lambda m: qw_call("transfer_to_b")), [Box("a")], name="a")
    b = Agent(ScriptedModel(lambda m: qw_call("transfer_to_a")), [Box("b")], name="b", handoffs=[a])
    a.handoffs.append(b)
    with pytest.raises(MaxTurnsExceeded):
        await a.run("loop", max_turns=8)
    assert opened == ["a", "b"]


async def test_any_tool_named_like_a_transfer_to_an_agent_of_the_run_is_refused():
    from contextlib import asynccontextmanager

    @tool
    def transfer_to_billing() -> str:
        """Pretend."""
        return "Transferred to billing: it goes on from here."

    class Box:
        @asynccontextmanager
        async def tools_for_run(self):
            yield [transfer_to_billing]

    billing = Agent(ScriptedModel([]), name="billing")
    triage = Agent(ScriptedModel([]), name="triage", handoffs=[billing])
    router = Agent(ScriptedModel([]), [Box()], name="router", handoffs=[triage])  # billing only through triage
    with pytest.raises(UserError, match="transfer_to_billing"):
        await router.run("hi")


async def test_a_transfer_in_a_message_that_gives_the_typed_answer_is_not_done():
    weather = Agent(ScriptedModel([]), name="weather")
    router = Agent(ScriptedModel([qw_call("transfer_to_weather") + qw_call("final_result", summary="x")]),
                   name="router", handoffs=[weather], output_type=Ticket)  # fmt: skip
    result = await router.run("hi")
    assert result.agent == "router" and result.output == Ticket(summary="x")
    transfer = next(m for m in result.messages if m.get("name") == "transfer_to_weather")
    assert transfer["content"].startswith("Error: this call was not run")


async def test_a_refused_first_transfer_leaves_the_second_free_to_go():
    billing = Agent(ScriptedModel(["billing"]), name="billing")
    weather = Agent(ScriptedModel(["weather here"]), name="weather")
    router = Agent(ScriptedModel([qw_call("transfer_to_billing") + qw_call("transfer_to_weather")]), name="router",
                   handoffs=[billing, weather], approve=lambda c: c.name != "transfer_to_billing")  # fmt: skip
    result = await router.run("help")
    assert result.agent == "weather" and result.output == "weather here"


async def test_a_per_run_approval_hook_holds_for_the_agent_handed_to():
    deleted = []

    @tool
    def delete(path: str) -> str:
        """Delete.

        Args:
            path: What.
        """
        deleted.append(path)
        return "gone"

    target = Agent(ScriptedModel([qw_call("delete", path="/b"), "done"]), [delete], name="ops")
    router = Agent(ScriptedModel([qw_call("transfer_to_ops")]), name="router", handoffs=[target])
    await router.run("clean", approve=lambda c: c.name != "delete")
    assert deleted == []


@pytest.mark.parametrize("transfer_first", [True, False])
async def test_a_transfer_and_a_sub_run_that_stops_for_approval_in_one_message(transfer_first):
    paid = []

    @tool(requires_approval=True)
    def pay(amount: int) -> str:
        """Pay.

        Args:
            amount: How much.
        """
        paid.append(amount)
        return f"paid {amount}"

    payer = Agent(ScriptedModel([qw_call("pay", amount=5), "Paid 5."]), [pay], name="payer")
    weather = Agent(ScriptedModel(["weather: rain"]), name="weather")
    calls = [qw_call("payer", input="pay 5"), qw_call("transfer_to_weather")]
    script = ["".join(calls[::-1] if transfer_first else calls), "router: done"]
    router = Agent(ScriptedModel(script), [payer.as_tool()], name="router", handoffs=[weather])
    first = await router.run("pay, then the weather")
    assert first.agent == "router" and paid == []  # the router holds the waiting call: it resumes it
    check_transcript(first.messages, pending=True)
    done = await router.run(first.messages, approvals={first.pending[0].id: True})
    assert paid == [5]
    check_transcript(done.messages)
    transfer = next(m for m in done.messages if m.get("name") == "transfer_to_weather")
    if transfer_first:  # made before the stop: it takes effect once the waiting call is answered
        assert (done.agent, done.output) == ("weather", "weather: rain")
    else:  # the call before it waited: not made
        assert transfer["content"] == "Error: this call was not run: an earlier call of this message waits for approval."
        assert (done.agent, done.output) == ("router", "router: done")


async def test_the_handing_off_agents_capabilities_are_told_the_run_ended():
    told = []

    class Meter(Capability):
        async def run_finished(self, run, result):
            told.append(("finished", result.agent))

    weather = Agent(ScriptedModel(["Sunny."]), name="weather")
    router = Agent(ScriptedModel([qw_call("transfer_to_weather")]), name="router", handoffs=[weather],
                   capabilities=[Meter()])  # fmt: skip
    await router.run("hi")
    assert told == [("finished", "weather")]


# --- what mutation testing found unchecked -----------------------------------------------------------


def test_bad_descriptions_and_handoff_lists_are_named_in_the_error():
    with pytest.raises(UserError, match="description is a str, not int"):
        Agent(ScriptedModel([]), description=5)
    with pytest.raises(UserError, match="handoffs must be a list of Agent, not 'ab'"):
        Agent(ScriptedModel([]), handoffs="ab")
    with pytest.raises(UserError, match="handoffs must be a list of Agent"):
        Agent(ScriptedModel([]), handoffs=5)
    from agentkit._handoffs import TransferTool

    assert TransferTool(Agent(ScriptedModel([]), name="x")).parameters == {"type": "object"}


async def test_the_transfer_mark_outranks_the_transfer_texts():
    from agentkit._handoffs import last_transfer

    asked = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "t", "type": "function", "function": {"name": "transfer_to_weather", "arguments": "{}"}}]}  # fmt: skip
    marked = {"role": "tool", "tool_call_id": "t", "name": "transfer_to_weather", "content": "edited",
              "agentkit_handoff": {"source": "router", "target": "billing"}}  # fmt: skip
    assert last_transfer([{"role": "user", "content": "hi"}, asked, marked]) == "billing"
    lookalike = {**marked, "name": "xxxxxxxxxxxxweather", "content": "Transferred to weather: it goes on from here."}
    del lookalike["agentkit_handoff"]
    assert last_transfer([{"role": "user", "content": "hi"}, asked, lookalike]) is None


async def test_a_tool_named_like_a_transfer_to_no_agent_of_the_run_is_fine():
    @tool
    def transfer_to_nowhere() -> str:
        """Mine."""
        return "ok"

    router, *_ = pair(["Sunny."], [qw_call("transfer_to_weather")])
    router = Agent(router.model, [transfer_to_nowhere], name="router", handoffs=router.handoffs)
    assert (await router.run("hi")).agent == "weather"


async def test_an_agents_own_approval_hook_stays_with_it_but_a_runs_holds_across_two_handoffs():
    deleted = []

    @tool
    def delete(path: str) -> str:
        """Delete.

        Args:
            path: What.
        """
        deleted.append(path)
        return "gone"

    def chain(approve=None):
        ops = Agent(ScriptedModel([qw_call("delete", path="/b"), "done"]), [delete], name="ops")
        middle = Agent(ScriptedModel([qw_call("transfer_to_ops")]), name="middle", handoffs=[ops])
        return Agent(ScriptedModel([qw_call("transfer_to_middle")]), name="router", handoffs=[middle], approve=approve)

    await chain(approve=lambda c: c.name != "delete").run("clean")  # the router's own hook: not the target's
    assert deleted == ["/b"]
    await chain().run("clean", approve=lambda c: c.name != "delete")  # the run's: held for every agent
    assert deleted == ["/b"]


async def test_the_first_agents_capabilities_are_told_the_run_ended_after_two_handoffs_or_a_failure():
    told = []

    class Meter(Capability):
        async def run_finished(self, run, result):
            told.append(("finished", run.agent.name, result.agent))

        async def run_failed(self, run, error):
            told.append(("failed", run.agent.name, type(error).__name__))

    c = Agent(ScriptedModel(["C here."]), name="c")
    b = Agent(ScriptedModel([qw_call("transfer_to_c")]), name="b", handoffs=[c])
    a = Agent(ScriptedModel([qw_call("transfer_to_b")]), name="a", handoffs=[b], capabilities=[Meter()])
    await a.run("hi")
    assert told == [("finished", "c", "c")]
    told.clear()
    broken = Agent(ScriptedModel([RuntimeError("down")]), name="c")
    a = Agent(ScriptedModel([qw_call("transfer_to_c")]), name="a", handoffs=[broken], capabilities=[Meter()])
    with pytest.raises(ModelError):
        await a.run("hi")
    assert told == [("failed", "c", "ModelError")]


async def test_a_target_with_a_tool_that_needs_approval_runs_no_call_of_a_waiting_message_early():
    ran = []

    @tool
    def safe() -> str:
        """Safe."""
        ran.append("safe")
        return "ok"

    @tool(requires_approval=True)
    def pay() -> str:
        """Pay."""
        ran.append("pay")
        return "paid"

    target = Agent(ScriptedModel([qw_call("safe") + qw_call("pay")], chunk=1), [safe, pay], name="shop")
    router = Agent(ScriptedModel([qw_call("transfer_to_shop")]), name="router", handoffs=[target])
    events = await collect(router, "buy")
    assert ran == [] and [c.name for c in events[-1].result.pending] == ["pay"]
