"""Output formats of the model families: split raw text into reasoning, content and tool calls.

``get_format("intern-s1")`` / ``get_format("qwen3")`` / ``get_format("qwen3-coder")``, or
`detect_format` from a chat template.
Each format parses a whole message (`Format.parse`) or a stream (`Format.stream_parser`), and
renders tool calls and results back into its text form. One private module per family
(`_intern_s1`, `_qwen3`, `_qwen3_coder`, and `_auto` for all of them at once), the shared
`Format` (`_base`), the stream parser (`_stream`, `_scan`) and the registry (`_registry`); this
module only re-exports.
"""

from .._events import (
    MalformedCall,
    ParseEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallArgsDelta,
    ToolCallMalformed,
    ToolCallOpened,
    ToolCallReady,
)
from ._auto import AUTO
from ._base import Format
from ._intern_s1 import INTERN_S1
from ._qwen3 import QWEN3
from ._qwen3_coder import QWEN3_CODER
from ._registry import detect_format, get_format, opens_think
from ._stream import ParsedOutput, StreamParser, new_call_id

__all__ = [
    "AUTO",
    "INTERN_S1",
    "QWEN3",
    "QWEN3_CODER",
    "Format",
    "MalformedCall",
    "ParseEvent",
    "ParsedOutput",
    "ReasoningDelta",
    "StreamParser",
    "TextDelta",
    "ToolCall",
    "ToolCallArgsDelta",
    "ToolCallMalformed",
    "ToolCallOpened",
    "ToolCallReady",
    "detect_format",
    "get_format",
    "new_call_id",
    "opens_think",
]
