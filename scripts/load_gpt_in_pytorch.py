#!/usr/bin/env python3
"""Loads a nabla character-GPT run into PyTorch and a PyTorch one back into nabla, and
compares the logits both ways (max abs diff <= 1e-4 in f32).

usage: python scripts/load_gpt_in_pytorch.py RUN_DIR [--nabla PATH_TO_NABLA_BINARY]

RUN_DIR is a run of a config such as configs/shakespeare-gpt.toml: embedding,
positional_embedding (learned), transformer, a linear head (tied to the embedding or not).
The PyTorch model is built from RUN_DIR/config.toml out of PyTorch's own layers under
nabla's state_dict names: `0` nn.Embedding, `1` the position table (`1.weight`), `2`
nn.TransformerEncoder (`2.layers.N.self_attn.in_proj_weight`, `...linear1.weight`,
`...norm1.weight`, `2.norm.weight`) or one nn.TransformerEncoderLayer, `3` nn.Linear.

1. nabla -> PyTorch: the newest checkpoint's model.safetensors loads by name (strict but
   for a tied head's weight, which nabla stores once and the model ties again), and
   PyTorch's logits over a text are compared with `nabla predict RUN_DIR FILE --logits`.
2. PyTorch -> nabla: a PyTorch model of the same config, its weights drawn afresh and
   trained for a few AdamW steps in PyTorch, is saved as the model.safetensors of a copy
   of the run; `nabla predict` on the copy gives PyTorch's logits.
Needs: torch, safetensors, numpy. Run by hand; not part of the tests.
"""
import argparse, glob, json, os, shutil, subprocess, sys, tempfile, tomllib

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

ap = argparse.ArgumentParser()
ap.add_argument("run_dir")
ap.add_argument("--nabla", default="target/release/nabla")
args = ap.parse_args()

cfg = tomllib.load(open(os.path.join(args.run_dir, "config.toml"), "rb"))
vocab = json.load(open(os.path.join(args.run_dir, "vocab.json")))
chars = vocab["chars"] if isinstance(vocab, dict) else vocab
V = len(chars)


class Positions(nn.Module):
    def __init__(self, max_len, e):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(max_len, e))

    def forward(self, x):
        return x + self.weight[: x.shape[1]]


class GPT(nn.Module):
    """nabla's Sequential of a GPT config, from PyTorch's layers, under nabla's names."""

    def __init__(self):
        super().__init__()
        e, tied, self.causal, self.max_len = None, False, False, None
        for i, spec in enumerate(cfg["model"]["layers"]):
            t = spec["type"]
            if t == "embedding":
                e = spec["dim"]
                m = nn.Embedding(V, e)
            elif t == "positional_embedding":
                if spec.get("kind", "learned") != "learned":
                    sys.exit("only learned positions are built here")
                self.max_len = spec["max_len"]
                m = Positions(spec["max_len"], e)
            elif t == "transformer":
                first = spec.get("norm_first", False)
                bias = spec.get("bias", True)
                layer = nn.TransformerEncoderLayer(
                    e, spec["heads"], spec.get("dim_feedforward", 4 * e),
                    dropout=spec.get("dropout", 0.1), activation=spec.get("activation", "relu"),
                    layer_norm_eps=spec.get("layer_norm_eps", 1e-5), batch_first=True,
                    norm_first=first, bias=bias)
                final = spec.get("final_norm", first)
                self.causal = spec.get("causal", False)
                if spec.get("layers", 1) == 1 and not final:
                    m = layer
                else:
                    norm = nn.LayerNorm(e, eps=spec.get("layer_norm_eps", 1e-5), bias=bias) if final else None
                    m = nn.TransformerEncoder(layer, spec.get("layers", 1), norm=norm,
                                              enable_nested_tensor=False)
            elif t == "linear":
                m = nn.Linear(e, spec["out"], bias=spec.get("bias", True))
                if spec.get("tie") == "embedding":
                    m.weight = self._modules["0"].weight
                    tied = True
            else:
                sys.exit(f"layer type {t} is not built here")
            self.add_module(str(i), m)
        self.tied_key = f"{len(cfg['model']['layers']) - 1}.weight" if tied else None

    def forward(self, x):
        for name, m in self._modules.items():
            if isinstance(m, (nn.TransformerEncoder, nn.TransformerEncoderLayer)):
                t = x.shape[1]
                mask = nn.Transformer.generate_square_subsequent_mask(t) if self.causal else None
                x = m(x, mask, is_causal=self.causal) if isinstance(m, nn.TransformerEncoder) \
                    else m(x, src_mask=mask, is_causal=self.causal)
            else:
                x = m(x)
        return x

    def nabla_state(self):
        """The state_dict as nabla stores it: a tied weight once."""
        sd = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        if self.tied_key:
            sd.pop(self.tied_key)
        return sd


def nabla_logits(run, text):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(text)
    out = subprocess.run([args.nabla, "predict", run, f.name, "--logits"], capture_output=True,
                         text=True, check=True).stdout
    return np.array([json.loads(l)["logits"] for l in out.splitlines() if l.startswith("{")],
                    dtype=np.float32).reshape(len(text), V)


def torch_logits(net, text):
    ids = torch.tensor([[chars.index(c) for c in text]])
    with torch.no_grad():
        return net(ids)[0].numpy()


rng = np.random.default_rng(0)
text = "".join(chars[i] for i in rng.integers(0, V, 100))

# 1. nabla -> PyTorch
net = GPT().eval()
ckpt = sorted(glob.glob(os.path.join(args.run_dir, "checkpoints", "ckpt-*")))[-1]
state = load_file(os.path.join(ckpt, "model.safetensors"))
missing, unexpected = net.load_state_dict(state, strict=False)
assert not unexpected and missing == ([net.tied_key] if net.tied_key else []), (missing, unexpected)
d1 = float(np.abs(nabla_logits(args.run_dir, text) - torch_logits(net, text)).max())
print(f"nabla -> PyTorch: {ckpt}, {len(text)} positions, max abs logit difference = {d1:.3g}")

# 2. PyTorch -> nabla: a fresh PyTorch model trained a few steps, saved into a copy of the run
torch.manual_seed(1)
theirs = GPT()
opt = torch.optim.AdamW(theirs.parameters(), lr=3e-3)
data = torch.tensor([chars.index(c) for c in text * 2])
T = min(theirs.max_len or 64, 64)
for step in range(20):
    i = int(rng.integers(0, len(data) - T - 1))
    x, y = data[i: i + T][None], data[i + 1: i + T + 1]
    loss = nn.functional.cross_entropy(theirs(x)[0], y)
    opt.zero_grad()
    loss.backward()
    opt.step()
theirs.eval()
copy = tempfile.mkdtemp(prefix="gpt-from-torch-")
for f in ("config.toml", "vocab.json"):
    shutil.copy(os.path.join(args.run_dir, f), copy)
os.makedirs(os.path.join(copy, "checkpoints", "ckpt-0000000001"))
save_file(theirs.nabla_state(), os.path.join(copy, "checkpoints", "ckpt-0000000001", "model.safetensors"))
d2 = float(np.abs(nabla_logits(copy, text) - torch_logits(theirs, text)).max())
print(f"PyTorch -> nabla: 20 AdamW steps in PyTorch, {len(text)} positions, max abs logit difference = {d2:.3g}")
shutil.rmtree(copy)
sys.exit(0 if max(d1, d2) <= 1e-4 else 1)
