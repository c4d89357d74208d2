"""Attack: record=True with the REAL Qwen3 chat template (llama.cpp's copy of Qwen/Qwen3-0.6B's).

The tests use tools/_templates.py's hand-written "qwen3" template. The real one renders the last
assistant turn after the last user query with an (empty) think block `<think>\n\n</think>\n\n`
when it is `loop.last`, and without it when messages follow. `continued_ids` renders the
stand-in [system, user, assistant] alone (assistant last) and then with the new messages after it:
the prefixes differ, so every recorded call after the first fails.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tempfile

import torch

from agentkit import Agent, LocalModel, Sampling, UserError
from tools.build_test_models import build_tiny

TEMPLATES = Path.home() / ".cache/agentkit/llama.cpp-0.3.36/src/models/templates"


def main() -> None:
    path = build_tiny("qwen3", Path(tempfile.mkdtemp()) / "qwen3")
    found = []
    for name in ("Qwen-Qwen3-0.6B.jinja", "Qwen-QwQ-32B.jinja", "Qwen3.5-4B.jinja", "Qwen-Qwen2.5-7B-Instruct.jinja"):
        template = (TEMPLATES / name).read_text()
        model = LocalModel(
            path, sampling=Sampling(temperature=0, max_tokens=16), device_map=None, dtype=torch.float32, batching=False
        )
        model.tokenizer.chat_template = template
        if hasattr(model.processor, "chat_template"):
            model.processor.chat_template = template
        from tests.test_agent import get_current_temperature

        choice = lambda turn: "required" if turn < 1 else "none"  # noqa: E731
        agent = Agent(model, [get_current_temperature], tool_choice=choice, max_turns=3)
        plain = None
        try:
            plain = agent.run_sync("What is the temperature in Paris?")
        except Exception as e:
            plain = f"{type(e).__name__}: {e}"
        try:
            result = agent.run_sync("What is the temperature in Paris?", record=True)
            print(
                f"  {name}: recorded ok, {len(result.trajectory.turn_starts)} calls; plain run turns="
                f"{getattr(plain, 'turns', plain)}"
            )
        except UserError as e:
            found.append(name)
            print(f"  {name}: recorded run FAILS: UserError: {e}; plain run: turns={getattr(plain, 'turns', plain)}")
    if found:
        print(f"FOUND: record=True cannot continue past the first model call with the real templates {found}")
    else:
        print("OK: the real Qwen-family templates continue")


main()
