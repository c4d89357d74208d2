"""Answering one tool call: the timeout of tools that take a `RunContext`, and a result with images."""

import anyio
import pytest

from agentkit import Agent, RunContext, tool
from agentkit._tool_runner import WithImages
from agentkit.testing import ScriptedModel, check_transcript
from tests.agent_helpers import qw_call

pytestmark = pytest.mark.anyio
PIXEL = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


@tool
async def wait_for_deps(ctx: RunContext[anyio.Event]) -> str:
    """Wait until the run's event is set."""
    await ctx.deps.wait()
    return "set"


async def test_tool_timeout_bounds_a_tool_that_takes_a_run_context():
    never = anyio.Event()
    model = ScriptedModel([qw_call("wait_for_deps"), "gave up"])
    with anyio.fail_after(60):  # the bound that must fire is tool_timeout; this one only stops a hang
        result = await Agent(model, [wait_for_deps], tool_timeout=0.05).run("go", deps=never)
    assert result.messages[2]["content"] == "Error: the tool wait_for_deps timed out after 0.05 s."
    assert result.output == "gave up"


@tool
def picture(caption: str) -> WithImages:
    """Take a picture.

    Args:
        caption: Its caption.
    """
    return WithImages(text=f"[image: image/png, 8 bytes]\n{caption}", images=(PIXEL, PIXEL))


@pytest.mark.parametrize("takes_images", [False, True])
async def test_a_result_with_images_is_split_into_its_text_and_its_images(takes_images):
    model = ScriptedModel([qw_call("picture", caption="a red dot"), "a red dot"])
    model.takes_images = takes_images
    result = await Agent(model, [picture]).run("What is in the picture?")
    check_transcript(result.messages)
    call_id = result.messages[1]["tool_calls"][0]["id"]
    assert result.messages[2]["content"] == "[image: image/png, 8 bytes]\na red dot"  # the text only
    sent = model.calls[1].messages
    if not takes_images:  # the placeholder is all the model gets
        assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "assistant"]
        assert sent == result.messages[:3]
        return
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "user", "assistant"]
    header = {"type": "text", "text": f"The images returned by picture (call {call_id}):"}
    assert result.messages[3] == {"role": "user", "content": [header, PIXEL, PIXEL], "agentkit_inserted": "images"}
    assert sent[3] == {"role": "user", "content": [header, PIXEL, PIXEL]}
