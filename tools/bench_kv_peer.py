"""smolagents' TransformersModel on the KV benchmark's conversation (run in .bench-venv).

    .bench-venv/bin/python tools/bench_kv_peer.py MODEL_DIR TURNS REPS

Same model, same messages and tools, same 8 new tokens per turn, greedy, as `tools/bench_kv.py`.
Prints one JSON line: per-run lists of per-turn seconds.
"""

import json
import sys
import time

import torch
from smolagents import TransformersModel, tool

sys.path.insert(0, __file__.rsplit("/tools/", 1)[0])
from tools.bench_kv import PARAGRAPH


@tool
def get_current_temperature(location: str, unit: str = "celsius") -> dict:
    """Get current temperature at a location.

    Args:
        location: The location to get the temperature for, in the format "City, State, Country".
        unit: The unit to return the temperature in. Defaults to "celsius".
    """
    return {"temperature": 26.1, "location": location, "unit": unit}


@tool
def get_temperature_date(location: str, date: str, unit: str = "celsius") -> dict:
    """Get temperature at a location and date.

    Args:
        location: The location to get the temperature for, in the format "City, State, Country".
        date: The date to get the temperature for, in the format "Year-Month-Day".
        unit: The unit to return the temperature in. Defaults to "celsius".
    """
    return {"temperature": 25.9, "location": location, "date": date, "unit": unit}


def main() -> None:
    model_dir, turns, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(2)
    model = TransformersModel(model_id=model_dir, device_map="cpu", torch_dtype="float32", max_new_tokens=8,
                              do_sample=False, apply_chat_template_kwargs={"enable_thinking": False})
    tools = [get_current_temperature, get_temperature_date]
    runs = []
    for rep in range(reps + 1):  # the first is a warm-up
        messages = [{"role": "system", "content": [{"type": "text", "text": "You are a helpful travel assistant."}]}]
        latencies = []
        for turn in range(turns):
            messages.append({"role": "user", "content": [{"type": "text", "text": f"Turn {turn}. {PARAGRAPH}"}]})
            start = time.perf_counter()
            out = model.generate(messages, tools_to_call_from=tools)
            latencies.append(time.perf_counter() - start)
            messages.append({"role": "assistant", "content": [{"type": "text", "text": out.content or ""}]})
        if rep:
            runs.append(latencies)
    print(json.dumps(runs))


main()
