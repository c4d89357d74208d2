"""The output file: a JSON line per finished run, flushed at once; on resume, the runs already there."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from ..exceptions import UserError
from ._inputs import id_key
from ._result import BatchResult, from_line, to_line


class Journal:
    """Appends finished runs to `path`; `done` maps the id (as JSON) of each run already written to its result."""

    def __init__(self, path: str | os.PathLike[str], *, resume: bool) -> None:
        self.path = Path(path)
        self.done: dict[str, BatchResult] = {}
        if self.path.exists() and self.path.stat().st_size:
            if not resume:
                raise UserError(f"{self.path} already holds results: pass resume=True to go on with it, or remove it")
            self.done = _read(self.path)
        self._file: IO[str] = self.path.open("a", encoding="utf-8")

    def write(self, result: BatchResult) -> None:
        # Flushed per run: a killed process loses only the runs still in flight.
        self._file.write(json.dumps(to_line(result), ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _read(path: Path) -> dict[str, BatchResult]:
    """The results in `path`; a half-written last line (a process killed mid-write) is cut off the file."""
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1
    lines = data[:complete].decode("utf-8").splitlines()
    done: dict[str, BatchResult] = {}
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            line: Any = json.loads(text)
            if not isinstance(line, dict) or "id" not in line:
                raise ValueError("not an object with an 'id'")
        except ValueError as e:
            raise UserError(f"{path}, line {number}: not a result line ({e}); fix or remove it to resume") from None
        done[id_key(line["id"])] = from_line(line)
    if complete < len(data):
        with path.open("r+b") as f:
            f.truncate(complete)
    return done
