"""The output file: a JSON line per finished run, written at once; on resume, the runs already there."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from ..exceptions import AgentError, UserError
from ._inputs import Item, id_key, position_key
from ._result import BatchResult, describe, from_line, to_line

_SHOWN = 10
"""How many unwritten ids an `OutputFileError`'s message names."""


class OutputFileError(AgentError):
    """Some results could not be written to the output file (a full disk, say); every run finished.

    Raised once, after the batch: `results` holds every result in input order, as `run_many`
    would have returned them; `unwritten` the ids whose line is not in the file (a resume runs
    those again). Its ``__cause__`` is the first write's error."""

    def __init__(self, message: str, *, results: list[BatchResult], unwritten: list[Any]) -> None:
        super().__init__(message)
        self.results = results
        """Every result of the batch, in input order."""
        self.unwritten = unwritten
        """The ids of the results that are not in the file, in input order (``(id, sample)`` pairs
        when the batch runs groups)."""


class _Skipped(Exception):
    """A line not tried: the file holds a fragment it could not take back."""


class Journal:
    """Appends finished runs to `path`; on resume, `previous` finds the result already written for an input."""

    def __init__(self, path: str | os.PathLike[str], *, resume: bool, scored: bool = False) -> None:
        self.path = Path(path)
        self._scored = scored
        self._done: dict[tuple[str, int], tuple[BatchResult, str | None]] = {}
        self.count = 0
        """How many results the file held when the batch started."""
        self._unwritten: list[tuple[tuple[int, int], Any]] = []
        self._first_error: BaseException | None = None
        self._written = 0
        self._broken = False
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            _lock(self._fd, self.path)
            if os.fstat(self._fd).st_size:
                if not resume:
                    raise UserError(f"{self.path} already holds results: pass resume=True to go on with it,"
                                    " or remove it")  # fmt: skip
                self._done, self.count = _read(self.path)
        except BaseException:
            os.close(self._fd)
            raise

    def previous(self, it: Item) -> BatchResult | None:
        """The result the file holds for `it`'s id and sample, or None; a UserError when it was written
        for another input. (A line without a sample is sample 0: a group can grow on resume.)"""
        found = self._done.get((it.key, it.sample or 0))
        if found is None:
            return None
        result, digest = found
        if digest is not None and digest != it.digest:
            hint = " (an id by position follows the order of the inputs: give each input an 'id')"
            raise UserError(f"input {it.index}: {self.path} holds a result for id {it.id!r} of a different input"
                            f"{hint if it.by_position else ''}; write to a new output file, or remove that line"
                            " to run the input again")  # fmt: skip
        return result

    def write(self, it: Item, result: BatchResult) -> None:
        """Append `result`'s line. Never raises: a line that cannot be written is reported by `failure`."""
        self._written += 1
        try:
            if self._broken:  # the first error, already kept, says why
                raise _Skipped
            line = {**to_line(result, scored=self._scored), "id_from_position": it.by_position,
                    "input_sha256": it.digest}  # fmt: skip
            self._append(_encode(line))
        except Exception as e:
            self._unwritten.append((it.slot, result.id if it.sample is None else (result.id, it.sample)))
            self._first_error = self._first_error or e

    def _append(self, data: bytes) -> None:
        # Unbuffered: the line is in the file (or not at all) when this returns; a killed process
        # loses only the runs still in flight.
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except BaseException:
            # A short write (the disk filled up mid-line) leaves part of a line: take it back, so
            # that the next line does not follow it. If that fails, write no more.
            try:
                if os.fstat(self._fd).st_size != start:
                    os.ftruncate(self._fd, start)
            except OSError:
                self._broken = True
            raise

    def _ids(self) -> list[Any]:
        return [id for _, id in sorted(self._unwritten, key=lambda pair: pair[0])]

    def problem(self) -> str | None:
        """None when every line was written; otherwise which were not, and the first error."""
        if self._first_error is None:
            return None
        unwritten = self._ids()
        more = len(unwritten) - _SHOWN
        shown = ", ".join(map(repr, unwritten[:_SHOWN])) + (f" and {more} more" if more > 0 else "")
        return (f"{self.path}: {len(unwritten)} of {self._written} results could not be written"
                f" ({describe(self._first_error)}); ids {shown}")  # fmt: skip

    def failure(self, results: list[BatchResult]) -> OutputFileError | None:
        """None when every line was written; otherwise the error to raise, holding `results`."""
        problem = self.problem()
        if problem is None:
            return None
        text = f"{problem}. Every result is in the error's .results; a resume runs these again"
        error = OutputFileError(text, results=results, unwritten=self._ids())
        error.__cause__ = self._first_error
        return error

    def close(self) -> None:
        os.close(self._fd)


def _lock(fd: int, path: Path) -> None:
    """Hold the file for this batch: two batches resuming one file at once would both run the
    inputs it lacks. (Released when the file is closed; a file system without locks goes unlocked.)"""
    if sys.platform == "win32" or not stat.S_ISREG(os.fstat(fd).st_mode):
        return
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UserError(f"{path} is being written by another batch (in this process or another): wait for it to end,"
                        " or write to another file") from None  # fmt: skip
    except OSError:
        pass


def _encode(line: dict[str, Any]) -> bytes:
    """The line as UTF-8; a string UTF-8 cannot hold (a lone surrogate) makes it ASCII with
    escapes, which JSON reads back as the same string."""
    try:
        return (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(line) + "\n").encode("ascii")


def _read(path: Path) -> tuple[dict[tuple[str, int], tuple[BatchResult, str | None]], int]:
    """The results in `path` by key and sample, with their input's digest (None in a file written
    before digests), and how many; a half-written last line (a process killed mid-write) is cut off."""
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1
    lines = data[:complete].decode("utf-8").splitlines()
    done: dict[tuple[str, int], tuple[BatchResult, str | None]] = {}
    ids: set[tuple[str, int]] = set()
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            line: Any = json.loads(text)
            if not isinstance(line, dict) or "id" not in line:
                raise ValueError("not an object with an 'id'")
            sample = line.get("sample") or 0
            if not isinstance(sample, int) or isinstance(sample, bool) or sample < 0:
                raise ValueError(f"'sample' is {sample!r}, not a run's number in its group")
        except ValueError as e:
            raise UserError(f"{path}, line {number}: not a result line ({e}); fix or remove it to resume") from None
        found = (from_line(line), line.get("input_sha256"))
        id, by_position = line["id"], line.get("id_from_position")
        keys = [position_key(id) if by_position is True else id_key(id)]
        if by_position is None and type(id) is int:
            keys.append(position_key(id))  # a line from before the mark: its int id may be a position
        for key in keys:
            done[key, sample] = found
        ids.add((keys[0], sample))
    if complete < len(data):
        with path.open("r+b") as f:
            f.truncate(complete)
    return done, len(ids)
