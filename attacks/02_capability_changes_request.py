"""Attack: a run capability that changes `request.messages` (the seam documents it: "a copy of the
transcript, to change what is sent") desynchronises `Recording.seen`.

`Recording.before_request` sets `seen = len(request.messages) + 1`, assuming the next request's
messages start with this request's messages plus the response. A capability that adds a message
to each request only (a reminder) makes the next call skip the tool result; one that drops a
message makes the next call skip new messages (nothing after the model's own call).
The double below renders "tokens" exactly as LocalModel._continue picks new messages
(`messages[record.seen:]`).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentkit import Agent, Capability, tool
from tests.test_recording import CharRecorder, qw_call


@tool
def weather(city: str) -> str:
    """Weather."""
    return "SUNNY-42"


class Reminder(Capability):
    """Adds a reminder to what is sent, not to the transcript (a documented use of before_request)."""

    async def before_request(self, run, request):
        request.messages.append({"role": "user", "content": "REMIND"})


class DropOldest(Capability):
    """Trims the oldest non-system message from what is sent (a user's own context trimming)."""

    async def before_request(self, run, request):
        if len(request.messages) > 2:
            del request.messages[1]


def fed_text(t) -> str:
    return "".join(chr(i) for i, m in zip(t.response_ids, t.response_mask, strict=True) if not m)


def main() -> None:
    found = []
    model = CharRecorder([qw_call("weather", {"city": "Oslo"}), "done"])
    result = Agent(model, [weather], system="S", capabilities=[Reminder()]).run_sync("hi", record=True)
    fed = fed_text(result.trajectory)
    tool_sent = any("SUNNY-42" in str(m.get("content")) for m in model.calls[1].messages)
    print(f"  reminder: the second call's messages hold the tool result: {tool_sent}; trajectory fed tokens: {fed!r}")
    if tool_sent and "SUNNY-42" not in fed:
        found.append("a capability that adds a message per request: the tool result never reaches the recorded model")

    model = CharRecorder([qw_call("weather", {"city": "Oslo"}), qw_call("weather", {"city": "Rome"}), "done"])
    result = Agent(model, [weather], system="S", capabilities=[DropOldest()]).run_sync("hi", record=True)
    fed = fed_text(result.trajectory)
    print(f"  drop-oldest: trajectory fed tokens: {fed!r}")
    if fed.count("SUNNY-42") != 2:
        found.append(
            f"a capability that trims messages: {fed.count('SUNNY-42')} of 2 tool results reach the "
            "recorded model (the second call is fed nothing new after its own tool call)"
        )
    if found:
        print("FOUND: " + "; ".join(found))
    else:
        print("OK: capabilities that change the request keep the trajectory right")


main()
