"""Fixed examples from vLLM's own tests of its tool parsers, where our semantics match theirs.

From vllm-project/vllm tests/tool_parsers/test_hermes_tool_parser.py (Qwen3 / hermes) and
test_internlm2_tool_parser.py (InternLM2 / Intern-S1 action blocks): (format, model output,
expected calls as (name, arguments as written), expected content). Their tests compare the
arguments after json.loads; ours keep the text as written, so the expected text is the slice.
"""

from agentkit.formats import INTERN_S1, QWEN3

_IS1 = "<|action_start|><|plugin|>"
VLLM_CASES = [
    (QWEN3, "This is some prior text that has nothing to do with tool calling.", [],
     "This is some prior text that has nothing to do with tool calling."),
    (QWEN3, '<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}}\n</tool_call>',
     [("final_answer", '{"trigger": true}')], ""),
    (QWEN3, '<tool_call>{"name": "get_current_temperature","arguments": {"location":"San Francisco, California, '
     'United States", "unit": "celsius"}}</tool_call>',
     [("get_current_temperature", '{"location":"San Francisco, California, United States", "unit": "celsius"}')], ""),
    (QWEN3, 'Sure, let me check the weather.<tool_call>{"name": "get_weather", "arguments": {"city": "NYC"}}</tool_call>',
     [("get_weather", '{"city": "NYC"}')], "Sure, let me check the weather."),
    (QWEN3, '<tool_call>{"name": "search", "arguments": {"q": "cats"}}</tool_call>'
     '<tool_call>{"name": "search", "arguments": {"q": "dogs"}}</tool_call>',
     [("search", '{"q": "cats"}'), ("search", '{"q": "dogs"}')], ""),
    (QWEN3, '<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}}',  # until EOS
     [("final_answer", '{"trigger": true}')], ""),
    (QWEN3, '<tool_call>\n{"name": "get_db_config", "arguments": "{\\"param\\": \\"max_connections\\"}"}\n</tool_call>',
     [("get_db_config", '{"param": "max_connections"}')], ""),
    (INTERN_S1, "This is a regular response without any tool calls.", [],
     "This is a regular response without any tool calls."),
    (INTERN_S1, _IS1 + '{"name": "get_weather", "parameters": {"city": "Tokyo"}}<|action_end|>',
     [("get_weather", '{"city": "Tokyo"}')], ""),
    (INTERN_S1, _IS1 + '{\n  "name": "test_function",\n  "parameters": {\n    "string_field": "hello",\n'
     '    "int_field": 42,\n    "float_field": 3.14,\n    "bool_field": true,\n    "null_field": null,\n'
     '    "array_field": ["a", "b", "c"],\n    "object_field": {"nested": "value"},\n    "empty_array": [],\n'
     '    "empty_object": {}\n  }\n}<|action_end|>',
     [("test_function", '{\n    "string_field": "hello",\n    "int_field": 42,\n    "float_field": 3.14,\n'
       '    "bool_field": true,\n    "null_field": null,\n    "array_field": ["a", "b", "c"],\n'
       '    "object_field": {"nested": "value"},\n    "empty_array": [],\n    "empty_object": {}\n  }')], ""),
    (INTERN_S1, _IS1 + '{"name": "refresh", "parameters": {}}<|action_end|>', [("refresh", "{}")], ""),
    (INTERN_S1, 'Let me check the weather for you. ' + _IS1 + '{"name": "get_weather", "parameters": {"city": "Tokyo"}}'
     '<|action_end|>', [("get_weather", '{"city": "Tokyo"}')], "Let me check the weather for you."),
    (INTERN_S1, _IS1 + '{\n  "name": "test_function",\n  "parameters": {\n    "quoted": "He said \\"hello\\"",\n'
     '    "path": "C:\\\\Users\\\\file.txt",\n    "newline": "line1\\nline2",\n    "unicode": "emoji: 🎉"\n  }\n}'
     '<|action_end|>',
     [("test_function", '{\n    "quoted": "He said \\"hello\\"",\n    "path": "C:\\\\Users\\\\file.txt",\n'
       '    "newline": "line1\\nline2",\n    "unicode": "emoji: 🎉"\n  }')], ""),
]  # fmt: skip
# vLLM's malformed internlm2 inputs give no call there; here they are errors, kept raw. (Its fifth,
# an action block without <|plugin|>, is a call here: the marker is optional, as in lmdeploy.)
VLLM_MALFORMED = [
    _IS1 + '{"name": "func", "parameters": {',
    _IS1 + '{"name": "func", "parameters": "not a dict"}<|action_end|>',
    _IS1 + "not json<|action_end|>",
    _IS1,
    '<tool_call>\n{"name": "final_answer", "arguments": {"trigger": true}',
]
