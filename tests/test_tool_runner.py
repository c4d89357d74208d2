"""Answering one tool call: the timeout of tools that take a `RunContext`, a result with images and the
image bounds every image a tool returns (`WithImages`) passes."""

import base64
import threading

import anyio
import pytest

from agentkit import Agent, RunContext, ToolCallFinished, tool
from agentkit._tool_runner import MAX_IMAGE_BYTES, WithImages
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



def data_url(n: int) -> dict:
    return {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(b"\xff" * n).decode()}}


async def test_a_tool_returning_a_screenshot_over_the_default_cap_sends_a_note_not_the_image():
    def screenshot() -> WithImages:
        """A screenshot."""
        return WithImages(text="the screen", images=(data_url(MAX_IMAGE_BYTES + 1), data_url(10)))

    model = ScriptedModel([qw_call("screenshot"), "seen"])
    model.takes_images = True
    result = await Agent(model, [screenshot]).run("q")
    check_transcript(result.messages)
    assert result.messages[2]["content"] == (
        f"[image 1 of 2 (image/jpeg, {MAX_IMAGE_BYTES + 1} bytes) left out: "
        f"over the limit of {MAX_IMAGE_BYTES} bytes per image]\nthe screen"
    )
    sent = [p for p in result.messages[3]["content"] if p["type"] == "image_url"]
    assert sent == [data_url(10)]
    # What the next model call carried: no part of the big image.
    assert sum(len(str(m)) for m in model.calls[1].messages) < 10_000


async def test_thousands_of_images_over_the_count_are_one_note():
    def many() -> WithImages:
        """Many images."""
        return WithImages(text="done", images=(data_url(1),) * 5000, max_images=2)

    result = await Agent(ScriptedModel([qw_call("many"), "ok"]), [many]).run("q")
    assert result.messages[2]["content"] == "[images 3 to 5000 of 5000 left out: over the limit of 2 images per result]\ndone"


async def test_a_timed_out_sync_tool_is_said_to_be_maybe_still_running():
    # A sync tool cannot be stopped: it is abandoned in its thread and its effect may land after
    # the model was told it timed out. The model and the caller are told so.
    paid: list[int] = []
    go = threading.Event()

    @tool
    def pay(amount: int) -> str:
        """Pay.

        Args:
            amount: How much.
        """
        go.wait(60)
        paid.append(amount)
        return "paid"

    finished = []
    agent = Agent(ScriptedModel([qw_call("pay", amount=500), "gave up"]), [pay], tool_timeout=0.05)
    with anyio.fail_after(60):
        async for event in agent.stream("Pay."):
            if isinstance(event, ToolCallFinished):
                finished.append(event)
    said = "timed out after 0.05 s; it may still be running, and its effect may still happen"
    assert finished[0].content == f"Error: the tool pay {said}."
    assert finished[0].error == said
    assert paid == []
    go.set()  # the abandoned thread goes on: the effect the message warned of happens
    with anyio.fail_after(60):
        while not paid:
            await anyio.sleep(0.01)
    assert paid == [500]


class Mpf:
    """A number JSON cannot encode (as mpmath's mpf), with a readable str."""

    def __str__(self) -> str:
        return "3.14159"


@tool
def pi() -> Mpf:
    """Pi, as an object JSON cannot encode."""
    return Mpf()


@tool
def pis() -> dict:
    """Pi inside a dict."""
    return {"pi": Mpf(), "n": 1}


async def test_a_result_json_cannot_encode_is_sent_as_its_str_not_an_error():
    model = ScriptedModel([qw_call("pi") + qw_call("pis"), "ok"])
    events = [e async for e in Agent(model, [pi, pis]).stream("go")]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    # The two calls run concurrently: they finish in either order.
    assert {e.call.name: (e.content, e.error) for e in finished} == {
        "pi": ("3.14159", None),
        "pis": ('{"pi": "3.14159", "n": 1}', None),
    }
    check_transcript(events[-1].result.messages)


@pytest.mark.anyio
async def test_writing_a_result_as_text_runs_in_a_thread_within_the_tools_time():
    # Attacker review of issue 30 (#8): str() of a result ran on the event loop, outside tool_timeout.
    release = threading.Event()
    others: list[str] = []

    class Lazy:
        def __str__(self) -> str:
            release.wait(60)  # until the test is done
            return "never seen"

    @tool
    def compute(x: int) -> object:
        """Compute.

        Args:
            x: Input.
        """
        return Lazy()

    @tool
    async def other(x: int) -> str:
        """Another.

        Args:
            x: Input.
        """
        others.append("ran")
        return "fine"

    model = ScriptedModel([qw_call("compute", x=1) + qw_call("other", x=2), "done"])
    try:
        result = await Agent(model, [compute, other], tool_timeout=0.2).run("go")
    finally:
        release.set()
    answers = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert answers == ["Error: the tool compute ran, but writing its result as text took longer than 0.2 s.", "fine"]
    assert others == ["ran"]
