"""Chat templates written by us that reproduce the Intern-S1 and Qwen3 formats.

Used by the models that `tools/` builds (the demo model, the tiny test models). They follow
the real templates' conventions: ChatML turns; Intern-S1 describes tools in a
``system name=<|plugin|>`` turn, writes calls as ``<|action_start|><|plugin|>{json}<|action_end|>``
and gets results in ``environment name=<|plugin|>`` turns; Qwen3 lists tools in ``<tools>`` in
the system turn, writes ``<tool_call>`` blocks and gets ``<tool_response>`` blocks in a user
turn. Reasoning of assistant turns before the last user message is dropped, as both do.
"""

_COMMON_HEAD = r"""
{%- set ns = namespace(last_user=-1) -%}
{%- for m in messages -%}{%- if m.role == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}{%- endfor -%}
"""

_ARGS = r"""{%- if f.arguments is string -%}{%- set args = f.arguments -%}{%- else -%}{%- set args = f.arguments | tojson -%}{%- endif -%}"""

INTERN_S1 = (
    _COMMON_HEAD
    + r"""
{%- set thinking = enable_thinking if enable_thinking is defined else default_thinking|default(true) -%}
{%- set start = 0 -%}
{%- if messages and messages[0].role == 'system' -%}
{{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' -}}
{%- set start = 1 -%}
{%- endif -%}
{%- if tools -%}
{{- '<|im_start|>system name=<|plugin|>\n' + (tools | tojson) + '<|im_end|>\n' -}}
{%- endif -%}
{%- for m in messages[start:] -%}
{%- set i = loop.index0 + start -%}
{%- if m.role == 'user' or m.role == 'system' -%}
{%- if m.content is string -%}{%- set text = m.content -%}{%- else -%}
{%- set text = namespace(v='') -%}{%- for p in m.content -%}{%- if p.type == 'text' -%}{%- set text.v = text.v + p.text -%}{%- elif p.type == 'image' -%}{%- set text.v = text.v + '<IMG_CONTEXT>' -%}{%- elif p.type == 'video' -%}{%- set text.v = text.v + '<VIDEO_CONTEXT>' -%}{%- endif -%}{%- endfor -%}{%- set text = text.v -%}
{%- endif -%}
{{- '<|im_start|>' + m.role + '\n' + text + '<|im_end|>\n' -}}
{%- elif m.role == 'assistant' -%}
{{- '<|im_start|>assistant\n' -}}
{%- if m.reasoning_content and i > ns.last_user -%}{{- '<think>\n' + m.reasoning_content + '\n</think>\n\n' -}}{%- endif -%}
{{- m.content or '' -}}
{%- for tc in m.tool_calls or [] -%}
{%- set f = tc.function if tc.function is defined else tc -%}
"""
    + _ARGS
    + r"""
{{- '<|action_start|><|plugin|>\n{"name": "' + f.name + '", "parameters": ' + args + '}<|action_end|>' -}}
{%- endfor -%}
{{- '<|im_end|>\n' -}}
{%- elif m.role == 'tool' -%}
{{- '<|im_start|>environment name=<|plugin|>\n' + m.content + '<|im_end|>\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|im_start|>assistant\n' -}}
{%- if thinking -%}{{- '<think>\n' -}}{%- endif -%}
{%- endif -%}
"""
)

QWEN3 = (
    _COMMON_HEAD
    + r"""
{%- if tools -%}
{{- '<|im_start|>system\n' -}}
{%- if messages and messages[0].role == 'system' -%}{{- messages[0].content + '\n\n' -}}{%- endif -%}
{{- '# Tools\n\nYou may call one or more functions to assist with the user query.\n\n<tools>' -}}
{%- for t in tools -%}{{- '\n' + (t | tojson) -}}{%- endfor -%}
{{- '\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' -}}
{%- elif messages and messages[0].role == 'system' -%}
{{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' -}}
{%- endif -%}
{%- for m in messages -%}
{%- set i = loop.index0 -%}
{%- if m.role == 'user' or (m.role == 'system' and i > 0) -%}
{%- if m.content is string -%}{%- set text = m.content -%}{%- else -%}
{%- set text = namespace(v='') -%}{%- for p in m.content -%}{%- if p.type == 'text' -%}{%- set text.v = text.v + p.text -%}{%- elif p.type == 'image' -%}{%- set text.v = text.v + '<|vision_start|><|image_pad|><|vision_end|>' -%}{%- endif -%}{%- endfor -%}{%- set text = text.v -%}
{%- endif -%}
{{- '<|im_start|>' + m.role + '\n' + text + '<|im_end|>\n' -}}
{%- elif m.role == 'assistant' -%}
{{- '<|im_start|>assistant\n' -}}
{%- if m.reasoning_content and i > ns.last_user -%}{{- '<think>\n' + m.reasoning_content + '\n</think>\n\n' -}}{%- endif -%}
{{- m.content or '' -}}
{%- for tc in m.tool_calls or [] -%}
{%- set f = tc.function if tc.function is defined else tc -%}
"""
    + _ARGS
    + r"""
{%- if loop.first and m.content -%}{{- '\n' -}}{%- endif -%}
{{- '<tool_call>\n{"name": "' + f.name + '", "arguments": ' + args + '}\n</tool_call>' -}}
{%- endfor -%}
{{- '<|im_end|>\n' -}}
{%- elif m.role == 'tool' -%}
{%- if i == 0 or messages[i - 1].role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}
{{- '\n<tool_response>\n' + m.content + '\n</tool_response>' -}}
{%- if loop.last or messages[i + 1].role != 'tool' -%}{{- '<|im_end|>\n' -}}{%- endif -%}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|im_start|>assistant\n' -}}
{%- if enable_thinking is defined and enable_thinking is false -%}{{- '<think>\n\n</think>\n\n' -}}{%- endif -%}
{%- endif -%}
"""
)

# Qwen3-Coder's template (also the form of Qwen3.5 and Intern-S2-Preview): tools described in
# XML in the system turn, calls written as <tool_call><function=NAME><parameter=KEY>VALUE
# </parameter></function></tool_call> (strings as they are, objects and arrays as JSON, other
# values as text), results in <tool_response> blocks of one user turn. It has no thinking switch.
QWEN3_CODER = r"""
{%- if messages and messages[0].role == 'system' -%}{%- set system_message = messages[0].content -%}{%- set loop_messages = messages[1:] -%}
{%- else -%}{%- set loop_messages = messages -%}{%- endif -%}
{%- if system_message is defined -%}{{- '<|im_start|>system\n' + system_message -}}
{%- elif tools -%}{{- '<|im_start|>system\nYou are Qwen, a helpful AI assistant that can interact with a computer to solve tasks.' -}}{%- endif -%}
{%- if tools -%}
{{- '\n\nYou have access to the following functions:\n\n<tools>' -}}
{%- for t in tools -%}
{%- set t = t.function if t.function is defined else t -%}
{{- '\n<function>\n<name>' + t.name + '</name>\n<description>' + (t.description or '') | trim + '</description>\n<parameters>' -}}
{%- for pname, pfields in (t.parameters.properties or {}).items() -%}
{{- '\n<parameter>\n<name>' + pname + '</name>' -}}
{%- if pfields.type is defined -%}{{- '\n<type>' + (pfields.type | string) + '</type>' -}}{%- endif -%}
{%- if pfields.description is defined -%}{{- '\n<description>' + (pfields.description | trim) + '</description>' -}}{%- endif -%}
{{- '\n</parameter>' -}}
{%- endfor -%}
{%- if t.parameters.required -%}{{- '\n<required>' + (t.parameters.required | tojson) + '</required>' -}}{%- endif -%}
{{- '\n</parameters>\n</function>' -}}
{%- endfor -%}
{{- '\n</tools>\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:\n\n<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n</parameter>\n<parameter=example_parameter_2>\nThis is the value for the second parameter\nthat can span\nmultiple lines\n</parameter>\n</function>\n</tool_call>\n\n<IMPORTANT>\nReminder:\n- Function calls MUST follow the specified format: an inner <function=...></function> block must be nested within <tool_call></tool_call> XML tags\n- Required parameters MUST be specified\n- You may provide optional reasoning for your function call in natural language BEFORE the function call, but NOT after\n- If there is no function call available, answer the question like normal with your current knowledge and do not tell the user about function calls\n</IMPORTANT>' -}}
{%- endif -%}
{%- if system_message is defined or tools -%}{{- '<|im_end|>\n' -}}{%- endif -%}
{%- for m in loop_messages -%}
{%- if m.role == 'assistant' and m.tool_calls -%}
{{- '<|im_start|>assistant' -}}
{%- if m.content is string and m.content | trim -%}{{- '\n' + m.content | trim + '\n' -}}{%- endif -%}
{%- for tc in m.tool_calls -%}
{%- set f = tc.function if tc.function is defined else tc -%}
{{- '\n<tool_call>\n<function=' + f.name + '>\n' -}}
{%- if f.arguments is mapping -%}
{%- for key, value in f.arguments.items() -%}
{{- '<parameter=' + key + '>\n' -}}
{%- if value is mapping or (value is sequence and value is not string) -%}{{- value | tojson -}}{%- else -%}{{- value | string -}}{%- endif -%}
{{- '\n</parameter>\n' -}}
{%- endfor -%}
{%- endif -%}
{{- '</function>\n</tool_call>' -}}
{%- endfor -%}
{{- '<|im_end|>\n' -}}
{%- elif m.role == 'tool' -%}
{%- if loop.first or loop.previtem.role != 'tool' -%}{{- '<|im_start|>user\n' -}}{%- endif -%}
{{- '<tool_response>\n' + m.content + '\n</tool_response>\n' -}}
{%- if loop.last or loop.nextitem.role != 'tool' -%}{{- '<|im_end|>\n' -}}{%- endif -%}
{%- else -%}
{%- if m.content is string -%}{%- set text = m.content -%}{%- else -%}
{%- set text = namespace(v='') -%}{%- for p in m.content or [] -%}{%- if p.type == 'text' -%}{%- set text.v = text.v + p.text -%}{%- endif -%}{%- endfor -%}{%- set text = text.v -%}
{%- endif -%}
{{- '<|im_start|>' + m.role + '\n' + (text or '') + '<|im_end|>\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}
"""

TEMPLATES = {"intern-s1": INTERN_S1, "qwen3": QWEN3, "qwen3-coder": QWEN3_CODER}

SPECIAL_TOKENS = {
    "intern-s1": ["<|im_start|>", "<|im_end|>", "<|action_start|>", "<|action_end|>", "<|plugin|>"],
    "qwen3": ["<|im_start|>", "<|im_end|>"],
    "qwen3-coder": ["<|im_start|>", "<|im_end|>"],
}
# Added as whole tokens but not "special": they are text the model writes and reads.
TEXT_TOKENS = {
    "intern-s1": ["<think>", "</think>"],
    "qwen3": ["<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"],
    "qwen3-coder": ["<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"],
}
