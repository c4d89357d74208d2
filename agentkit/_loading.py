"""Loading a transformers model and its processor from a hub id, a directory or one GGUF file."""

from __future__ import annotations

import importlib
import struct
from pathlib import Path
from typing import Any

from .exceptions import UserError

GGUF_MAGIC = b"GGUF"


def load_pretrained(
    transformers: Any,
    model_id_or_path: str | Path,
    *,
    device_map: str | dict[str, Any] | None,
    dtype: str | Any,
    trust_remote_code: bool,
) -> tuple[Any, Any]:
    """(model, processor or tokenizer) for `LocalModel`.

    A path ending in ``.gguf`` is one file holding weights, tokenizer and chat template: it goes
    to transformers' GGUF support (``gguf_file=``), which dequantizes the weights.
    """
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": trust_remote_code}
    if device_map is not None and (device_map != "auto" or has_module("accelerate")):
        kwargs["device_map"] = device_map
    if str(model_id_or_path).lower().endswith(".gguf"):
        return _load_gguf(transformers, Path(model_id_or_path), kwargs)
    path = str(model_id_or_path)
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except ValueError:  # a vision-language model registered only as image-text-to-text
        model = transformers.AutoModelForImageTextToText.from_pretrained(path, **kwargs)
    try:
        processor = transformers.AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError):
        processor = transformers.AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    return model, processor


def _load_gguf(transformers: Any, path: Path, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    # Checked here: transformers would report a missing or foreign file as "not a valid JSON file".
    if not path.is_file():
        raise UserError(f"no GGUF file at {path}")
    with path.open("rb") as f:
        if f.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
            raise UserError(f"{path} is not a GGUF file (it does not start with {GGUF_MAGIC!r})")
    missing = [name for name in ("gguf", "accelerate") if not has_module(name)]
    if missing:
        raise UserError(
            f"loading a GGUF file needs {' and '.join(missing)} (transformers' GGUF support): "
            "pip install 'agentkit[local]'"
        )
    where = {"gguf_file": path.name}
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), **where, **kwargs)
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), **where)
    except (struct.error, ValueError, IndexError, KeyError, EOFError, UnicodeDecodeError, OSError) as e:
        # A corrupt file (GGUF's magic, then a broken header) reaches transformers' gguf reader,
        # whose raw errors (struct.error...) would come through; as would a foreign architecture.
        raise UserError(f"{path} cannot be loaded as a GGUF file ({type(e).__name__}: {str(e)[:200]})") from e
    return model, tokenizer


def has_module(name: str) -> bool:
    """Whether `name` imports (a module set to None in ``sys.modules`` does not, as Python has it)."""
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True
