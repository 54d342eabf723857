#!/usr/bin/env python3
"""Load a nabla text-model checkpoint (Embedding, LSTM layers, Linear) into the equivalent
PyTorch model (nn.Embedding, nn.LSTM(batch_first=True), nn.Linear) and compare the outputs.

usage: python scripts/load_lstm_in_pytorch.py RUN_DIR [--nabla PATH_TO_NABLA_BINARY]

Builds the PyTorch model from RUN_DIR/config.toml, loads the newest checkpoint's
model.safetensors (nabla's names are PyTorch's: `0.weight`, `1.weight_ih_l0`, ...; strict),
feeds both models the same text (`nabla predict RUN_DIR FILE --logits` gives nabla's logits
at every position) and checks that they agree (max abs diff <= 1e-4 in f32).
Needs: torch, safetensors. Run by hand; not part of the tests.
"""
import argparse, glob, json, os, subprocess, sys, tempfile, tomllib

import numpy as np
import torch
from safetensors.torch import load_file

ap = argparse.ArgumentParser()
ap.add_argument("run_dir")
ap.add_argument("--nabla", default="target/release/nabla")
args = ap.parse_args()

cfg = tomllib.load(open(os.path.join(args.run_dir, "config.toml"), "rb"))
vocab = json.load(open(os.path.join(args.run_dir, "vocab.json")))
chars = vocab["chars"] if isinstance(vocab, dict) else vocab


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mods = torch.nn.ModuleList()
        feat = None
        for spec in cfg["model"]["layers"]:
            t = spec["type"]
            if t == "embedding":
                self.mods.append(torch.nn.Embedding(spec["num"], spec["dim"])); feat = spec["dim"]
            elif t in ("lstm", "gru", "rnn"):
                kw = dict(num_layers=spec.get("num_layers", 1), bidirectional=spec.get("bidirectional", False),
                          dropout=spec.get("dropout", 0.0), bias=spec.get("bias", True), batch_first=True)
                if t == "lstm": m = torch.nn.LSTM(feat, spec["hidden"], **kw)
                elif t == "gru": m = torch.nn.GRU(feat, spec["hidden"], **kw)
                else: m = torch.nn.RNN(feat, spec["hidden"], nonlinearity=spec.get("nonlinearity", "tanh"), **kw)
                self.mods.append(m); feat = spec["hidden"] * (2 if kw["bidirectional"] else 1)
            elif t == "linear":
                self.mods.append(torch.nn.Linear(feat, spec["out"], bias=spec.get("bias", True))); feat = spec["out"]
            elif t == "dropout": self.mods.append(torch.nn.Dropout(spec["p"]))
            else: sys.exit(f"unsupported layer type {t}")

    def forward(self, x):
        for m in self.mods:
            x = m(x)
            if isinstance(x, tuple):
                x = x[0]
        return x


net = Net().eval()
ckpt = sorted(glob.glob(os.path.join(args.run_dir, "checkpoints", "ckpt-*")))[-1]
state = {f"mods.{k}": v for k, v in load_file(os.path.join(ckpt, "model.safetensors")).items()}
net.load_state_dict(state, strict=True)

rng = np.random.default_rng(0)
text = "".join(chars[i] for i in rng.integers(0, len(chars), 200))
with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
    f.write(text)
out = subprocess.run([args.nabla, "predict", args.run_dir, f.name, "--logits"], capture_output=True,
                     text=True, check=True).stdout
ours = np.array([json.loads(l)["logits"] for l in out.splitlines() if l.startswith("{")], dtype=np.float32)
ids = torch.tensor([[chars.index(c) for c in text]])
with torch.no_grad():
    theirs = net(ids)[0].numpy()
diff = float(np.abs(ours - theirs).max())
print(f"checkpoint {ckpt}: {len(text)} positions, max abs logit difference nabla vs PyTorch = {diff:.3g}")
sys.exit(0 if diff <= 1e-4 else 1)
