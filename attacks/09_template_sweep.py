"""Attack: which real chat templates of agentkit's families (llama.cpp's copies of the released
ones) can a recorded run continue? `continued_ids` raises UserError where rendering the stand-in
alone and with messages after it gives different prefixes: there record=True fails at the second
model call (after the first call's tools ran), not "before any model call".
Cases: new = [tool result]; new = [tool result, user message] (a typed-output retry after tools).
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from transformers import AutoTokenizer

from agentkit import UserError
from agentkit._continued import continued_ids
from agentkit.formats._registry import detect_format
from tools.build_test_models import build_tiny

TEMPLATES = Path.home() / ".cache/agentkit/llama.cpp-0.3.36/src/models/templates"
CALL = {"id": "c1", "type": "function", "function": {"name": "get", "arguments": {"city": "Oslo"}}}
TOOL = {
    "type": "function",
    "function": {
        "name": "get",
        "description": "Get.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def main() -> None:
    path = build_tiny("qwen3", Path(tempfile.mkdtemp()) / "qwen3")
    tok = AutoTokenizer.from_pretrained(path)
    stops = {tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id}
    broken = []
    for file in sorted(TEMPLATES.glob("*.jinja")):
        text = file.read_text()
        if detect_format(text) is None:
            continue
        tok.chat_template = text

        def render(messages, gen, tok=tok):
            return [int(i) for i in tok.apply_chat_template(messages, add_generation_prompt=gen, tokenize=True,
                                                            return_dict=True, tools=[TOOL])["input_ids"]]  # fmt: skip

        for label, new in (("tool", [{"role": "tool", "tool_call_id": "c1", "content": "7"}]),
                           ("tool+user", [{"role": "tool", "tool_call_id": "c1", "content": "7"},
                                          {"role": "user", "content": "again"}])):  # fmt: skip
            try:
                ids = [*render([{"role": "user", "content": "q"}], True), tok.convert_tokens_to_ids("<|im_end|>")]
                continued_ids(render, ids, new, stops)
                verdict = "continues"
            except UserError:
                verdict = "UserError"
                broken.append(f"{file.stem} ({label})")
            except Exception as e:
                verdict = f"template error {type(e).__name__}"
            print(f"  {file.stem:40} {label:10} {verdict}")
    if broken:
        print(f"FOUND: record=True cannot continue a run with these released templates: {broken}")
    else:
        print("OK: every released template of the families continues")


main()
