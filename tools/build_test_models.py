"""Build the tiny random-weight test models (seconds, offline, seeded).

    python tools/build_test_models.py OUT_DIR      # writes OUT_DIR/intern-s1 and OUT_DIR/qwen3

Each is a Qwen3-architecture causal LM with random weights, a tokenizer trained here and our
chat template of that family (`tools/_templates.py`). They say nothing sensible; they exist to
test rendering, decoding, streaming, cancellation and KV-cache reuse through transformers.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.build_demo_model import build_tokenizer


def build_tiny(fmt: str, out: Path, seed: int = 0, *, hidden: int = 64, layers: int = 2) -> Path:
    """A random tiny model of family `fmt` ("intern-s1" or "qwen3") saved under `out`."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    if (out / "model.safetensors").exists():
        return out
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(fmt, random.Random(seed))
    # The family's default thinking (Intern-S1 thinks unless told not to).
    from tools._templates import TEMPLATES

    tokenizer.chat_template = TEMPLATES[fmt]
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=hidden // 32, num_key_value_heads=1, head_dim=32, max_position_embeddings=8192,
        tie_word_embeddings=True, initializer_range=0.5,
    )  # fmt: skip
    # A wide init: greedy decoding then wanders over the vocabulary instead of repeating one
    # token, so streaming and decoding tests see varied text, tags included.
    model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "test-models")
    for family in ("intern-s1", "qwen3"):
        print(build_tiny(family, root / family))
