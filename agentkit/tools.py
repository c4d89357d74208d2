"""`@tool`: a typed, documented Python function becomes an OpenAI tool with argument checks."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar, overload

import anyio.to_thread
import docstring_parser
import jsonschema
from typing_extensions import ParamSpec

from . import _schema, _validation
from ._context import RunContext, is_context_hint
from ._problems import conversion_problems, describe_problem
from ._schema_check import SchemaCheck
from .exceptions import ToolArgumentsError, ToolDefinitionError, UserError

__all__ = ["SchemaTool", "Tool", "tool"]

logger = logging.getLogger("agentkit")

P = ParamSpec("P")
R = TypeVar("R")

# transformers' get_json_schema convention: a JSON list at the very end of the description.
_CHOICES = re.compile(r"\(choices:\s*(.*?)\)\s*$", re.IGNORECASE | re.DOTALL)


def _describe(fn_name: str, param: str, text: str) -> tuple[str, list[Any] | None]:
    """Split a docstring argument description into (description, choices)."""
    text = " ".join(text.split())
    match = _CHOICES.search(text)
    if not match:
        return text, None
    try:
        choices = json.loads(match.group(1))
    except json.JSONDecodeError as e:
        raise ToolDefinitionError(
            f"{fn_name}(): the choices of argument {param!r} are not a JSON list: {match.group(1)!r} ({e.msg})"
        ) from None
    if not isinstance(choices, list) or not choices or any(isinstance(c, (list, dict)) for c in choices):
        raise ToolDefinitionError(
            f"{fn_name}(): the choices of argument {param!r} must be a non-empty JSON list of "
            f"scalars, got {match.group(1)!r}"
        )
    return text[: match.start()].rstrip(), choices


_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_SECTION = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$", re.MULTILINE)


def valid_name(name: str) -> str:
    """`name` made to match the rule (each other character an underscore, cut to 64)."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64] or "tool"


def check_name(name: str) -> None:
    """Raise `ToolDefinitionError` unless `name` matches ``^[a-zA-Z0-9_-]{1,64}$``: what
    OpenAI-style servers accept as a tool's name."""
    if not _NAME.fullmatch(name):
        raise ToolDefinitionError(
            f"the tool name {name!r} is not accepted by OpenAI-style servers (letters, digits, _ and -, "
            f"1 to 64 of them): use {valid_name(name)!r}, for example"
        )


def _parse_docstring(fn_name: str, doc: str) -> docstring_parser.Docstring:
    """The Google-style docstring `doc`; one the parser cannot read (``Args:`` then ``None``)
    documents no argument: its text up to the first section is the description."""
    try:
        return docstring_parser.parse(doc, style=docstring_parser.DocstringStyle.GOOGLE)
    except docstring_parser.ParseError as e:
        logger.warning("the docstring of %s cannot be read (%s): its arguments are not described", fn_name, e)
        section = _SECTION.search(doc)
        return docstring_parser.parse(doc[: section.start()] if section else "")


_HINTS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")


def _annotations(annotations: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`annotations` checked: MCP's four hints, each a bool (a typo would be a hint nobody reads)."""
    if annotations is None:
        return None
    unknown = sorted(set(annotations) - set(_HINTS))
    if unknown:
        raise ToolDefinitionError(f"unknown tool annotations {unknown}: the hints are {', '.join(_HINTS)}")
    for key, value in annotations.items():
        if not isinstance(value, bool):
            raise ToolDefinitionError(f"the tool annotation {key} is a bool, not {value!r}")
    return dict(annotations)


def member_test(hint: Any) -> Callable[[Any], bool]:
    """The check that a JSON value belongs to union member `hint` (built once per member).
    Raises `SchemaProblem` for a pattern RE2 cannot compile."""
    schema = _schema.strict(_schema.type_schema(hint))
    is_valid: Callable[[Any], bool] = _validation.validator(schema, own=True).is_valid
    return is_valid


class Tool(Generic[P, R]):
    """A function the model can call: its schema, argument validation and invocation.

    Calling the tool calls the function unchanged; `acall` is what the agent loop uses.
    """

    name: str
    """The tool's name, as the model sees it."""
    description: str
    """What the tool does (the docstring's summary unless given)."""
    parameters: dict[str, Any]
    """JSON Schema of the arguments object."""
    function: Callable[P, R]
    """The wrapped function."""
    requires_approval: bool
    """Whether a run stops before this tool runs, until the caller decides (`RunResult.pending`)."""
    takes_context: bool
    """Whether the function's first parameter is a `RunContext` (given by the run, not the model)."""
    sequential: bool
    """Whether a call of this tool waits for the earlier calls of its message, and later calls
    wait for it (for tools whose calls change a shared state)."""
    title: str | None = None
    """A human-readable name (MCP's ``title``), for a person, not the model; None: none."""
    annotations: dict[str, Any] | None = None
    """Hints about its behaviour, with MCP's names: ``readOnlyHint``, ``destructiveHint``,
    ``idempotentHint``, ``openWorldHint`` (booleans). Served over MCP as the tool's annotations;
    hints, not guarantees: nothing here is enforced."""

    def __init__(
        self,
        function: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        requires_approval: bool = False,
        sequential: bool = False,
        title: str | None = None,
        annotations: Mapping[str, Any] | None = None,
    ) -> None:
        self.function = function
        self.requires_approval = requires_approval
        self.sequential = sequential
        self.title = title
        self.annotations = _annotations(annotations)
        fn_name: str = getattr(function, "__qualname__", None) or repr(function)
        self.name = name or str(getattr(function, "__name__", ""))
        if not self.name:
            raise ToolDefinitionError(f"{fn_name}: a tool needs a name")
        check_name(self.name)
        self._is_async = inspect.iscoroutinefunction(function)
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError) as e:
            raise ToolDefinitionError(f"{fn_name}(): cannot read its signature: {e}") from None
        try:
            hints = typing.get_type_hints(function, include_extras=True)
        except NameError as e:
            culprit = next(
                (n for n, p in signature.parameters.items() if e.name and e.name in str(p.annotation)),
                None,
            )
            where = f"parameter {culprit!r}: " if culprit else ""
            raise ToolDefinitionError(
                f"{fn_name}(): {where}cannot resolve the type hint ({e}); define the type at module level"
            ) from None

        doc = inspect.getdoc(function)
        if not doc:
            logger.warning("tool %s has no docstring: the model gets no description", fn_name)
        parsed = _parse_docstring(fn_name, doc or "")
        arg_docs = {p.arg_name: p.description or "" for p in parsed.params if p.args[0] == "param"}
        unknown = set(arg_docs) - set(signature.parameters)
        if unknown:
            raise ToolDefinitionError(
                f"{fn_name}(): the docstring documents {', '.join(sorted(unknown))}, which is not a parameter"
            )
        if description is None:
            description = "\n\n".join(d for d in (parsed.short_description, parsed.long_description) if d)
        self.description = description

        properties: dict[str, Any] = {}
        required: list[str] = []
        self._converters: dict[str, _schema.Converter] = {}
        self._positional: list[str] = []
        params = list(signature.parameters.items())
        self.takes_context = bool(params) and is_context_hint(hints.get(params[0][0]))
        if self.takes_context:
            if params[0][1].kind is inspect.Parameter.KEYWORD_ONLY:
                raise ToolDefinitionError(f"{fn_name}(): the RunContext parameter must be positional")
            params = params[1:]
        for pname, param in params:
            where = f"{fn_name}(): parameter {pname!r}"
            if is_context_hint(hints.get(pname)):
                raise ToolDefinitionError(f"{where}: a RunContext can only be the first parameter")
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ToolDefinitionError(f"{where}: *args and **kwargs cannot be described to a model")
            if pname not in hints:
                raise ToolDefinitionError(f"{where} has no type hint")
            try:
                prop = _schema.type_schema(hints[pname])
                self._converters[pname] = _schema.converter(hints[pname], member_test)
            except (_schema.UnsupportedType, _validation.SchemaProblem) as e:
                raise ToolDefinitionError(f"{where}: {e}") from None
            text, choices = _describe(fn_name, pname, arg_docs.get(pname) or "")
            if text and "description" not in prop:
                prop["description"] = text
            if choices is not None:
                prop["enum"] = choices
            properties[pname] = prop
            if param.default is param.empty:
                required.append(pname)
            if param.kind is param.POSITIONAL_ONLY:
                self._positional.append(pname)

        self.parameters = {"type": "object", "properties": properties, "required": required}
        try:
            self._validator: Any = _validation.validator(_schema.strict(self.parameters), own=True)
        except _validation.SchemaProblem as e:  # a Field(pattern=...) that RE2 cannot compile
            raise ToolDefinitionError(f"{fn_name}(): {e}") from None
        functools.update_wrapper(self, function)  # type: ignore[arg-type]

    @classmethod
    def from_schema(
        cls,
        name: str,
        parameters: Mapping[str, Any],
        function: Callable[..., Any],
        *,
        description: str = "",
        sequential: bool = False,
        requires_approval: bool = False,
        title: str | None = None,
        annotations: Mapping[str, Any] | None = None,
    ) -> SchemaTool:
        """A tool described by a JSON Schema (draft 2020-12) that calls `function` (sync or async)
        with the checked arguments as keywords.

        Its checks equal `@tool`'s: an argument outside ``properties`` is refused unless the
        schema sets ``additionalProperties`` to true or a schema; a whole number is an `int`
        where the schema wants an integer; formats, enums and bounds are enforced. Raises
        `ToolDefinitionError` for a name outside ``^[a-zA-Z0-9_-]{1,64}$`` and for a schema that
        cannot be checked (not valid JSON Schema, a reference outside it, a pattern RE2 cannot
        compile): never "no checks".
        """
        return SchemaTool(
            name=name,
            description=description,
            parameters=parameters,
            function=function,
            sequential=sequential,
            requires_approval=requires_approval,
            title=title,
            annotations=_annotations(annotations),
        )

    @property
    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry: ``{"type": "function", "function": {...}}``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.function(*args, **kwargs)

    @property
    def is_async(self) -> bool:
        """Whether the function is a coroutine function. An async tool is cancelled at
        `tool_timeout`; a sync one runs in a worker thread, which Python cannot stop: it is
        abandoned and may still finish, and do what it does, after the timeout."""
        return self._is_async

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    # --- validation -------------------------------------------------------------------------

    def validate(self, arguments: str | Mapping[str, Any] | None) -> dict[str, Any]:
        """Check what a model sent and convert it to the function's Python arguments.

        `arguments` is the JSON string of a tool call (or an already decoded dict). Raises
        `ToolArgumentsError` listing every problem, worded for the model.
        """
        if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
            arguments = {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError as e:
                raise ToolArgumentsError(
                    f"The arguments of {self.name} are not valid JSON ({e.msg} at position "
                    f"{e.pos}). Send a JSON object."
                ) from None
        if not isinstance(arguments, Mapping):
            raise ToolArgumentsError(
                f"The arguments of {self.name} must be a JSON object, not {type(arguments).__name__}."
            )
        try:
            problems = [self._problem(e) for e in self._schema_errors(dict(arguments))]
        except _validation.SchemaTooCostly as e:  # refused, not let through unchecked
            raise ToolArgumentsError(
                f"The arguments of {self.name} cannot be checked: {e}. Send smaller arguments."
            ) from None
        values: dict[str, Any] = {}
        if not problems:
            for key, value in arguments.items():
                convert = self._converters.get(key)
                try:
                    values[key] = value if convert is None else convert(value)
                except Exception as e:  # a pydantic validator or an impossible date
                    problems.extend(conversion_problems(e, key))
        if problems:
            raise ToolArgumentsError(
                f"Invalid arguments for {self.name}:\n" + "\n".join(f"- {p}" for p in problems),
                problems,
            )
        return values

    def _schema_errors(self, arguments: dict[str, Any]) -> list[jsonschema.ValidationError]:
        return list(self._validator.iter_errors(arguments))

    def _problem(self, error: jsonschema.ValidationError) -> str:
        return describe_problem(error, self.parameters, self.name)

    # --- invocation ------------------------------------------------------------------------

    async def acall(self, arguments: str | Mapping[str, Any] | None, context: RunContext[Any] | None = None) -> Any:
        """Validate `arguments`, then run the function (sync ones in a worker thread).

        A tool that takes a `RunContext` needs `context` (the agent loop passes it).
        """
        values = self.validate(arguments)
        args = [values.pop(p) for p in self._positional if p in values]
        if self.takes_context:
            if context is None:
                raise UserError(f"the tool {self.name} takes a RunContext: call it with acall(arguments, context)")
            args.insert(0, context)
        if self._is_async:
            return await typing.cast("Callable[..., Awaitable[Any]]", self.function)(*args, **values)
        call = functools.partial(self.function, *args, **values)
        # A hung sync function cannot be interrupted; abandoning it lets timeouts and
        # cancellation reach the caller while the thread finishes on its own.
        result = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        if inspect.isawaitable(result):
            result = await result
        return result


class SchemaTool(Tool[..., Any]):
    """A tool described by a JSON Schema rather than a Python signature; the schema is given to
    the model as is. Made by `Tool.from_schema` (a user's `function`, given the arguments as
    keywords) and by an MCP toolset (`call`: a server's tool, awaited with the arguments as one
    dict; what cannot be checked safely is left to the server, see `agentkit._schema_check`)."""

    def __init__(
        self,
        *,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        function: Callable[..., Any] | None = None,
        call: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
        requires_approval: bool = False,
        sequential: bool = False,
        server_name: str | None = None,
        title: str | None = None,
        annotations: Mapping[str, Any] | None = None,
    ) -> None:
        # Not Tool.__init__: there is no signature or docstring to read.
        if (function is None) == (call is None):
            raise UserError("a SchemaTool takes a function or a call: one of them")
        check_name(name)
        self.name = name
        self.description = description
        self.parameters = dict(parameters) if isinstance(parameters, Mapping) else parameters
        self.function = function or call  # type: ignore[assignment]
        self.requires_approval = requires_approval
        self.sequential = sequential
        self.title = title
        # As given: a server's annotations are its own (checked by `from_schema` for a user's).
        self.annotations = dict(annotations) if annotations is not None else None
        self.takes_context = False
        self._server = call is not None
        self._is_async = self._server or inspect.iscoroutinefunction(function)
        self._converters = {}
        self._positional = []
        self._check = SchemaCheck(name, parameters, server=self._server, server_name=server_name)

    def _schema_errors(self, arguments: dict[str, Any]) -> list[jsonschema.ValidationError]:
        return self._check.errors(arguments)

    def _problem(self, error: jsonschema.ValidationError) -> str:
        return self._check.problem(error)

    def validate(self, arguments: str | Mapping[str, Any] | None) -> dict[str, Any]:
        return self._check.convert(super().validate(arguments))

    def __repr__(self) -> str:
        return f"SchemaTool({self.name!r})"

    async def acall(self, arguments: str | Mapping[str, Any] | None, context: RunContext[Any] | None = None) -> Any:
        if self._server:
            return await self.function(self.validate(arguments))
        return await super().acall(arguments, context)


@overload
def tool(function: Callable[P, R], /) -> Tool[P, R]: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    requires_approval: bool = False,
    sequential: bool = False,
    title: str | None = None,
    annotations: Mapping[str, Any] | None = None,
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...
def tool(
    function: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    requires_approval: bool = False,
    sequential: bool = False,
    title: str | None = None,
    annotations: Mapping[str, Any] | None = None,
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Turn a function with type hints and a Google-style docstring into a `Tool`.

    Use bare (``@tool``), with options (``@tool(name="weather")``) or on a bound method
    (``tool(obj.method)``). A first parameter annotated ``RunContext[...]`` receives the run's
    context and is not part of the schema. With ``requires_approval=True`` a run stops before
    the call runs and returns it in `RunResult.pending`. With ``sequential=True`` a call starts
    only after the earlier calls of its message have finished, and later ones wait for it.
    `title` and `annotations` (MCP's ``readOnlyHint``, ``destructiveHint``, ``idempotentHint``,
    ``openWorldHint``) describe it to MCP clients when it is served (`agentkit.mcp.server`).
    Raises `ToolDefinitionError` when the function cannot be described, or when the name does
    not match ``^[a-zA-Z0-9_-]{1,64}$``.
    """
    options: dict[str, Any] = {
        "name": name, "description": description, "requires_approval": requires_approval, "sequential": sequential,
        "title": title, "annotations": annotations,
    }  # fmt: skip
    if function is not None:
        return Tool(function, **options)

    def decorate(fn: Callable[P, R]) -> Tool[P, R]:
        return Tool(fn, **options)

    return decorate
