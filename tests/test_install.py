"""What the README's install command puts in the venv, and how the tests of an extra it leaves out skip."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def names(requirements: list[str]) -> set[str]:
    return {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in requirements}


def test_the_test_extra_leaves_out_xgrammar_which_pulls_triton():
    # xgrammar declares triton (about 1 GB, GPU kernels only) on Linux x86_64; on CPU it needs none of it.
    assert "xgrammar" not in names(extras()["test"])
    assert "xgrammar" in names(extras()["grammar"])


def test_ci_installs_xgrammar_without_its_dependencies_so_the_grammar_tests_run():
    script = (ROOT / ".ci/run").read_text()
    line = next(line for line in script.splitlines() if "xgrammar" in line and "pip install" in line)
    assert "--no-deps" in line and "apache-tvm-ffi" in line and "triton" not in line


def test_without_xgrammar_the_grammar_tests_skip_naming_the_extra(tmp_path):
    (tmp_path / "no_xgrammar.py").write_text("import sys\nsys.modules['xgrammar'] = None\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/test_grammar.py", "-p", "no_xgrammar", "-rs", "-q",
                           "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=240,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{tmp_path}"})  # fmt: skip
    assert "1 skipped" in done.stdout, done.stdout[-2000:]
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, done.stdout[-2000:]
    assert "pip install 'agentkit[grammar]'" in skipped[0], skipped
