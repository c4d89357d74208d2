"""JSON-schema constrained decoding for `LocalModel`: ``response_format`` as a grammar (xgrammar)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from .exceptions import UserError

__all__ = ["JsonConstraint", "schema_of"]

GRAMMAR_EXTRA = "pip install 'agentkit[grammar]'"


def schema_of(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema a ``response_format`` asks for ({} for any JSON object; None for text)."""
    if not isinstance(response_format, Mapping):
        raise UserError(f"response_format must be a dict, not {type(response_format).__name__}")
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise UserError("response_format of type 'json_schema' needs {'json_schema': {'schema': {...}}}")
        return dict(schema)
    raise UserError(f"response_format type must be 'text', 'json_object' or 'json_schema', not {kind!r}")


class JsonConstraint:
    """Compiles schemas for one tokenizer (once per schema) into logits processors for `generate`."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_ids: set[int]) -> None:
        try:
            import xgrammar
        except ImportError as e:
            raise UserError(f"response_format on a LocalModel needs xgrammar: {GRAMMAR_EXTRA} ({e})") from e
        self._xgr = xgrammar
        # The model's vocabulary can be larger than the tokenizer's (padding rows).
        info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        self._compiler = xgrammar.GrammarCompiler(info)
        self._compiled: dict[str, Any] = {}
        self._lock = threading.Lock()
        # A grammar sees a marker token (a tool call's, a thought's) as its text, which a JSON
        # string may hold; the backend's parser would read it as markup. None may be written.
        added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        self._markers = sorted(i for i in added if isinstance(i, int) and i not in stop_ids and i < vocab_size)

    def processors(self, schema: dict[str, Any]) -> list[Any]:
        """Fresh logits processors for one `generate` call (xgrammar's are single-use)."""
        from xgrammar.contrib.hf import LogitsProcessor

        key = json.dumps(schema, sort_keys=True)  # the cache key; the grammar keeps the declared order
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is None:
                # Compact JSON: with free whitespace a small model can spend its budget on it.
                compiled = self._compiler.compile_json_schema(json.dumps(schema) if schema else '{"type": "object"}',
                                                              any_whitespace=False)  # fmt: skip
                self._compiled[key] = compiled
        return [_Forbid(self._markers), LogitsProcessor(compiled)] if self._markers else [LogitsProcessor(compiled)]


class _Forbid:
    """A logits processor that rules out some tokens."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        scores[:, self.ids] = float("-inf")
        return scores
