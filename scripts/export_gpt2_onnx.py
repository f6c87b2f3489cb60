"""Export a randomly initialised GPT-2-124M for the onnxruntime-web comparison.

Writes into OUT (default out/gpt2-peer, which git ignores):
  hf/config.json, hf/model.safetensors  Hugging Face folder that
      Gpt2Model::from_hf_dir and Gpt2Model::from_safetensors_bytes load
  model.onnx  the same weights; input `input_ids` [batch, seq] (int64),
      output `logits` [batch, vocab] for the last position of each row

The ONNX graph returns only the last position's logits, because the
benchmark's own prefill also applies the language-model head only there.
Weights come from `GPT2LMHeadModel(GPT2Config())` under a fixed seed:
normal(0, 0.02) matrices, zero biases, LayerNorm weights 1 and biases 0.

Usage: /tmp/venv/bin/python scripts/export_gpt2_onnx.py [OUT]
Needs torch, transformers and onnx.
"""

import sys
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel

SEED = 0
OPSET = 17


class LastPositionLogits(torch.nn.Module):
    """GPT-2 whose output is the logits of each row's last position."""

    def __init__(self, model: GPT2LMHeadModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        hidden = self.model.transformer(input_ids=input_ids).last_hidden_state
        return self.model.lm_head(hidden[:, -1, :])


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/gpt2-peer")
    hf_dir = out / "hf"
    hf_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(SEED)
    config = GPT2Config(attn_implementation="eager")
    model = GPT2LMHeadModel(config).eval()
    model.save_pretrained(hf_dir, safe_serialization=True)

    wrapper = LastPositionLogits(model).eval()
    example = torch.zeros((2, 16), dtype=torch.int64)
    onnx_path = out / "model.onnx"
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            (example,),
            str(onnx_path),
            input_names=["input_ids"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )

    import onnx

    onnx.checker.check_model(str(onnx_path))
    print(f"wrote {hf_dir}/model.safetensors and {onnx_path} ({onnx_path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
