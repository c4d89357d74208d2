"""Build llama.cpp's `llama-server` from PyPI's llama-cpp-python sdist, cached.

    python tools/llama_server.py          # prints the binary's path, building it if needed

The sdist vendors llama.cpp (with `convert_hf_to_gguf.py`); only the server target is built,
statically, without the web UI (whose build would download it). The result lives under
``~/.cache/agentkit/llama.cpp-<version>/`` and is reused by later runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.3.36"
CACHE = Path(os.environ.get("AGENTKIT_CACHE", Path.home() / ".cache" / "agentkit"))
ROOT = CACHE / f"llama.cpp-{VERSION}"
BINARY = ROOT / "build" / "bin" / "llama-server"
SOURCE = ROOT / "src"


def source() -> Path:
    """The vendored llama.cpp source tree (downloaded from PyPI once)."""
    if (SOURCE / "CMakeLists.txt").exists():
        return SOURCE
    ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", f"llama-cpp-python=={VERSION}",
             "--no-binary", ":all:", "--no-deps", "-d", tmp],
            check=True,
        )  # fmt: skip
        (archive,) = Path(tmp).glob("llama_cpp_python-*.tar.gz")
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        (unpacked,) = Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp")
        shutil.rmtree(SOURCE, ignore_errors=True)
        shutil.move(str(unpacked), SOURCE)
    return SOURCE


def build() -> Path:
    """Path of a working llama-server binary, building it when the cache has none."""
    if BINARY.exists():
        return BINARY
    src = source()
    build_dir = ROOT / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run(
        ["cmake", "-S", str(src), "-B", str(build_dir), *generator, "-DCMAKE_BUILD_TYPE=Release",
         "-DGGML_NATIVE=OFF", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_CURL=OFF",
         "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_BUILD_TESTS=OFF",
         "-DLLAMA_BUILD_EXAMPLES=OFF"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    jobs = str(os.cpu_count() or 2)
    subprocess.run(
        ["cmake", "--build", str(build_dir), "--target", "llama-server", "-j", jobs],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    if not BINARY.exists():
        raise SystemExit(f"build finished but {BINARY} is missing")
    return BINARY


if __name__ == "__main__":
    print(build())
