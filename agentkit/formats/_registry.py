"""The registry of formats, and recognising a format from a chat template."""

from __future__ import annotations

import json
from dataclasses import replace

from ._auto import AUTO
from ._base import Format
from ._intern_s1 import INTERN_S1
from ._qwen3 import QWEN3
from ._qwen3_coder import QWEN3_CODER
from ._stream import THINK_OPEN

_FORMATS = {f.name: f for f in (INTERN_S1, QWEN3, QWEN3_CODER, AUTO)}
# The servers' parser names too: lmdeploy's interns2-preview, vLLM's and SGLang's qwen3_coder.
_ALIASES = {"interns1": "intern-s1", "intern_s1": "intern-s1", "internlm": "intern-s1",
            "internlm2": "intern-s1", "hermes": "qwen3", "qwen": "qwen3", "qwen2.5": "qwen3",
            "qwen3_coder": "qwen3-coder", "qwen3-xml": "qwen3-coder", "qwen3_xml": "qwen3-coder",
            "interns2-preview": "qwen3-coder", "intern-s2-preview": "qwen3-coder"}  # fmt: skip


def get_format(name: str) -> Format:
    """The format registered as `name` (``"intern-s1"``, ``"qwen3"``, ``"qwen3-coder"``,
    ``"auto"``, or an alias)."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in _FORMATS:
        raise ValueError(f"unknown format {name!r}; known: {', '.join(sorted(_FORMATS))}")
    return _FORMATS[key]


def opens_think(prompt: str) -> bool:
    """Whether a rendered prompt leaves the model inside an open ``<think>`` block."""
    return prompt.rstrip().endswith(THINK_OPEN)


def detect_format(chat_template: str) -> Format | None:
    """The format a chat template's model writes, or None when it is none of the families.

    The returned format's `generation_opens_think` says whether the generation prompt (with
    thinking at its default) opens a think block; None when that could not be rendered.
    """
    fmt: Format
    if "<|action_start|>" in chat_template or "<|plugin|>" in chat_template:
        fmt = INTERN_S1
    elif "<function=" in chat_template and "<parameter=" in chat_template:
        fmt = QWEN3_CODER  # checked before Qwen3: these templates write <tool_call> too
    elif "<tool_call>" in chat_template:
        fmt = QWEN3
    else:
        return None
    return replace(fmt, generation_opens_think=_render_opens_think(chat_template))


def _render_opens_think(chat_template: str) -> bool | None:
    try:
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:  # jinja2 comes with the local extra; without it we cannot tell
        return None

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda v, indent=None, **_: json.dumps(v, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    try:
        prompt = env.from_string(chat_template).render(
            messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True,
            bos_token="", eos_token="",
        )  # fmt: skip
    except Exception:
        return None
    return opens_think(prompt)
