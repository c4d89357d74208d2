"""Types declared under `from __future__ import annotations`: their field hints are strings.

`typing.get_type_hints` evaluates those strings anew on every call, so the hint objects of a
nested dataclass / TypedDict field are fresh each time and freed soon after (issue 11, item 1).
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import TypedDict


@dataclasses.dataclass
class Pair:
    """Two unions whose members are each other's look-alikes."""

    a: list[int] | dict[str, int]
    b: dict[str, str] | list[str]


class Shape(TypedDict):
    """A TypedDict with a union field."""

    v: list[int] | dict[str, int]
    at: datetime.date | int
