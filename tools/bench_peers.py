"""The peers' side of `tools/bench.py`, run in the peers' own venv (.bench-venv).

    .bench-venv/bin/python tools/bench_peers.py URL RUNS

The same 5-step conversation against the scripted server, through a hand-written openai loop
(the baseline, in this venv) and each peer that imports. Prints one JSON line: seconds per
step for each run, or the reason a peer could not run.
"""

import asyncio
import json
import sys
import time

URL, RUNS = sys.argv[1], int(sys.argv[2])
SCHEMA = {"type": "function", "function": {"name": "add", "description": "Add two integers.", "parameters": {
    "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first
        b: second
    """
    return a + b


async def raw(client) -> None:
    messages = [{"role": "user", "content": "Add the numbers, step by step."}]
    while True:
        r = await client.chat.completions.create(model="steps-5", messages=messages, tools=[SCHEMA])
        m = r.choices[0].message
        messages.append(m.model_dump(exclude_none=True))
        if not m.tool_calls:
            return
        for c in m.tool_calls:
            messages.append({"role": "tool", "tool_call_id": c.id, "name": c.function.name,
                             "content": json.dumps(add(**json.loads(c.function.arguments)))})


def contenders():
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=URL, api_key="EMPTY")
    yield "raw openai loop", lambda: raw(client)
    try:
        from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled

        set_tracing_disabled(True)
        oa = Agent(name="bench", instructions="", tools=[function_tool(add)],
                   model=OpenAIChatCompletionsModel(model="steps-5", openai_client=client))
        yield "openai-agents", lambda: Runner.run(oa, "Add the numbers, step by step.", max_turns=50)
    except Exception as e:
        yield "openai-agents", f"not available: {type(e).__name__}: {e}"
    try:
        from pydantic_ai import Agent as PAgent
        from pydantic_ai.providers.openai import OpenAIProvider

        try:
            from pydantic_ai.models.openai import OpenAIChatModel as PModel
        except ImportError:
            from pydantic_ai.models.openai import OpenAIModel as PModel
        pa = PAgent(PModel("steps-5", provider=PydanticProvider(OpenAIProvider, client)))
        pa.tool_plain(add)
        yield "pydantic-ai", lambda: pa.run("Add the numbers, step by step.")
    except Exception as e:
        yield "pydantic-ai", f"not available: {type(e).__name__}: {e}"
    try:
        from smolagents import OpenAIServerModel, ToolCallingAgent, tool

        sm = ToolCallingAgent(tools=[tool(add)], model=OpenAIServerModel(model_id="steps-5", api_base=URL, api_key="EMPTY"),
                              max_steps=10, verbosity_level=0)

        async def smol():
            await asyncio.to_thread(sm.run, "Add the numbers, step by step.")

        yield "smolagents ToolCallingAgent", smol
    except Exception as e:
        yield "smolagents ToolCallingAgent", f"not available: {type(e).__name__}: {e}"


def PydanticProvider(cls, client):
    return cls(openai_client=client)


async def main():
    results = {}
    for name, run in contenders():
        if isinstance(run, str):
            results[name] = run
            continue
        try:
            for _ in range(3):
                await run()
            times = []
            for _ in range(RUNS):
                start = time.perf_counter()
                await run()
                times.append((time.perf_counter() - start) / 5)
            results[name] = times
        except Exception as e:
            results[name] = f"failed: {type(e).__name__}: {str(e)[:200]}"
    print(json.dumps(results))


asyncio.run(main())
