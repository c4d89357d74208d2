"""agentkit on the Berkeley Function Calling Leaderboard's own data, converter and checker.

    python tools/bfcl.py [--categories multi_turn_base,...] [--backend asyncio|trio|both]

Needs ``bfcl-eval`` (installed ``--no-deps``, see .ci/run). Three checks, printed as markdown:

- **docs**: every function doc of every category (BFCL's `load_dataset_entry`, as BFCL gives it
  to a model), converted by BFCL's own OpenAI converter (`convert_to_tool`), becomes a
  `Tool.from_schema` tool. A doc's own name outside ``^[a-zA-Z0-9_-]{1,64}$`` is refused by
  agentkit (counted); the tool is then built under the name BFCL's converter gives it.
- **ground truth**: every ground-truth call's arguments go through the tool's own `validate`;
  a call counts as accepted when every value BFCL lists as correct for it is accepted.
- **multi-turn**: each turn's ground-truth calls are sent in ONE assistant message by a
  `ScriptedModel` to an `Agent` whose tools are BFCL's backend instances' methods; after each
  turn BFCL's `state_checker` compares those instances with BFCL's own execution of the turn.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import inspect
import json
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import anyio

# bfcl_eval creates result/score/lock folders under its project root when imported: not in site-packages.
os.environ.setdefault("BFCL_PROJECT_ROOT", os.path.join(tempfile.gettempdir(), "agentkit-bfcl"))

from bfcl_eval.constants.category_mapping import ALL_CATEGORIES
from bfcl_eval.constants.enums import ModelStyle
from bfcl_eval.constants.executable_backend_config import (
    CLASS_FILE_PATH_MAPPING,
    STATELESS_CLASSES,
)
from bfcl_eval.constants.type_mappings import GORILLA_TO_OPENAPI
from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import state_checker
from bfcl_eval.model_handler.utils import convert_to_tool
from bfcl_eval.utils import (
    is_java,
    is_js,
    is_multi_turn,
    load_dataset_entry,
    load_file,
    load_ground_truth_entry,
)

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agentkit import Agent, Tool, ToolArgumentsError, ToolDefinitionError  # noqa: E402
from agentkit.testing import ScriptedModel  # noqa: E402

NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MULTI_TURN = [c for c in ALL_CATEGORIES if is_multi_turn(c)]


def bfcl_version() -> str:
    from importlib.metadata import version

    return version("bfcl-eval")


# ---------------------------------------------------------------- docs


@dataclass(kw_only=True)
class DocCount:
    """What became of one category's function docs (each distinct doc counted once)."""

    docs: int = 0
    """Distinct docs (name and parameters) in the category."""
    accepted: int = 0
    """Docs that became a `Tool.from_schema` tool (under BFCL's converted name)."""
    refused: Counter[str] = field(default_factory=Counter)
    """Docs refused even under the converted name, by `ToolDefinitionError` message."""
    bad_names: int = 0
    """Docs whose own name `Tool.from_schema` refuses (outside ``^[a-zA-Z0-9_-]{1,64}$``)."""
    renamed_as_agentkit_suggests: int = 0
    """Of those, how many BFCL's converter renames to the name agentkit's error suggests."""


def _noop(**_: Any) -> None:
    return None


def entry_docs(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """An entry's function docs as BFCL gives them to a model, with the docs that miss_func
    entries hold back for a later turn."""
    docs = list(entry.get("function", []))
    for held in entry.get("missed_function", {}).values():
        docs.extend(held)
    return docs


def convert(doc: dict[str, Any]) -> dict[str, Any]:
    """BFCL's own OpenAI converter, on one doc: the ``function`` part of a tools entry."""
    return convert_to_tool([doc], GORILLA_TO_OPENAPI, ModelStyle.OPENAI_COMPLETIONS)[0]["function"]


def build(doc: dict[str, Any], function: Callable[..., Any] = _noop, *, sequential: bool = False) -> Tool[..., Any]:
    fn = convert(doc)
    return Tool.from_schema(
        fn["name"], fn["parameters"], function, description=fn.get("description", ""), sequential=sequential
    )


def check_docs(category: str) -> DocCount:
    count = DocCount()
    seen: set[str] = set()
    for entry in load_dataset_entry(category):
        for doc in entry_docs(entry):
            key = json.dumps([doc["name"], doc["parameters"]], sort_keys=True)  # not the description: BFCL
            # adds a language hint to a doc given at the start, not to one miss_func holds back
            if key in seen:
                continue
            seen.add(key)
            count.docs += 1
            if not NAME.fullmatch(doc["name"]):
                try:
                    Tool.from_schema(doc["name"], convert(doc)["parameters"], _noop)
                except ToolDefinitionError as e:
                    count.bad_names += 1
                    count.renamed_as_agentkit_suggests += f"use {convert(doc)['name']!r}" in str(e)
                else:
                    raise AssertionError(f"Tool.from_schema accepted the name {doc['name']!r}")
            try:
                build(doc)
            except ToolDefinitionError as e:
                count.refused[str(e)] += 1
            else:
                count.accepted += 1
    return count


# ---------------------------------------------------------------- ground truth


@dataclass(kw_only=True)
class CallCount:
    """What agentkit's argument checks made of one category's ground-truth calls."""

    calls: int = 0
    """Ground-truth calls (a call with alternatives counts once)."""
    accepted: int = 0
    """Calls whose every listed value the tool accepted."""
    rejected: Counter[str] = field(default_factory=Counter)
    """Rejected calls by class of rejection (see `classify`)."""
    examples: dict[str, str] = field(default_factory=dict)
    """One example per class: the call and agentkit's message."""


def _concrete(option: Any, prop: dict[str, Any]) -> Any:
    """A listed value as a model would send it: BFCL lists a dict's (or a list of dicts') own
    values as lists of alternatives too, so each takes its first."""
    items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
    if prop.get("type") == "dict" and isinstance(option, dict):
        return {k: _first(v) for k, v in option.items() if _first(v) is not _OMIT}
    if items.get("type") == "dict" and isinstance(option, list):
        return [_concrete(o, items) for o in option]
    return option


_OMIT = object()


def _first(options: Any) -> Any:
    if not isinstance(options, list):
        return options
    given = [v for v in options if v != ""]
    return given[0] if given else _OMIT


def _variants(values: dict[str, list[Any]], doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The argument sets one AST ground-truth call stands for: each parameter at its first listed
    value (``""`` is BFCL's mark for "may be left out"), then each other listed value in turn,
    then each optional parameter left out."""
    props = doc["parameters"].get("properties", {})
    listed = {name: [_concrete(v, props.get(name, {})) for v in opts if v != ""] for name, opts in values.items()}
    base = {name: given[0] for name, given in listed.items() if given}
    yield base
    for name, options in values.items():
        for value in listed[name][1:]:
            yield {**base, name: value}
        if "" in options and name in base:
            yield {k: v for k, v in base.items() if k != name}


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    if kinds is None:
        return True
    kinds = kinds if isinstance(kinds, list) else [kinds]
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: not isinstance(v, bool) and (isinstance(v, int) or float(v).is_integer())
        if isinstance(v, int | float)
        else False,
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list | tuple),
        "object": lambda v: isinstance(v, dict),
        "null": lambda v: v is None,
    }
    return any(checks.get(k, lambda v: True)(value) for k in kinds)


def classify(arguments: dict[str, Any], parameters: dict[str, Any], declared: dict[str, Any]) -> str:
    """Why BFCL's data and its own schema (`parameters`, converted from the doc's `declared`
    ones) disagree on `arguments`: a label for the report; the verdict is the tool's `validate`."""
    missing = [n for n in parameters.get("required", []) if n not in arguments]
    for name, value in arguments.items():
        why = _why(value, parameters.get("properties", {}).get(name))
        kind = declared.get("properties", {}).get(name, {}).get("type")
        if why == "value of another type" and (kind not in GORILLA_TO_OPENAPI or kind in ("any", "Any")):
            return "a type BFCL's converter makes a string"
        if why:
            return why
    if missing:
        return "required argument marked optional"
    props = parameters.get("properties", {})
    if any("format" in props.get(n, {}) and isinstance(v, str) for n, v in arguments.items()):
        return "value outside the format"
    return "other"


def _why(value: Any, schema: dict[str, Any] | None) -> str:
    if schema is None:
        return "argument not in the schema"
    if value is None and not _type_ok(None, schema):
        return "null outside the type"
    if "enum" in schema and value not in schema["enum"]:
        return "default outside the enum" if value == schema.get("default") else "value outside the enum"
    if not _type_ok(value, schema):
        return "value of another type"
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            if why := _why(item, schema["items"]):
                return why
    if isinstance(value, dict) and "properties" in schema:
        if schema.get("additionalProperties") in (None, False) and set(value) - set(schema["properties"]):
            return "argument not in the schema"
        for key, item in value.items():
            if key in schema["properties"] and (why := _why(item, schema["properties"][key])):
                return why
    return ""


def _check(
    count: CallCount, doc: dict[str, Any], variants: list[dict[str, Any]], shown: str, *, source: bool = False
) -> None:
    count.calls += 1
    tool = build(doc)
    for arguments in variants:
        try:
            tool.validate(json.dumps(arguments))
        except ToolArgumentsError as e:
            why = classify(arguments, tool.parameters, doc["parameters"])
            problems = "; ".join(line[2:] for line in str(e).splitlines() if line.startswith("- "))
            if source and why == "value of another type" and re.match(r'[\w.\[\]]+: ".*" is not of type', problems):
                why = "Java or JavaScript source for a value"  # a constant's or a variable's name
            count.rejected[why] += 1
            count.examples.setdefault(why, f"{shown}: {problems}")
            return
    count.accepted += 1


def parse_call(text: str, method: Callable[..., Any] | None = None) -> tuple[str, dict[str, Any]]:
    """A multi-turn ground-truth call (``"mv(source='a', destination='b')"``) as a name and
    keyword arguments, read with `ast` (never evaluated); positional arguments are named by
    `method`'s signature."""
    node = ast.parse(text, mode="eval").body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError(f"not a call: {text!r}")
    args = [ast.literal_eval(a) for a in node.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
    if args:
        if method is None:
            raise ValueError(f"positional arguments need the method: {text!r}")
        signature = inspect.signature(method)
        if next(iter(signature.parameters), None) == "self":  # the class's function, not a bound method
            signature = signature.replace(parameters=list(signature.parameters.values())[1:])
        kwargs = dict(signature.bind(*args, **kwargs).arguments)
    return node.func.id, kwargs


@cache
def backend_class(class_name: str) -> type:
    return getattr(importlib.import_module(CLASS_FILE_PATH_MAPPING[class_name]), class_name)  # type: ignore[no-any-return]


def check_ground_truth(category: str) -> CallCount | None:
    """None for a category whose ground truth is not calls (irrelevance, memory, web search)."""
    try:
        truths = {t["id"]: t["ground_truth"] for t in load_ground_truth_entry(category)}
    except FileNotFoundError:
        return None
    count = CallCount()
    if not truths:
        return None
    # The docs as declared: BFCL's hint for Java and JavaScript makes every parameter a string
    # (the model writes Java or JavaScript source), while the ground truth holds the values.
    source = is_java(category) or is_js(category)  # the ground truth may hold an expression: a constant's name
    for entry in load_dataset_entry(category, include_language_specific_hint=False):
        if entry["id"] not in truths:
            continue
        truth = truths[entry["id"]]
        docs = {d["name"]: d for d in entry_docs(entry)}
        if is_multi_turn(category):
            classes = [backend_class(c) for c in entry["involved_classes"]]
            methods = {name: getattr(cls, name) for cls in classes for name in dir(cls)}
            for turn in truth:
                for text in turn:
                    name, arguments = parse_call(text, methods.get(text.split("(")[0]))
                    _check(count, docs[name], [arguments], f"`{entry['id']}` `{text}`")
        elif isinstance(truth, list) and all(isinstance(c, dict) for c in truth):
            for call in truth:
                ((name, values),) = call.items()
                shown = f"`{entry['id']}` `{name}`"
                _check(count, docs[name], list(_variants(values, docs[name])), shown, source=source)
        else:
            return None  # answers, not calls
    return count if count.calls else None  # none: the entries' ids are not the ground truth's


# ---------------------------------------------------------------- multi-turn runs


def qwen3_call(name: str, arguments: dict[str, Any]) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def _backend(class_name: str, entry: dict[str, Any], long_context: bool) -> Any:
    """A backend instance set up as BFCL's `execute_multi_turn_func_call` sets up its own."""
    instance = backend_class(class_name)()
    if class_name not in STATELESS_CLASSES:
        config = copy.deepcopy(entry["initial_config"].get(class_name, {}))
        instance._load_scenario(config, long_context=long_context)
    return instance


@cache
def class_docs(class_name: str) -> list[dict[str, Any]]:
    from bfcl_eval.constants.eval_config import MULTI_TURN_FUNC_DOC_PATH
    from bfcl_eval.constants.executable_backend_config import MULTI_TURN_FUNC_DOC_FILE_MAPPING

    return load_file(MULTI_TURN_FUNC_DOC_PATH / MULTI_TURN_FUNC_DOC_FILE_MAPPING[class_name])  # type: ignore[no-any-return]


@dataclass(kw_only=True)
class EntryRun:
    """One multi-turn entry replayed through an Agent."""

    id: str
    """BFCL's entry id."""
    matched: bool
    """Whether BFCL's state checker found agentkit's backends equal to BFCL's after every turn."""
    first_difference: str = ""
    """BFCL's message for the first turn that differed."""
    refused: list[str] = field(default_factory=list)
    """Ground-truth calls the tool's own checks refused (BFCL's Python runs them regardless)."""


_runs = 0


async def run_entry(entry: dict[str, Any], truth: list[list[str]], *, sequential: bool) -> EntryRun:
    """Replay `truth` through an Agent, one assistant message per turn, and compare the state
    with BFCL's own execution after each turn."""
    global _runs
    _runs += 1
    bfcl_name = f"agentkit_replay_{_runs}"
    long_context = "long_context" in entry["id"]
    classes = entry["involved_classes"]
    instances = {c: _backend(c, entry, long_context) for c in classes}
    tools, methods = [], {}
    for c in classes:
        for doc in class_docs(c):
            method = getattr(instances[c], doc["name"])
            methods[doc["name"]] = method
            tools.append(build(doc, method, sequential=sequential))
    by_name = {t.name: t for t in tools}
    result = EntryRun(id=entry["id"], matched=True)
    script: list[str] = []
    for turn in truth:
        calls = [parse_call(t, methods.get(t.split("(")[0])) for t in turn]
        for text, (name, arguments) in zip(turn, calls, strict=True):
            try:
                by_name[name].validate(json.dumps(arguments))
            except ToolArgumentsError:
                result.refused.append(text)
        if calls:
            script.append("".join(qwen3_call(name, arguments) for name, arguments in calls))
        script.append("Done.")
    agent = Agent(ScriptedModel(script), tools, max_turns=3)
    messages: list[dict[str, Any]] = []
    try:
        for index, turn in enumerate(truth):
            question = entry["question"][index] if index < len(entry["question"]) else []
            messages += question or [{"role": "user", "content": "Go on."}]
            messages = (await agent.run(messages)).messages
            _, expected = multi_turn_utils.execute_multi_turn_func_call(
                turn, entry["initial_config"], classes, bfcl_name, entry["id"],
                long_context=long_context, is_evaL_run=True,
            )  # fmt: skip
            if turn and result.matched:
                check = state_checker(instances, expected)
                if not check["valid"]:
                    result.matched = False
                    result.first_difference = f"turn {index}: {check['error_message']}"
    finally:  # BFCL keeps its instances in its module's globals, by model name and entry
        prefix = re.sub(r"[-./:]", "_", f"{bfcl_name}_eval_")
        for key in [k for k in vars(multi_turn_utils) if k.startswith(prefix)]:
            del vars(multi_turn_utils)[key]
    return result


def multi_turn_entries(category: str) -> list[tuple[dict[str, Any], list[list[str]]]]:
    truths = {t["id"]: t["ground_truth"] for t in load_ground_truth_entry(category)}
    return [(e, truths[e["id"]]) for e in load_dataset_entry(category)]


async def run_category(category: str, *, sequential: bool) -> list[EntryRun]:
    return [await run_entry(e, t, sequential=sequential) for e, t in multi_turn_entries(category)]


def replay(category: str, *, sequential: bool, backend: str) -> list[EntryRun]:
    async def main() -> list[EntryRun]:
        return await run_category(category, sequential=sequential)

    return anyio.run(main, backend=backend)


# ---------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", default=",".join(ALL_CATEGORIES))
    parser.add_argument("--multi-turn", default="multi_turn_base", help="categories to replay (comma-separated)")
    parser.add_argument("--backend", default="both", choices=["asyncio", "trio", "both"])
    args = parser.parse_args(argv)
    print(f"bfcl-eval {bfcl_version()}\n")
    print("| category | docs | accepted | refused | own name refused | ground-truth calls | accepted | rejected |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    total = [0] * 7
    examples: dict[str, str] = {}
    classes: Counter[str] = Counter()
    for category in args.categories.split(","):
        d, g = check_docs(category), check_ground_truth(category)
        refused = sum(d.refused.values())
        row = [d.docs, d.accepted, refused, d.bad_names]
        row += [g.calls, g.accepted, sum(g.rejected.values())] if g else [0, 0, 0]
        total = [a + b for a, b in zip(total, row, strict=True)]
        cells = [str(x) for x in row[:4]] + ([str(x) for x in row[4:]] if g else ["—"] * 3)
        print(f"| {category} | " + " | ".join(cells) + " |")
        for message in d.refused:
            print(f"|   refused: {message} | | | | | | | |")
        if g:
            classes.update(g.rejected)
            for why, example in g.examples.items():
                examples.setdefault(why, example)
    print("| **all** | " + " | ".join(f"**{x}**" for x in total) + " |\n")
    print("| class of rejection | calls | example: entry, function, agentkit's message |\n|---|--:|---|")
    for why, n in classes.most_common():
        print(f"| {why} | {n} | {examples[why].split('; ')[0]} |")  # its first problem
    print("\n| multi-turn replay | backend | entries | state equal to BFCL's | differ | of which a call was refused |")
    print("|---|---|--:|--:|--:|--:|")
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    shown: list[str] = []
    for category in args.multi_turn.split(","):
        for sequential in (True, False):
            for backend in backends:
                runs = replay(category, sequential=sequential, backend=backend)
                differ = [r for r in runs if not r.matched]
                tools = "sequential=True" if sequential else "concurrent (default)"
                print(
                    f"| {category}, {tools} | {backend} | {len(runs)} | {len(runs) - len(differ)} | {len(differ)} "
                    f"| {sum(bool(r.refused) for r in differ)} |"
                )
                shown += [f"{tools}, {backend}: `{r.id}` {r.first_difference} {r.refused}" for r in differ[:1]]
    print()
    for line in shown:
        print(f"- first difference, {line}")

if __name__ == "__main__":
    main()
