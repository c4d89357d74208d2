import pytest
from hypothesis import HealthCheck, settings

# CI runs a few hundred examples per property; --slow runs 10,000 (the full fuzzing).
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("slow", max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile("ci")


@pytest.fixture
def anyio_backend():
    return "asyncio"


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="fuzz at full size (10,000 examples per property)")


def pytest_configure(config):
    if config.getoption("--slow"):
        settings.load_profile("slow")


# --- real servers ------------------------------------------------------------------------------
# A test marked `server("llama.cpp")` talks to llama.cpp's llama-server, built from source on first
# use. The build takes minutes on 2 cores, longer than any one test may run, so it happens here,
# once, after collection and before the first test (outside the per-test timeout), with its
# progress on the terminal. A failed build fails those tests with the build's output.

_build_failures: dict[str, str] = {}


def _server_kind(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("server")
    return (marker.args[0] if marker.args else "llama.cpp") if marker is not None else None


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or not any(_server_kind(i) == "llama.cpp" for i in session.items):
        return
    from tools import llama_server

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)

    try:
        llama_server.build(progress=say)
    except Exception as e:  # reported by each test that needed it
        _build_failures["llama.cpp"] = f"{type(e).__name__}: {e}"


def pytest_runtest_setup(item: pytest.Item) -> None:
    kind = _server_kind(item)
    if kind in _build_failures:
        pytest.fail(f"the {kind} server could not be built: {_build_failures[kind]}", pytrace=False)
