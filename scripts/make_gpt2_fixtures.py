#!/usr/bin/env python3
"""Write GPT-2 reference fixtures for the Rust parity tests.

Each fixture is a small randomly initialised Hugging Face GPT-2 model with a
fixed seed, saved with `save_pretrained` (config.json, model.safetensors),
plus `expected.safetensors` with the inputs and the outputs that
`transformers` computes for them in float32:

    single_ids     [1, S]     one unpadded sequence
    single_hidden  [1, S, E]  final LayerNorm output
    single_logits  [1, S, V]
    batch_ids      [B, S]     right-padded batch (pad id 0)
    batch_mask     [B, S]     1 for real tokens, 0 for padding
    batch_hidden   [B, S, E]
    batch_logits   [B, S, V]

Requires torch, transformers and safetensors. Usage:
    python3 scripts/make_gpt2_fixtures.py [--out tests/data/gpt2/fixtures]
"""

import argparse
import os

import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

VOCAB_SIZE = 97

# name -> (seed, config overrides, save as GPT2Model names, store weights as float16).
# The quantization fixture is also trained briefly (see `train_on_successor_map`)
# so its predictions are confident, like a trained model's, rather than near-ties.
FIXTURES = {
    "tiny_lmhead": (1, dict(n_embd=32, n_head=4, n_layer=2, n_positions=32), False, False),
    "odd_heads_base": (
        2,
        dict(n_embd=36, n_head=3, n_layer=2, n_positions=24, n_inner=50),
        True,
        False,
    ),
    "tiny_f16": (3, dict(n_embd=24, n_head=2, n_layer=1, n_positions=16), False, True),
    "quant_lmhead": (
        4,
        dict(n_embd=64, n_head=4, n_layer=2, n_positions=64, n_inner=256),
        False,
        False,
    ),
}


def build_model(seed, overrides):
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=VOCAB_SIZE,
        bos_token_id=VOCAB_SIZE - 1,
        eos_token_id=VOCAB_SIZE - 1,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        **overrides,
    )
    model = GPT2LMHeadModel(config)
    # Random LayerNorm parameters so the tests notice a swapped weight and bias.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".ln_" in name or name.startswith("transformer.ln_f"):
                parameter.add_(0.1 * torch.randn_like(parameter))
    return model.eval()


def train_on_successor_map(model, seed, steps=300):
    """Train on sequences where each token mostly follows a fixed random successor map."""
    generator = torch.Generator().manual_seed(200 + seed)
    successor = torch.randperm(VOCAB_SIZE - 1, generator=generator) + 1
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        ids = torch.empty((16, model.config.n_positions), dtype=torch.long)
        ids[:, 0] = torch.randint(1, VOCAB_SIZE, (16,), generator=generator)
        for position in range(1, ids.shape[1]):
            noise = torch.rand(16, generator=generator) < 0.1
            random_ids = torch.randint(1, VOCAB_SIZE, (16,), generator=generator)
            ids[:, position] = torch.where(noise, random_ids, successor[ids[:, position - 1] - 1])
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    print(f"trained fixture for {steps} steps, final loss {loss.item():.3f}")


def run(model, ids, mask):
    with torch.no_grad():
        output = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    return output.hidden_states[-1].contiguous(), output.logits.contiguous()


def make_inputs(seed, n_positions):
    generator = torch.Generator().manual_seed(100 + seed)
    single_len = min(12, n_positions)
    single_ids = torch.randint(1, VOCAB_SIZE, (1, single_len), generator=generator)
    lengths = [single_len, single_len - 3, 4]
    batch_ids = torch.zeros((len(lengths), single_len), dtype=torch.long)
    batch_mask = torch.zeros((len(lengths), single_len), dtype=torch.long)
    for row, length in enumerate(lengths):
        batch_ids[row, :length] = torch.randint(1, VOCAB_SIZE, (length,), generator=generator)
        batch_mask[row, :length] = 1
    return single_ids, batch_ids, batch_mask


def write_fixture(out_dir, name, seed, overrides, base_names, half):
    model = build_model(seed, overrides)
    if name == "quant_lmhead":
        train_on_successor_map(model, seed)
    if half:
        # Round the weights to float16 first so the float32 reference uses the stored values.
        model = model.half().float()
    target = os.path.join(out_dir, name)
    os.makedirs(target, exist_ok=True)
    saved = model.transformer if base_names else model
    if half:
        saved = saved.half()
    saved.save_pretrained(target, safe_serialization=True)
    saved.float()

    single_ids, batch_ids, batch_mask = make_inputs(seed, model.config.n_positions)
    single_hidden, single_logits = run(model, single_ids, torch.ones_like(single_ids))
    batch_hidden, batch_logits = run(model, batch_ids, batch_mask)
    expected = {
        "single_ids": single_ids.to(torch.int64),
        "single_hidden": single_hidden,
        "single_logits": single_logits,
        "batch_ids": batch_ids.to(torch.int64),
        "batch_mask": batch_mask.to(torch.int64),
        "batch_hidden": batch_hidden,
        "batch_logits": batch_logits,
    }
    save_file(expected, os.path.join(target, "expected.safetensors"))
    sizes = {f: os.path.getsize(os.path.join(target, f)) for f in sorted(os.listdir(target))}
    print(name, sizes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/data/gpt2/fixtures")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    for name, (seed, overrides, base_names, half) in FIXTURES.items():
        write_fixture(args.out, name, seed, overrides, base_names, half)


if __name__ == "__main__":
    main()
