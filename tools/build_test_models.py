"""Build the tiny random-weight test models (seconds, offline, seeded).

    python tools/build_test_models.py OUT_DIR      # writes OUT_DIR/intern-s1, OUT_DIR/qwen3 and OUT_DIR/qwen3-coder

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
    """A random tiny model of family `fmt` ("intern-s1", "qwen3" or "qwen3-coder") saved under `out`."""
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
    for family in ("intern-s1", "qwen3", "qwen3-coder"):
        print(build_tiny(family, root / family))


def build_tiny_vlm(out: Path, seed: int = 0) -> Path:
    """A random tiny LLaVA (CLIP vision tower) with a real `LlavaProcessor`: image parts reach it as pixels.

    LLaVA, because its processor takes images only: transformers' video processors need
    torchvision, which has no CPU build here.
    """
    import torch
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from tools._templates import TEMPLATES

    if (out / "model.safetensors").exists():
        return out
    torch.manual_seed(seed)
    tokenizer = build_tokenizer("qwen3", random.Random(seed))
    tokenizer.add_tokens(["<image>"], special_tokens=True)
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    config = LlavaConfig(
        vision_config={"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 28, "patch_size": 14},
        text_config={"model_type": "qwen3", "vocab_size": len(tokenizer), "hidden_size": 64, "intermediate_size": 128,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32,
                     "max_position_embeddings": 4096, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        image_token_index=image_id, vision_feature_select_strategy="default", vision_feature_layer=-1,
    )  # fmt: skip
    model = LlavaForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}),
        tokenizer=tokenizer,
        patch_size=14,
        num_additional_image_tokens=1,  # CLIP's class token, which "default" then drops
        vision_feature_select_strategy="default",
        image_token="<image>",
        chat_template=TEMPLATES["qwen3"].replace("<|vision_start|><|image_pad|><|vision_end|>", "<image>"),
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    return out
