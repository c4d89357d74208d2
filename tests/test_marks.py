"""agentkit's own keys on messages (``agentkit_*``): kept in the transcript, never sent to a model
or server — checked on what a real server and a real chat template received."""

import json

import pytest

from agentkit import Agent, RemoteModel, tool
from agentkit._marks import outgoing, starts_turn
from agentkit._tool_runner import WithImages
from agentkit.sessions import History
from tests.scripted_server import Reply, ScriptedServer, call, completion

pytestmark = pytest.mark.anyio
PIXEL = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
OLD = [{"role": "user", "content": "old"}, {"role": "assistant", "content": "x"}]


@tool
def picture() -> WithImages:
    """Take a picture."""
    return WithImages(text="[image: image/png, 8 bytes]", images=(PIXEL,))


def own_keys(value) -> list[str]:
    """Every ``agentkit_*`` key anywhere in `value` (a request body, say)."""
    if isinstance(value, dict):
        return [k for k in value if str(k).startswith("agentkit_")] + [x for v in value.values() for x in own_keys(v)]
    if isinstance(value, list):
        return [x for v in value for x in own_keys(v)]
    return []


def test_outgoing_takes_off_every_own_key_and_leaves_the_transcript_alone():
    messages = [
        {"role": "user", "content": "q", "agentkit_sub_run": {"waiting": True}},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "retry", "agentkit_inserted": "output_retry"},
    ]
    copy = json.loads(json.dumps(messages))
    sent = outgoing(messages)
    assert sent == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                    {"role": "user", "content": "retry"}]  # fmt: skip
    assert messages == copy
    assert sent[1] is messages[1]  # a message without own keys is passed as is
    assert [starts_turn(m) for m in messages] == [True, False, False]


async def test_a_remote_server_never_receives_own_keys_and_gets_the_whole_turn():
    with ScriptedServer() as server:
        server.script(
            Reply(completion(None, tool_calls=[call("picture", {})], finish="tool_calls")),
            Reply(completion("a red dot")),
        )
        agent = Agent(RemoteModel(server.url, images=True), [picture], history=History(max_turns=1))
        result = await agent.run([*OLD, {"role": "user", "content": "What is in the picture?"}])
        assert result.messages[-2]["agentkit_inserted"] == "images"
        second = server.requests[1]["messages"]
        assert [m["role"] for m in second] == ["user", "assistant", "tool", "user"]
        assert second[0] == {"role": "user", "content": "What is in the picture?"}
        assert second[-1]["content"][1] == PIXEL
        # The typed-output retry, and the marked transcript given back in for a next question.
        server.script(Reply(completion("three")),
                      Reply(completion(None, tool_calls=[call("final_result", {"result": 3})], finish="tool_calls")),
                      Reply(completion("ok")))  # fmt: skip
        typed = await Agent(RemoteModel(server.url), output_type=int, output_mode="tool", history=History(max_turns=1)).run(
            [*result.messages, {"role": "user", "content": "How many?"}]
        )
        assert typed.output == 3 and typed.messages[-3]["agentkit_inserted"] == "output_retry"
        assert [m["content"] for m in server.requests[3]["messages"]][:2] == ["How many?", "three"]
        await Agent(RemoteModel(server.url)).run(json.loads(json.dumps([*typed.messages, {"role": "user",
                                                                                           "content": "And?"}])))  # fmt: skip
        assert len(server.requests) == 5 and sum(len(own_keys(m)) for m in typed.messages) == 2
        assert [own_keys(body) for body in server.requests] == [[]] * 5


async def test_a_local_models_chat_template_never_receives_own_keys(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from agentkit import LocalModel, Sampling
    from tools.build_test_models import build_tiny

    model = LocalModel(build_tiny("qwen3", tmp_path / "qwen3"), sampling=Sampling(temperature=0, max_tokens=2),
                       device_map=None, dtype=torch.float32, batching=False)  # fmt: skip
    # A template that writes out every message as the template received it.
    model.tokenizer.chat_template = (
        "{% for m in messages %}{{ m | tojson }}\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
        "{% endif %}"
    )
    prompts: list[str] = []
    generate = model.model.generate

    def recording(*args, **kwargs):  # the whole prompt of each call, as the template wrote it
        prompts.append(model.tokenizer.decode(kwargs["input_ids"][0]))
        return generate(*args, **kwargs)

    model.model.generate = recording
    transcript = [
        {"role": "user", "content": "How many?", "agentkit_sub_run": {"waiting": True}},
        {"role": "assistant", "content": "three"},
        {"role": "user", "content": "Call final_result with the answer.", "agentkit_inserted": "output_retry"},
        {"role": "assistant", "content": "3"},
        {"role": "user", "content": "And now?"},
    ]
    result = await Agent(model, history=History(max_turns=1)).run(transcript)
    assert result.messages[: len(transcript)] == transcript  # the transcript keeps them
    rendered = [json.loads(line) for line in prompts[0].split("\n") if line.startswith("{")]
    assert [m["content"] for m in rendered] == ["And now?"]
    await Agent(model).run(transcript)
    assert len(prompts) == 2
    rendered = [json.loads(line) for line in prompts[1].split("\n") if line.startswith("{")]
    assert [m["content"] for m in rendered] == [m["content"] for m in transcript]
    assert not any(own_keys(m) for m in rendered)


async def test_the_images_message_does_not_drop_the_running_turns_reasoning():
    # The images message is the run's own, not a new question: the reasoning that made the call
    # is still the current turn's, and goes back to the server as Qwen3's template keeps it.
    with ScriptedServer() as server:
        server.script(
            Reply(completion(None, reasoning="I need a picture.", tool_calls=[call("picture", {})], finish="tool_calls")),
            Reply(completion("a red dot")),
        )
        await Agent(RemoteModel(server.url, images=True), [picture]).run("What is in the picture?")
        second = server.requests[1]["messages"]
        assert [m["role"] for m in second] == ["user", "assistant", "tool", "user"]
        assert second[1]["reasoning_content"] == "I need a picture."
