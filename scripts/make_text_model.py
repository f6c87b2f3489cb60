#!/usr/bin/env python3
"""Train the demo text model: a 2-layer GPT-2 with the real GPT-2 vocabulary,
fitted briefly on the English behavior sentences of the bundled sample logs.

It replaces a converted Hugging Face checkpoint (gpt2, distilgpt2, a
Chinese GPT-2) in the tests and in the page's list of text models, because
a 124M-parameter model is too large to commit. The weights are saved as a Hugging Face folder
(config.json, model.safetensors, tokenizer.json) under out/, then converted
with the release CLI:

    behavior-lens convert --from out/text-demo --to www/models/text-demo.gguf --dtype q8_0

Requires torch, transformers, tokenizers and safetensors. Usage:
    python3 scripts/make_text_model.py [--steps 300]
"""

import argparse
import os
import random
import shutil
import subprocess

import torch
from tokenizers import Tokenizer
from transformers import GPT2Config, GPT2LMHeadModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGS = [
    "www/samples/rees46-2019-oct-head.csv",
    "tests/data/taobao-userbehavior-sample/UserBehavior.csv",
]
SEED = 42
CONTEXT = 128
BATCH = 16


def sentences(cli):
    """Renders each session of each sample log as an English sentence."""
    lines = []
    for log in LOGS:
        text = subprocess.run(
            [cli, "sequences", os.path.join(ROOT, log), "--lang", "en", "--by", "session", "--max-events", "24"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        lines.extend(line for line in text.splitlines() if "->" in line)
    return lines


def batches(token_rows, rng):
    """Yields [BATCH, CONTEXT] windows from the token stream, shuffled per pass."""
    stream = []
    for row in token_rows:
        stream.extend(row)
    windows = [stream[start : start + CONTEXT] for start in range(0, len(stream) - CONTEXT, CONTEXT)]
    while True:
        rng.shuffle(windows)
        for start in range(0, len(windows) - BATCH + 1, BATCH):
            yield torch.tensor(windows[start : start + BATCH])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default=os.path.join(ROOT, "out", "text-demo"))
    parser.add_argument("--gguf", default=os.path.join(ROOT, "www", "models", "text-demo.gguf"))
    args = parser.parse_args()

    cli = os.path.join(ROOT, "target", "release", "behavior-lens")
    subprocess.run(["cargo", "build", "--release", "--bin", "behavior-lens"], cwd=ROOT, check=True)
    tokenizer_path = os.path.join(ROOT, "assets", "gpt2", "tokenizer.json")
    tokenizer = Tokenizer.from_file(tokenizer_path)
    end_of_text = tokenizer.token_to_id("<|endoftext|>")

    lines = sentences(cli)
    rng = random.Random(SEED)
    rng.shuffle(lines)
    rows = [tokenizer.encode(line).ids + [end_of_text] for line in lines]
    print(f"{len(lines)} sentences, {sum(map(len, rows))} tokens")

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    config = GPT2Config(vocab_size=50257, n_positions=256, n_embd=32, n_layer=2, n_head=2)
    model = GPT2LMHeadModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=args.steps)
    model.train()
    for step, batch in zip(range(args.steps), batches(rows, rng)):
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 25 == 0 or step == args.steps - 1:
            print(f"step {step}: loss {loss.item():.3f}", flush=True)

    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    shutil.copy(tokenizer_path, os.path.join(args.out, "tokenizer.json"))
    subprocess.run([cli, "convert", "--from", args.out, "--to", args.gguf, "--dtype", "q8_0"], check=True)
    print(f"wrote {args.gguf} ({os.path.getsize(args.gguf)} bytes)")


if __name__ == "__main__":
    main()
