"""The public surface: pinned, so that a change to it is a decision, not an accident."""

import subprocess
import sys

import agentkit
import agentkit.batch
import agentkit.cli
import agentkit.formats
import agentkit.mcp
import agentkit.sessions
import agentkit.tracing
import agentkit.trajectories

PUBLIC = {
    "INTERN_S1", "INTERN_S1_MINI", "INTERN_S1_PRO", "INTERN_S2_PREVIEW", "Agent", "AgentError", "AgentEvent", "ApprovalError", "Completion", "CompletionDone",
    "LocalModel", "MalformedCall", "MaxTurnsExceeded", "Model", "ModelError", "ModelEvent", "ReasoningDelta",
    "RemoteModel", "RunError", "RunFinished", "RunResult", "Sampling", "TextDelta", "Tool",
    "ToolArgumentsError", "ToolCall", "ToolCallArgsDelta", "ToolCallFinished", "ToolCallMalformed",
    "ToolCallOpened", "ToolCallReady", "ToolCallStarted", "ToolDefinitionError", "ToolError", "TurnFinished",
    "UnknownToolError", "Usage", "UserError", "tool",
    "OutputValidationError", "RunContext", "UsageLimitExceeded", "UsageLimits", "ToolsetError",
    "ResumeConflictError", "SessionError",
    "Capability", "RunState", "RunOptions", "ModelRequest", "ModelResponse", "CallAnswer", "TurnEnd", "Final",
    "CapabilityError",
    "Handoff", "SubAgentEvent",
    "Trajectory", "ToolProgress",
    "AuthorizationError",
}  # fmt: skip

# Names fixed by the shared API contract (../shared/API.md).
CONTRACT = {
    "agentkit": ["tool", "Tool", "ToolDefinitionError", "ToolArgumentsError", "AgentError", "ModelError",
                 "MaxTurnsExceeded", "Agent", "RunResult", "ReasoningDelta", "TextDelta", "ToolCallStarted",
                 "ToolCallFinished", "TurnFinished", "RunFinished", "RemoteModel", "LocalModel", "Sampling",
                 "INTERN_S1", "INTERN_S1_MINI", "INTERN_S1_PRO", "INTERN_S2_PREVIEW", "Model", "Completion",
                 "RunContext", "OutputValidationError", "UsageLimits", "UsageLimitExceeded", "SubAgentEvent",
                 "Handoff", "Trajectory"],
    "agentkit.formats": ["get_format", "detect_format", "ToolCall", "TextDelta", "ReasoningDelta", "ParsedOutput"],
    "agentkit.sessions": ["Session", "SQLiteSession"],
    "agentkit.tracing": ["instrument", "uninstrument"],
    "agentkit.mcp": ["MCPToolset", "server", "oauth"],
    "agentkit.batch": ["run_many", "BatchResult"],
}  # fmt: skip

MODULE_ALL = {
    agentkit.cli: {"EventPrinter", "SpecError", "load_object", "load_tools", "main", "result_dict"},
    agentkit.sessions: {"History", "MemorySession", "RedisSession", "SQLiteSession", "Session", "count_tokens", "fit"},
    agentkit.tracing: {"instrument", "uninstrument"},
    agentkit.mcp: {
        "Audio",
        "EmbeddedResource",
        "Image",
        "MCPRequest",
        "MCPTool",
        "MCPToolset",
        "oauth",
        "Prompt",
        "Resource",
        "prompt",
        "resource",
        "server",
    },
    agentkit.batch: {"BatchResult", "OutputFileError", "run_many"},
    agentkit.trajectories: {"VIEWS", "read_runs", "rows", "write"},
}


def test_all_is_pinned():
    assert set(agentkit.__all__) == PUBLIC
    for name in agentkit.__all__:
        assert getattr(agentkit, name) is not None


def test_module_alls_are_pinned():
    for module, names in MODULE_ALL.items():
        assert set(module.__all__) == names, module.__name__


def test_tracing_needs_opentelemetry_only_when_instrumenting():
    # opentelemetry made unimportable, as without the `otel` extra: runs work, instrument() says why not.
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from agentkit import Agent, tracing\n"
        "from agentkit.testing import ScriptedModel\n"
        "print(Agent(ScriptedModel(['hi'])).run_sync('q').output)\n"
        "try:\n"
        "    tracing.instrument()\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["hi", "agentkit.tracing needs opentelemetry-api: pip install 'agentkit[otel]'"]


def test_contract_names_exist():
    for module, names in CONTRACT.items():
        mod = sys.modules[module]
        for name in names:
            assert hasattr(mod, name), f"{module}.{name}"
    assert agentkit.TextDelta is agentkit.formats.TextDelta  # the same classes at every level
    assert issubclass(agentkit.ModelError, agentkit.AgentError)
    assert issubclass(agentkit.MaxTurnsExceeded, agentkit.AgentError)
    assert issubclass(agentkit.ToolDefinitionError, agentkit.AgentError)


def test_import_does_not_load_the_local_backend():
    code = "import sys, agentkit; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_star_import_works_without_torch_and_local_model_says_what_to_install():
    # torch and transformers made unimportable, as on a machine without the `local` extra.
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        "from agentkit import *\n"
        "for make in (lambda: LocalModel('some/model'), LocalModel.demo):\n"
        "    try:\n"
        "        make()\n"
        "    except UserError as e:\n"
        "        print(str(e))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and all("pip install 'agentkit[local]'" in line for line in lines), run.stdout


def test_sampling_presets():
    assert agentkit.Sampling(temperature=0.7, top_p=1.0, top_k=50, min_p=0.0) == agentkit.INTERN_S1
    assert agentkit.Sampling(temperature=0.8, top_p=1.0, top_k=50, min_p=0.0) == agentkit.INTERN_S1_MINI
    assert agentkit.Sampling(temperature=0.8, top_p=0.95, top_k=50, min_p=0.0) == agentkit.INTERN_S1_PRO
    assert agentkit.Sampling(temperature=0.8, top_p=0.95, top_k=50, min_p=0.0) == agentkit.INTERN_S2_PREVIEW


def test_mcp_needs_the_sdk_only_when_imported():
    code = (
        "import sys; sys.modules['mcp'] = None\n"
        "import agentkit\n"
        "print('agentkit ok')\n"
        "try:\n"
        "    import agentkit.mcp\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert out.splitlines()[0] == "agentkit ok"
    assert "pip install 'agentkit[mcp]'" in out.splitlines()[1]
