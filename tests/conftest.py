import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="run slow tests (full-size fuzzing)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
