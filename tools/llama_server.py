"""Build llama.cpp's `llama-server` from PyPI's llama-cpp-python sdist, cached.

    python tools/llama_server.py          # prints the binary's path, building it if needed

The sdist vendors llama.cpp (with `convert_hf_to_gguf.py`); only the server target is built,
statically, without the web UI (whose build would download it). The result lives under
``~/.cache/agentkit/llama.cpp-<version>/`` and is reused by later runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
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
        _run(
            [sys.executable, "-m", "pip", "download", "-q", f"llama-cpp-python=={VERSION}",
             "--no-binary", ":all:", "--no-deps", "-d", tmp],
            lambda line: None,
        )  # fmt: skip
        (archive,) = Path(tmp).glob("llama_cpp_python-*.tar.gz")
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        (unpacked,) = Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp")
        shutil.rmtree(SOURCE, ignore_errors=True)
        shutil.move(str(unpacked), SOURCE)
    return SOURCE


def build(progress: Callable[[str], None] | None = None) -> Path:
    """Path of a working llama-server binary, building it when the cache has none.

    `progress` receives a line now and then (the build takes minutes on 2 cores); the build's
    own output is kept back and shown only if it fails.
    """
    if BINARY.exists():
        return BINARY
    say = progress or (lambda line: None)
    say(f"building llama.cpp's llama-server {VERSION} into {ROOT} (once; a few minutes on 2 cores)")
    src = source()
    build_dir = ROOT / "build"
    # PyPI's ninja (the test extra) sits next to this interpreter; a system one works too.
    ninja = Path(sys.executable).with_name("ninja")
    ninja_path = str(ninja) if ninja.exists() else shutil.which("ninja")
    generator = ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja_path}"] if ninja_path else []
    _run(
        ["cmake", "-S", str(src), "-B", str(build_dir), *generator, "-DCMAKE_BUILD_TYPE=Release",
         "-DGGML_NATIVE=OFF", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_CURL=OFF",
         "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_BUILD_TESTS=OFF",
         "-DLLAMA_BUILD_EXAMPLES=OFF"],
        say,
    )  # fmt: skip
    jobs = str(os.cpu_count() or 2)
    _run(["cmake", "--build", str(build_dir), "--target", "llama-server", "-j", jobs], say)
    if not BINARY.exists():
        raise SystemExit(f"build finished but {BINARY} is missing")
    say(f"built {BINARY}")
    return BINARY


_STEP = re.compile(r"^\[(\d+)/(\d+)\]")


def _run(command: list[str], say: Callable[[str], None]) -> None:
    """Run a build step; report each tenth of ninja's steps; show the output only on failure.

    The sdist is not a git checkout, so llama.cpp's build-info step prints "fatal: not a git
    repository" lines that mean nothing here: they stay in the kept-back output.
    """
    output: list[str] = []
    shown = -1
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if (m := _STEP.match(line)) is not None:
                done, total = int(m.group(1)), int(m.group(2))
                tenth = done * 10 // total
                if tenth > shown:
                    shown = tenth
                    say(f"  llama-server build: step {done}/{total}")
    if proc.returncode != 0:
        tail = "".join(output[-60:])
        raise RuntimeError(f"{' '.join(command[:3])} ... failed (exit {proc.returncode}):\n{tail}")


if __name__ == "__main__":
    print(build(progress=lambda line: print(line, file=sys.stderr, flush=True)))


_CONVERT = """
import runpy, sys
src = sys.argv[1]
sys.path[:0] = [src, src + "/gguf-py"]
import conversion.base as base
# Our tokenizers are trained here: the converter does not know their pre-tokenizer hash.
# Qwen2's regex is the nearest llama.cpp has (digits one by one, as ours).
def no_sentencepiece(self, *args, **kwargs):
    raise FileNotFoundError("a BPE tokenizer, no sentencepiece model")  # -> the GPT-2 style vocab path
markers = set(sys.argv[4].split(","))
for cls in vars(base).values():
    if isinstance(cls, type) and "does_token_look_special" in vars(cls):
        looks_special = cls.does_token_look_special
        cls.does_token_look_special = lambda self, token, f=looks_special: (
            False if (token.decode() if isinstance(token, bytes) else token) in markers else f(self, token)
        )
    if isinstance(cls, type) and "get_vocab_base_pre" in vars(cls):
        cls.get_vocab_base_pre = lambda self, tokenizer: "qwen2"
    if isinstance(cls, type) and "_set_vocab_sentencepiece" in vars(cls):
        cls._set_vocab_sentencepiece = no_sentencepiece
sys.argv = ["convert_hf_to_gguf.py", sys.argv[2], "--outfile", sys.argv[3], "--outtype", "f32"]
runpy.run_path(src + "/convert_hf_to_gguf.py", run_name="__main__")
"""


# llama.cpp leaves control tokens out of the text it returns; tool-call markers must reach the
# client (or its own parser), so in the GGUF they are user-defined tokens, which it renders.
MARKERS = ("<|action_start|>", "<|action_end|>", "<|plugin|>")


def convert(model_dir: Path, out: Path) -> Path:
    """Convert a Hugging Face model directory to GGUF with llama.cpp's own converter."""
    import json

    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    with tempfile.TemporaryDirectory() as staging:
        copy = Path(staging) / "model"
        shutil.copytree(model_dir, copy)
        tokenizer = json.loads((copy / "tokenizer.json").read_text())
        for token in tokenizer.get("added_tokens", []):
            if token["content"] in MARKERS:
                token["special"] = False
        (copy / "tokenizer.json").write_text(json.dumps(tokenizer))
        config_path = copy / "tokenizer_config.json"
        config = json.loads(config_path.read_text())
        for token in config.get("added_tokens_decoder", {}).values():
            if token.get("content") in MARKERS:
                token["special"] = False
        config["extra_special_tokens"] = [t for t in config.get("extra_special_tokens", []) if t not in MARKERS]
        config["additional_special_tokens"] = [
            t for t in config.get("additional_special_tokens", []) if t not in MARKERS
        ]
        config_path.write_text(json.dumps(config))
        subprocess.run(
            [sys.executable, "-c", _CONVERT, str(source()), str(copy), str(tmp), ",".join(MARKERS)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
    tmp.rename(out)
    return out


def demo_gguf() -> Path:
    """The built-in demo model as GGUF, cached by the checksum of its weights."""
    import hashlib

    demo = Path(__file__).resolve().parent.parent / "agentkit" / "_demo"
    digest = hashlib.sha256()
    for name in sorted(p.name for p in demo.iterdir() if p.is_file()):
        digest.update(name.encode() + b"\0" + (demo / name).read_bytes())
    return convert(demo, CACHE / "gguf" / f"demo-{digest.hexdigest()[:16]}-v4.gguf")


class Server:
    """A llama-server process on 127.0.0.1 serving `gguf`; a context manager."""

    def __init__(self, gguf: Path, *, jinja: bool = True, slots: int = 4) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        args = [str(build()), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(self.port),
                "-c", "8192", "-np", str(slots), "-t", "2", "--no-webui"]  # fmt: skip
        if jinja:
            args.append("--jinja")
        self.args = args
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        import time
        import urllib.request

        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama-server exited: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("llama-server did not become healthy in 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            if self.process.stderr:
                self.process.stderr.close()
