"""``MODULE:ATTR`` specs (agentkit/cli/_spec.py): what they import from the current directory, and an Agent's hook."""

import importlib
import os
import sys

import pytest

from agentkit.cli._spec import load_object, load_tools


@pytest.fixture
def here(tmp_path, monkeypatch):
    """An empty current directory; sys.path and the modules imported from it are put back afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd())])
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if (getattr(sys.modules[name], "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def test_a_module_that_is_not_installed_is_not_imported_from_the_current_directory_after_the_spec(here):
    marker = here / "ran"
    (here / "stray_probe.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (here / "sibling_helper.py").write_text("VALUE = 7\n")
    (here / "spec_tools.py").write_text(
        "import sibling_helper\n"
        "def echo(text: str) -> str:\n    \"\"\"Echo.\"\"\"\n    return text\n"
        "TOOLS = [echo]\nVALUE = sibling_helper.VALUE\n"
    )
    assert [t.name for t in load_tools("spec_tools:TOOLS")] == ["echo"]
    assert load_object("spec_tools:VALUE") == 7  # a sibling imported with the module is found
    assert str(here) not in sys.path
    with pytest.raises(ImportError):  # what a library probes later (pynvml, cuda ...) is not run from here
        importlib.import_module("stray_probe")
    assert not marker.exists()


def test_a_package_named_by_a_spec_still_imports_its_own_modules_later(here):
    (here / "spec_pkg").mkdir()
    (here / "spec_pkg" / "__init__.py").write_text(
        "def later():\n    from . import part\n    return part.VALUE\n"
    )
    (here / "spec_pkg" / "part.py").write_text("VALUE = 'found'\n")
    later = load_object("spec_pkg:later")
    assert str(here) not in sys.path
    assert later() == "found"


def test_a_directory_already_on_sys_path_stays(here):
    sys.path.append(str(here))
    (here / "spec_kept.py").write_text("X = 1\n")
    assert load_object("spec_kept:X") == 1
    assert sys.path[-1] == str(here)
