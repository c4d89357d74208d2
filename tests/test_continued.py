"""Token-in/token-out's continuation (`_continued.py`) with the real chat templates that render the
last assistant turn differently from an earlier one (tests/data/templates, copied from llama.cpp)."""

from pathlib import Path

import pytest

from agentkit import UserError
from agentkit._continued import check_continues, continued_ids
from tests.test_recording import TOLERANCE, Spy, check_shape, forced_logprob_gap, looping_agent, tiny
from tools.build_test_models import build_tiny

torch = pytest.importorskip("torch")

TEMPLATES = Path(__file__).parent / "data" / "templates"


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return build_tiny("qwen3", tmp_path_factory.mktemp("cont") / "qwen3")


def with_template(path, name: str, **kw):
    model = tiny(path, **kw)
    template = (TEMPLATES / name).read_text()
    model.tokenizer.chat_template = template
    if hasattr(model.processor, "chat_template"):
        model.processor.chat_template = template
    return model


class ProbedSpy(Spy):
    """A Spy that lets the run probe the model's template first, as it does a LocalModel's."""

    def check_recording(self):
        self.inner.check_recording()


def renderer(model):
    def render(conversation, generation_prompt):
        out = model.tokenizer.apply_chat_template(conversation, add_generation_prompt=generation_prompt,
                                                  tokenize=True, return_dict=True)  # fmt: skip
        return [int(t) for t in out["input_ids"]]

    return render


def test_the_real_qwen3_template_records_runs_of_four_calls_token_exact(tiny_path):
    model = with_template(tiny_path, "Qwen-Qwen3-0.6B.jinja", batching=False)
    spy = ProbedSpy(model)
    result = looping_agent(spy).run_sync("hi", record=True)
    t = result.trajectory
    assert result.turns == 4
    check_shape(t, result)
    for prompt, start in zip(spy.prompts, t.turn_starts, strict=True):
        assert prompt == t.prompt_ids + t.response_ids[:start]
    assert forced_logprob_gap(model, t) < TOLERANCE
    # Between two calls the model is fed the turn's closing newline, the tool's answer and the
    # generation prompt, as the template writes them after an assistant turn that is not the last.
    start, end = t.turn_starts[0], t.turn_starts[1]
    fed = [i for i, m in zip(t.response_ids[start:end], t.response_mask[start:end], strict=True) if not m]
    text = model.tokenizer.decode(fed)
    # (the first response was cut at max_tokens: its turn is closed with <|im_end|> first)
    assert text.removeprefix("<|im_end|>").startswith("\n<|im_start|>user\n<tool_response>\n")
    assert "</tool_response><|im_end|>\n<|im_start|>assistant\n" in text


@pytest.mark.parametrize("name", ["Qwen-Qwen3-0.6B.jinja", "Qwen3.5-4B.jinja"])
def test_a_tool_answer_then_a_user_message_continues_with_the_real_templates(tiny_path, name):
    model = with_template(tiny_path, name)
    render, stops = renderer(model), model._eos
    ids = render([{"role": "user", "content": "hi"}], True) + model.tokenizer.encode("ok") + [min(stops)]
    im_end = model.tokenizer.convert_tokens_to_ids("<|im_end|>")
    ids[-1] = im_end
    new = [{"role": "tool", "tool_call_id": "c", "content": "42"}, {"role": "user", "content": "again"}]
    out = continued_ids(render, ids, new, stops)
    assert out[: len(ids)] == ids
    text = model.tokenizer.decode(out[len(ids) :])
    assert text.startswith("\n<|im_start|>user\n<tool_response>\n42\n</tool_response>")
    assert "<|im_start|>user\nagain<|im_end|>\n<|im_start|>assistant\n" in text
    cut = continued_ids(render, ids[:-1], new, stops)  # a response cut at max_tokens: its turn is closed first
    assert cut == out


def test_a_template_that_cannot_continue_fails_before_any_model_call(tiny_path):
    model = tiny(tiny_path, batching=False)
    template = model.tokenizer.chat_template
    refuses = "{% if messages|length > 3 %}{{ raise_exception('one question only') }}{% endif %}" + template
    model.tokenizer.chat_template = refuses
    if hasattr(model.processor, "chat_template"):
        model.processor.chat_template = refuses
    spy = ProbedSpy(model)
    with pytest.raises(UserError, match="cannot render a recorded run's new messages"):
        looping_agent(spy).run_sync("hi", record=True)
    assert spy.prompts == []


def test_check_continues_refuses_a_template_whose_turns_end_in_no_stop_token_and_change():
    def render(conversation, generation_prompt):
        # The last message is rendered with a marker it loses when messages follow it.
        text = "".join(f"[{m['role']}]{m['content']}" for m in conversation)
        return [ord(c) for c in text + ("!" if conversation[-1]["role"] == "assistant" else "")]

    with pytest.raises(UserError, match="closes the assistant's turn differently"):
        check_continues(render, stops=set())
