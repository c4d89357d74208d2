"""The parts of a subschema: the subschemas that describe the same value as it does (``allOf``,
``anyOf``, ``oneOf``, ``$ref``, ``$dynamicRef``, ``then``, ``else``, ``dependentSchemas``), and
which of the object keywords in `KEYWORDS` they hold.

Each node a reference leads to is summed up once (`Parts` remembers it), so a schema whose every
property refers to one large ``allOf`` costs its size to walk, not its size squared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import referencing.exceptions

__all__ = ["IF_PATTERNS", "KEYWORDS", "UNRESOLVED", "Parts"]

KEYWORDS = frozenset({"properties", "additionalProperties", "unevaluatedProperties", "patternProperties"})
"""The keywords a summary of parts records (any other is left out: a summary stays small)."""
IF_PATTERNS = "if:patternProperties"
"""In a summary: a part under ``if`` holds ``patternProperties`` (jsonschema's
``unevaluatedProperties`` counts the keys an ``if`` evaluates, matching them with `re`)."""
UNRESOLVED = "unresolved"
"""In a summary: a part's reference does not resolve, or leads too far (what it holds is unknown)."""
_HOPS = 32  # references followed in a row (a longer chain is cut there, as a loop would be)


class Parts:
    """The keywords of `KEYWORDS` a node's parts hold, remembered per node a reference reaches."""

    def __init__(self, resolve: Any) -> None:
        self._resolve = resolve
        self._memo: dict[int, frozenset[str]] = {}
        self._open: set[int] = set()
        self._keep: list[Any] = []  # the nodes remembered, so that no id is reused while self lives

    def keywords(self, node: Any) -> frozenset[str]:
        """What `node` and its parts hold: names of `KEYWORDS`, `IF_PATTERNS` and `UNRESOLVED`."""
        return self._keywords(node, self._resolve, 0)[0]

    def _keywords(self, node: Any, resolve: Any, hops: int) -> tuple[frozenset[str], set[int]]:
        # Returns the summary and the nodes still being summed up that it met (a loop of
        # references): a summary that met one is partial, and remembered only by that node.
        known = self._memo.get(id(node))
        if known is not None:
            return known, set()
        if id(node) in self._open:
            return frozenset(), {id(node)}
        if hops > _HOPS:
            return frozenset({UNRESOLVED}), set()
        self._open.add(id(node))
        found: set[str] = set()
        partial: set[int] = set()
        stack: list[tuple[Any, bool]] = [(node, False)]
        while stack:
            item, under_if = stack.pop()
            if not isinstance(item, Mapping):
                continue
            if under_if:
                if "patternProperties" in item:
                    found.add(IF_PATTERNS)
            else:
                found.update(KEYWORDS.intersection(item))
            for key in ("$ref", "$dynamicRef"):  # jsonschema follows $dynamicRef as a plain reference here
                ref = item.get(key)
                if not isinstance(ref, str):
                    continue
                try:
                    target = resolve.lookup(ref)
                except referencing.exceptions.Unresolvable:
                    found.add(UNRESOLVED)
                    continue
                summary, met = self._keywords(target.contents, target.resolver, hops + 1)
                partial |= met
                if not under_if:
                    found |= summary
                elif "patternProperties" in summary or IF_PATTERNS in summary:
                    found.add(IF_PATTERNS)
            for key in ("allOf", "anyOf", "oneOf"):
                subs = item.get(key)
                if isinstance(subs, list):
                    stack.extend((sub, under_if) for sub in subs)
            stack.extend((item[k], under_if) for k in ("then", "else") if k in item)
            if "if" in item:
                stack.append((item["if"], True))
            if isinstance(item.get("dependentSchemas"), Mapping):
                stack.extend((sub, under_if) for sub in item["dependentSchemas"].values())
        self._open.discard(id(node))
        partial.discard(id(node))
        summary = frozenset(found)
        if not partial:
            self._memo[id(node)] = summary
            self._keep.append(node)
        return summary, partial
