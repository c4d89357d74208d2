"""The Intern-S1 guide's weather bot on agentkit.

    python examples/weather_bot.py                                   # offline, built-in demo model
    python examples/weather_bot.py --base-url http://127.0.0.1:23333/v1   # lmdeploy, vLLM, SGLang...
    python examples/weather_bot.py --model internlm/Intern-S1-mini --thinking
    python examples/weather_bot.py "What's the temperature in Oslo now?"

It streams the model's reasoning, its tool calls, the tools' results and the answer.
The tools return fixed numbers, as in the guide; they touch no network or file.
A run that fails (the server is down, the model never reaches an answer) ends with one line
on stderr and exit status 1; an empty question is refused with exit status 2.
"""

from __future__ import annotations

import argparse
import sys

import anyio

from agentkit import Agent, AgentError, Model
from agentkit._demo.weather import QUESTION, SYSTEM, get_current_temperature, get_temperature_date
from agentkit.cli import EventPrinter


def make_model(args: argparse.Namespace) -> Model:
    if args.base_url:
        from agentkit import RemoteModel

        return RemoteModel(args.base_url)
    from agentkit import LocalModel

    return LocalModel(args.model) if args.model else LocalModel.demo()


async def chat(agent: Agent, question: str, thinking: bool | None) -> str:
    printer = EventPrinter()  # the renderer `agentkit run` uses
    printer.question(question)
    result = await printer.run(agent, question, thinking=thinking)
    return result.output


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description="The Intern-S1 guide's weather bot on agentkit.")
    parser.add_argument("question", nargs="?", default=QUESTION,
                        help="what to ask (the guide's question when left out; an empty question is refused)")  # fmt: skip
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--base-url", help="an OpenAI-compatible server, e.g. http://127.0.0.1:23333/v1")
    source.add_argument("--model", help="a local transformers model id or path, e.g. internlm/Intern-S1-mini")
    parser.add_argument("--thinking", action=argparse.BooleanOptionalAction, default=None,
                        help="think before answering (default: the model's own default)")  # fmt: skip
    args = parser.parse_args(argv)
    if not args.question.strip():
        parser.error("the question is empty: ask about the temperature somewhere, or leave it out for the guide's")
    try:
        agent = Agent(make_model(args), [get_current_temperature, get_temperature_date], system=SYSTEM, max_turns=6)
        return anyio.run(chat, agent, args.question, args.thinking)
    except AgentError as e:  # RunError (the model failed, no answer in max_turns...), UserError
        # One line, not a traceback: what failed is in the message; the transcript is not needed here.
        message = " ".join(str(e).split()) or type(e).__name__
        print(flush=True)  # end the streamed line
        print(f"weather_bot: {type(e).__name__}: {message}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
