"""A batch's inputs: a string, a message list, or a dict with ``id``, ``input``, ``deps`` and run options."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import UserError


@dataclass(kw_only=True)
class Item:
    """One input, taken apart."""

    index: int
    """Its position in the inputs."""
    id: Any
    """Its id (the position when the input gave none)."""
    key: str
    """The id as JSON: how ids are compared (1 and "1" are different ids)."""
    input: str | list[Any]
    """What the agent is asked: a string or a message list."""
    options: dict[str, Any] = field(default_factory=dict)
    """This run's own keyword options (``deps`` among them), over the batch's."""


def id_key(id: Any) -> str:
    """An id as the output file spells it; refuses an id JSON cannot hold."""
    try:
        return json.dumps(id, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise UserError(f"id {id!r} cannot be written as JSON: {e}") from None


def item(raw: Any, index: int) -> Item:
    """The input at `index`; a UserError says what is wrong with one that is none of the three forms."""
    if isinstance(raw, str):
        return Item(index=index, id=index, key=str(index), input=raw)
    if isinstance(raw, (list, tuple)):
        if not all(isinstance(m, dict) for m in raw):
            raise UserError(f"input {index}: a message list holds only dicts (OpenAI messages)")
        return Item(index=index, id=index, key=str(index), input=list(raw))
    if isinstance(raw, dict):
        if "input" not in raw:
            raise UserError(f"input {index}: a dict input needs an 'input' key (and may have 'id' and 'deps')")
        options = {k: v for k, v in raw.items() if k not in ("id", "input")}
        if options.get("deps", 0) is None:
            del options["deps"]  # "deps": null means none, as leaving it out does
        if not isinstance(raw["input"], (str, list, tuple)):
            kind = type(raw["input"]).__name__
            raise UserError(f"input {index}: 'input' is a {kind}, not a string or a message list")
        id = raw.get("id", index)
        return Item(index=index, id=id, key=id_key(id), input=item(raw["input"], index).input, options=options)
    raise UserError(f"input {index} is a {type(raw).__name__}: give a string, a message list or a dict with 'input'")
