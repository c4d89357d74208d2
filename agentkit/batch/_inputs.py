"""A batch's inputs: a string, a message list, or a dict with ``id``, ``input``, ``deps`` and run options."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_jsonable_python

from ..exceptions import UserError


@dataclass(kw_only=True)
class Item:
    """One input, taken apart."""

    index: int
    """Its position in the inputs."""
    id: Any
    """Its id (the position when the input gave none)."""
    key: str
    """How ids are compared: an explicit id as JSON (1 and "1" differ), a position as ``#<index>``
    (so that an explicit id 0 and the position 0 are different ids)."""
    by_position: bool
    """Whether the id is the position (the input gave none)."""
    input: str | list[Any]
    """What the agent is asked: a string or a message list."""
    options: dict[str, Any] = field(default_factory=dict)
    """This run's own keyword options (``deps`` among them), over the batch's."""
    sample: int | None = None
    """Which run of the input's group this is (None when the batch runs each input once)."""

    @property
    def slot(self) -> tuple[int, int]:
        """Where its result goes among the batch's: by position, then sample."""
        return self.index, self.sample or 0

    @property
    def digest(self) -> str:
        """SHA-256 of the input and its own options as canonical JSON: on resume, tells whether a
        result in the file was written for this very input. A value JSON cannot hold counts by its
        type name only (its repr may change from one process to the next)."""
        try:
            text = _canonical({"input": self.input, **self.options})
        except (TypeError, ValueError, RecursionError):  # a cycle, keys that do not sort: options by type name
            text = _canonical({"input": self.input, **{k: type(v).__qualname__ for k, v in self.options.items()}})
        return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> str:
    jsonable = to_jsonable_python(value, fallback=lambda v: type(v).__qualname__)
    return json.dumps(jsonable, sort_keys=True, separators=(",", ":"))


def position_key(index: int) -> str:
    """The key of an input whose id is its position."""
    return f"#{index}"


def id_key(id: Any) -> str:
    """An id as the output file spells it; refuses an id JSON cannot hold."""
    try:
        return json.dumps(id, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise UserError(f"id {id!r} cannot be written as JSON: {e}") from None


def item(raw: Any, index: int) -> Item:
    """The input at `index`; a UserError says what is wrong with one that is none of the three forms."""
    if isinstance(raw, str):
        return Item(index=index, id=index, key=position_key(index), by_position=True, input=raw)
    if isinstance(raw, (list, tuple)):
        if not all(isinstance(m, dict) for m in raw):
            raise UserError(f"input {index}: a message list holds only dicts (OpenAI messages)")
        return Item(index=index, id=index, key=position_key(index), by_position=True, input=list(raw))
    if isinstance(raw, dict):
        if "input" not in raw:
            raise UserError(f"input {index}: a dict input needs an 'input' key (and may have 'id' and 'deps')")
        options = {k: v for k, v in raw.items() if k not in ("id", "input")}
        if options.get("deps", 0) is None:
            del options["deps"]  # "deps": null means none, as leaving it out does
        if not isinstance(raw["input"], (str, list, tuple)):
            kind = type(raw["input"]).__name__
            raise UserError(f"input {index}: 'input' is a {kind}, not a string or a message list")
        given = "id" in raw
        key = id_key(raw["id"]) if given else position_key(index)
        return Item(index=index, id=raw["id"] if given else index, key=key, by_position=not given,
                    input=item(raw["input"], index).input, options=options)  # fmt: skip
    raise UserError(f"input {index} is a {type(raw).__name__}: give a string, a message list or a dict with 'input'")
