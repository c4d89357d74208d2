"""Recorded runs as a trainer's rows: verl, SkyRL and slime rollouts, and SFT data (TRL).

    results = read_runs("runs.jsonl")            # what run_many(..., record=True, output=...) wrote
    write(results, "rollouts.parquet")           # verl's AgentLoopOutput fields; JSONL for any other suffix
    write(results, "sft.jsonl", view="sft")      # messages, input_ids, assistant_masks

Each row comes from one run's `Trajectory`, token for token: nothing is tokenized again. A
result without a trajectory (not recorded) gives no row, nor (unless ``failed=True``) one with an
`error`: a failed run, or one whose reward failed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._trajectory import Trajectory
from .batch._result import BatchResult, from_line
from .exceptions import UserError

__all__ = ["VIEWS", "read_runs", "rows", "write"]

VIEWS = ("verl", "skyrl", "slime", "sft")
"""The row shapes `rows` and `write` know, by the trainer whose field names they use."""


def rows(results: Iterable[BatchResult], *, view: str = "verl", failed: bool = False) -> list[dict[str, Any]]:
    """One row per result that has a trajectory, in `view`'s field names (see `VIEWS` and docs/trajectories.md).
    A result with an `error` (the run failed, or its reward did: no reward to train on) gives a row
    only with ``failed=True``.

    ``"verl"``: verl's ``AgentLoopOutput`` (``prompt_ids``, ``response_ids``, ``response_mask``,
    ``response_logprobs``, ``reward_score``, ``num_turns``) with ``uid``, the group verl's GRPO
    advantage groups by, and ``sample``. ``"skyrl"``: SkyRL's ``TrajectoryOutput`` (``prompt_ids``,
    ``response_ids``, ``loss_mask``, ``rollout_logprobs``, ``reward``, ``stop_reason``) with
    ``trajectory_id`` (``instance_id``, ``repetition_id``). ``"slime"``: slime's ``Sample``
    (``group_index``, ``index``, ``prompt``, ``tokens``, ``response_length``, ``loss_mask``,
    ``rollout_log_probs``, ``reward``, ``status``). ``"sft"``: ``messages``, ``input_ids`` and
    ``assistant_masks`` (1 for a token the model generated), as TRL's SFT collator reads them.
    """
    if view not in VIEWS:
        raise UserError(f"view must be one of {', '.join(map(repr, VIEWS))}, not {view!r}")
    out: list[dict[str, Any]] = []
    groups: dict[str, int] = {}
    for result in results:
        trajectory = result.trajectory
        if trajectory is None or (result.error is not None and not failed):
            continue
        _check(result, trajectory)
        uid = _uid(result.id if result.group is None else result.group)
        reward = result.reward if result.reward is not None else trajectory.reward
        sample = result.sample or 0
        if view == "verl":
            out.append({"uid": uid, "sample": sample, "prompt_ids": trajectory.prompt_ids,
                        "response_ids": trajectory.response_ids, "response_mask": trajectory.response_mask,
                        "response_logprobs": trajectory.response_logprobs, "reward_score": reward,
                        "num_turns": len(result.messages)})  # fmt: skip
        elif view == "skyrl":
            out.append({"trajectory_id": {"instance_id": uid, "repetition_id": sample},
                        "prompt_ids": trajectory.prompt_ids, "response_ids": trajectory.response_ids,
                        "loss_mask": trajectory.response_mask, "rollout_logprobs": trajectory.response_logprobs,
                        "reward": reward, "stop_reason": _last(trajectory)})  # fmt: skip
        elif view == "slime":
            out.append({"group_index": groups.setdefault(uid, len(groups)), "index": len(out),
                        "prompt": _prompt(result.messages), "tokens": trajectory.prompt_ids + trajectory.response_ids,
                        "response_length": len(trajectory.response_ids), "loss_mask": trajectory.response_mask,
                        "rollout_log_probs": trajectory.response_logprobs, "reward": reward,
                        "status": "truncated" if _last(trajectory) == "length" else "completed"})  # fmt: skip
        else:
            out.append({"messages": result.messages, "input_ids": trajectory.prompt_ids + trajectory.response_ids,
                        "assistant_masks": [0] * len(trajectory.prompt_ids) + trajectory.response_mask})  # fmt: skip
    return out


def write(results: Iterable[BatchResult], path: str | os.PathLike[str], *, view: str = "verl",
          failed: bool = False) -> int:  # fmt: skip
    """Write `rows(results, view=view, failed=failed)` to `path`: Parquet for a ``.parquet`` path (needs pyarrow),
    JSON lines otherwise. The file appears whole or not at all (written beside it, then renamed).
    Returns how many rows it holds."""
    target = Path(path)
    table = rows(results, view=view, failed=failed)
    parquet = target.suffix == ".parquet"
    if parquet:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise UserError("writing Parquet needs pyarrow: pip install pyarrow (or write a .jsonl file)") from None
    part = target.with_name(f".{target.name}.part")
    try:
        if parquet:
            pq.write_table(pa.Table.from_pylist(table), part)
        else:
            with part.open("w", encoding="utf-8") as f:
                f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in table)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return len(table)


def read_runs(path: str | os.PathLike[str]) -> list[BatchResult]:
    """The results in a `run_many` output file, in file order, with their trajectories when recorded.
    A run written twice (scored again on resume) counts once, as its last line says. A half-written
    last line (a killed batch) is left out; any other line that is not a result is a UserError."""
    source = Path(path)
    data = source.read_bytes()
    complete = data[: data.rfind(b"\n") + 1].decode("utf-8")
    results: dict[tuple[Any, ...], BatchResult] = {}
    for number, text in enumerate(complete.splitlines(), 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
            if not isinstance(line, dict) or "id" not in line:
                raise ValueError("not an object with an 'id'")
            by_position = line.get("id_from_position") is True
            key = (by_position, json.dumps(line["id"], sort_keys=True), line.get("sample") or 0)
            results[key] = from_line(line)  # a later line of the same run replaces it, in its first place
        except (ValueError, TypeError) as e:
            raise UserError(f"{source}, line {number}: not a result line ({e})") from None
    return list(results.values())


def _check(result: BatchResult, trajectory: Trajectory) -> None:
    """A trajectory whose lists disagree (a hand-edited file) would shift every later token's mask."""
    lengths = {len(trajectory.response_ids), len(trajectory.response_mask), len(trajectory.response_logprobs)}
    if len(lengths) != 1:
        raise UserError(f"result {result.id!r} (sample {result.sample}): response_ids, response_mask and"
                        " response_logprobs differ in length")  # fmt: skip


def _uid(group: Any) -> str:
    """A group id as text (verl and SkyRL group by a string): as JSON, as the output file keys it,
    so that the ids 1 and "1" stay two groups."""
    return json.dumps(group, sort_keys=True)


def _last(trajectory: Trajectory) -> str:
    return trajectory.finish_reasons[-1] if trajectory.finish_reasons else "stop"


def _prompt(messages: list[Any]) -> list[Any]:
    """The messages before the model's first answer: what the first prompt rendered."""
    for i, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") == "assistant":
            return messages[:i]
    return list(messages)
