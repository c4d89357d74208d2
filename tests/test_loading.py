"""LocalModel's loading: a hub id, a directory, or a single GGUF file (transformers' GGUF support).

The real GGUF model (SmolLM2) is loaded in tests/test_smollm2.py; here, what a user gets when a
GGUF file cannot be loaded.
"""

import struct
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from agentkit import LocalModel, UserError
from tests import smollm2


def test_a_missing_gguf_file_is_a_user_error_naming_it(tmp_path):
    missing = tmp_path / "nothing-here.gguf"
    with pytest.raises(UserError, match=r"nothing-here\.gguf"):
        LocalModel(missing)


@pytest.mark.parametrize("package", ["gguf", "accelerate"])
def test_loading_gguf_without_its_packages_says_what_to_install(monkeypatch, package):
    path = smollm2.gguf()
    monkeypatch.setitem(sys.modules, package, None)  # import fails as when it is not installed
    with pytest.raises(UserError, match=rf"{package}.*agentkit\[local\]"):
        LocalModel(path)


def test_a_file_that_is_not_gguf_is_a_user_error(tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a gguf file at all")
    with pytest.raises(UserError, match=r"fake\.gguf is not a GGUF file"):
        LocalModel(fake)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("truncated.gguf", b"GGUF\x00\x00\x00\x00"),
        # A header that claims a 1 TiB string: read by offset arithmetic before any size check.
        ("huge_string.gguf", b"GGUF" + struct.pack("<IQQQ", 3, 0, 1, 2**40) + b"a" * 16),
    ],
)
def test_a_corrupt_gguf_file_is_a_user_error_naming_it(tmp_path, name, data):
    """attack-28 09: GGUF's magic but a broken header; not the gguf reader's raw struct.error."""
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    broken = tmp_path / name
    broken.write_bytes(data)
    with pytest.raises(UserError, match=rf"{name.replace('.', r'[.]')} cannot be loaded as a GGUF file"):
        LocalModel(str(broken))
