"""Each server's dialect on the way out, and Ollama's stream on the way in (issue 28).

The messages are sent to the scripted server and read back from its record of the request, so
what is checked is the JSON body a server would get.
"""

import json

import pytest

from agentkit import RemoteModel, TextDelta, ToolCallReady
from agentkit._dialects import reasoning_keys
from tests.scripted_server import Reply, ScriptedServer, call, chunk, completion
from tests.test_agent import QUESTION, get_current_temperature, get_temperature_date

pytestmark = pytest.mark.anyio
TOOLS = [get_current_temperature, get_temperature_date]
SF = {"location": "San Francisco, CA, USA"}


def chain(reasoning_key: str) -> list[dict]:
    """A turn mid-chain: an earlier turn (its reasoning is dropped by the families' templates),
    then the current turn's call with its reasoning under `reasoning_key`, and its result."""
    return [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "a", reasoning_key: "old thought"},
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "", reasoning_key: "I need the temperature.",
         "tool_calls": [call("get_current_temperature", SF)]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_current_temperature", "content": "26.1"},
    ]  # fmt: skip


async def sent_messages(owned_by: str, messages: list[dict]) -> list[dict]:
    with ScriptedServer(owned_by=owned_by) as srv:
        srv.script(Reply(body=completion("ok")))
        await RemoteModel(srv.url).complete(messages, tools=TOOLS)
        return srv.requests[0]["messages"]


@pytest.mark.parametrize("given", ["reasoning_content", "reasoning"])
@pytest.mark.parametrize(
    ("owned_by", "keys"),
    [("vllm", {"reasoning", "reasoning_content"}), ("library", {"reasoning"}), ("lmdeploy", {"reasoning_content"}),
     ("sglang", {"reasoning_content"}), ("llamacpp", {"reasoning_content"}), ("openai", {"reasoning_content"})],
)  # fmt: skip
async def test_current_turn_reasoning_goes_back_under_the_keys_each_server_reads(owned_by, keys, given):
    """vLLM #38488: newer vLLM reads only `reasoning` on input (chat_utils'
    _parse_chat_message_content), older servers `reasoning_content`; vLLM drops the key it does
    not read, so it gets both. Ollama reads `reasoning` (openai.go's Message), lmdeploy,
    SGLang and llama.cpp `reasoning_content`. A transcript may hold either key (vLLM PR #27752
    renamed it in responses): both are read."""
    sent = await sent_messages(owned_by, chain(given))
    current = sent[3]
    assert {k for k in ("reasoning", "reasoning_content") if k in current} == keys
    assert all(current[k] == "I need the temperature." for k in keys)
    # The earlier turn's reasoning is dropped, as Intern-S1's and Qwen3's templates drop it.
    assert "reasoning" not in sent[1] and "reasoning_content" not in sent[1]
    assert set(reasoning_keys("vllm")) == {"reasoning", "reasoning_content"}


async def test_ollama_never_gets_null_content_on_an_assistant_message():
    """pydantic-ai #3406: Ollama answers 400 to an assistant message with `content: null`
    (openai.go's FromChatRequest: content of no type is an error unless tool calls come
    with it). Other servers get the transcript's null as it is."""
    history = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": None, "tool_calls": [call("get_current_temperature", SF)]},
        {"role": "tool", "tool_call_id": "call_1", "content": "26.1"},
        {"role": "assistant", "content": None},
        {"role": "user", "content": "and?"},
    ]
    sent = await sent_messages("library", history)
    assert [m["content"] for m in sent if m["role"] == "assistant"] == ["", ""]
    assert [m["content"] for m in await sent_messages("vllm", history) if m["role"] == "assistant"] == [None, None]


async def stream_of(owned_by: str, *replies: Reply) -> tuple[list, list[dict]]:
    with ScriptedServer(owned_by=owned_by) as srv:
        srv.script(*replies)
        events = [e async for e in RemoteModel(srv.url).stream([{"role": "user", "content": QUESTION}], tools=TOOLS)]
        return events, srv.requests


async def test_ollama_whole_calls_each_with_index_0():
    """Ollama streams each call whole in its own delta with a fresh id; its model parsers that do
    not count calls (model/parsers/qwen3coder.go) leave every call at `index` 0
    (openai.go's ToToolCalls copies Function.Index). A new id at a finished index is a new call."""
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"tool_calls": [call("get_current_temperature", SF, cid="call_a", index=0)]}),
        chunk({"tool_calls": [call("get_temperature_date", {**SF, "date": "2024-11-15"}, cid="call_b", index=0)]}),
        chunk({}, finish="tool_calls"),
    ]
    events, _ = await stream_of("library", Reply(chunks=chunks))
    final = events[-1].completion
    assert [(c.id, c.name) for c in final.tool_calls] == [("call_a", "get_current_temperature"),
                                                          ("call_b", "get_temperature_date")]  # fmt: skip
    assert [e.call.id for e in events if isinstance(e, ToolCallReady)] == ["call_a", "call_b"]


async def test_ollama_whole_calls_without_index_in_one_delta():
    """Ollama before PR #7888 (2024-11, openai.go's toToolCalls) sent no `index`: calls arrive
    whole, several in one delta; without ids too, each named part is a call of its own."""
    parts = [call("get_current_temperature", SF, cid=None, index=None),
             call("get_current_temperature", {"location": "Paris"}, cid=None, index=None)]  # fmt: skip
    events, _ = await stream_of("library", Reply(chunks=[chunk({"tool_calls": parts}), chunk({}, finish="stop")]))
    final = events[-1].completion
    assert [json.loads(c.arguments) for c in final.tool_calls] == [SF, {"location": "Paris"}]
    assert len({c.id for c in final.tool_calls}) == 2


async def test_ollama_stream_with_neither_content_nor_calls_is_asked_again_whole():
    """Qwen3 #1747: with some models Ollama's stream ends with no tool call (nor text) where the
    same request unstreamed returns it. agentkit then asks again without streaming and sends
    that answer's events; the final completion is that answer."""
    empty = Reply(chunks=[chunk({"role": "assistant", "content": ""}), chunk({}, finish="stop")])
    whole = Reply(body=completion(None, tool_calls=[call("get_current_temperature", SF, cid="call_x")],
                                  finish="tool_calls"))  # fmt: skip
    events, requests = await stream_of("library", empty, whole)
    assert [r.get("stream", False) for r in requests] == [True, False]
    final = events[-1].completion
    assert [(c.id, c.name) for c in final.tool_calls] == [("call_x", "get_current_temperature")]
    assert [e.call.id for e in events if isinstance(e, ToolCallReady)] == ["call_x"]


async def test_other_servers_and_answers_are_not_asked_again():
    """The second request is Ollama's alone, and only for a stream that brought nothing."""
    empty = [chunk({"content": ""}), chunk({}, finish="stop")]
    events, requests = await stream_of("vllm", Reply(chunks=empty))
    assert len(requests) == 1 and events[-1].completion.tool_calls == []
    said = [chunk({"content": "Hello."}), chunk({}, finish="stop")]
    events, requests = await stream_of("library", Reply(chunks=said))
    assert len(requests) == 1 and "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello."


@pytest.mark.parametrize("owned_by", ["library", "vllm", "llamacpp"])
@pytest.mark.parametrize("ids", [(None, None), ("call_1", "call_1")])
async def test_a_whole_call_at_the_index_of_a_finished_one_is_a_new_call(owned_by, ids):
    """attack-28 06: two whole calls at index 0 with no id (or the same id twice): the second
    names a tool at the index of a call already complete, so it is a new call, as unstreamed
    (never dropped silently)."""
    parts = [call("get_current_temperature", SF, cid=ids[0], index=0),
             call("get_current_temperature", {"location": "Paris"}, cid=ids[1], index=0)]  # fmt: skip
    chunks = [chunk({"tool_calls": [parts[0]]}), chunk({"tool_calls": [parts[1]]}), chunk({}, finish="tool_calls")]
    events, _ = await stream_of(owned_by, Reply(chunks=chunks))
    final = events[-1].completion
    assert [json.loads(c.arguments) for c in final.tool_calls] == [SF, {"location": "Paris"}] and not final.errors
    assert len({c.id for c in final.tool_calls}) == 2
    assert [json.loads(e.call.arguments) for e in events if isinstance(e, ToolCallReady)] == [SF, {"location": "Paris"}]


async def test_ollamas_second_request_stays_within_max_duration():
    """attack-28 07: max_duration bounds one whole model call (docs/errors.md): the unstreamed
    re-request gets what is left of it, not a fresh one."""
    from agentkit.exceptions import ModelError

    # The stream takes at least 2.4 s of the 3 s; the whole answer then needs 1.5 s more.
    empty = Reply(chunks=[chunk({"content": ""}) for _ in range(5)] + [chunk({}, finish="stop")], chunk_delay=0.4)
    with ScriptedServer(owned_by="library") as srv:
        srv.script(empty, Reply(body=completion("Sunny."), delay=1.5))
        model = RemoteModel(srv.url, max_duration=3.0)
        with pytest.raises(ModelError, match="max_duration"):
            [e async for e in model.stream([{"role": "user", "content": QUESTION}], tools=TOOLS)]
        assert len(srv.requests) == 2


async def test_no_second_request_under_tool_choice_none():
    """attack-28 13: under tool_choice="none" no call can be missing: Qwen3 #1747's re-request
    is not made."""
    thought = Reply(chunks=[chunk({"reasoning": "Nothing to say."}), chunk({}, finish="stop")])
    with ScriptedServer(owned_by="library") as srv:
        srv.script(thought, Reply(body=completion("", reasoning="again")))
        user = [{"role": "user", "content": QUESTION}]
        [e async for e in RemoteModel(srv.url).stream(user, tools=TOOLS, tool_choice="none")]
        assert len(srv.requests) == 1


# --- reasoning replayed across tool turns: what each family's template does with it --------------


def family_templates() -> dict[str, str]:
    """Our reproductions of the families' templates (tools/_templates.py), and the real Qwen3,
    Qwen3.5 (the form of Intern-S2-Preview) and Qwen3-Coder templates where the llama.cpp
    source the tests build is on this machine (its models/templates)."""
    from tools._templates import TEMPLATES
    from tools.llama_server import ROOT

    found = {f"ours:{name}": text for name, text in TEMPLATES.items()}
    for name in ("Qwen-Qwen3-0.6B", "Qwen3.5-4B", "Qwen3-Coder"):
        path = ROOT / "src" / "models" / "templates" / f"{name}.jinja"
        if path.exists():
            found[name] = path.read_text()
    return found


def render(template: str, messages: list[dict]) -> str:
    """`messages` through `template` as a server renders them: the arguments of calls as objects
    (vLLM's _postprocess_messages), vLLM's `reasoning` under the name templates read."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda v, indent=None, **_: json.dumps(v, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    shown = []
    for m in messages:
        m = dict(m)
        if "reasoning" in m:
            m["reasoning_content"] = m.pop("reasoning")
        if m.get("tool_calls"):
            m["tool_calls"] = [{**c, "function": {**c["function"], "arguments": json.loads(c["function"]["arguments"])}}
                               for c in m["tool_calls"]]  # fmt: skip
        shown.append(m)
    return env.from_string(template).render(messages=shown, add_generation_prompt=True, bos_token="", eos_token="")


@pytest.mark.parametrize("owned_by", ["vllm", "lmdeploy", "library"])
async def test_what_is_sent_renders_as_the_whole_transcript_in_each_family(owned_by):
    """Interleaved thinking (issue 28): Intern-S1's, Qwen3's and Qwen3.5's templates render the
    reasoning of the assistant messages after the last user message and drop the earlier ones';
    Qwen3-Coder's renders none. What agentkit sends renders, in each template, exactly as the
    whole transcript does: the current turn's reasoning reaches the model, nothing else changes."""
    transcript = chain("reasoning_content")
    sent = await sent_messages(owned_by, transcript)
    templates = family_templates()
    for name, template in templates.items():
        prompt = render(template, sent)
        assert prompt == render(template, transcript), name
        assert "old thought" not in prompt, name
        thinks = "Coder" not in name and "qwen3-coder" not in name
        assert ("I need the temperature." in prompt) == thinks, name
