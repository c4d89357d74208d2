"""The tool runner's image bounds: every image a tool returns (`WithImages`) passes them."""

from __future__ import annotations

import base64

import pytest

from agentkit import Agent
from agentkit._tool_runner import MAX_IMAGE_BYTES, WithImages
from agentkit.testing import ScriptedModel, check_transcript

from .agent_helpers import qw_call

pytestmark = pytest.mark.anyio


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
