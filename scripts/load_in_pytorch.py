#!/usr/bin/env python3
"""Load a nabla checkpoint (MLP or CNN) into the equivalent PyTorch nn.Sequential and compare logits.

usage: python scripts/load_in_pytorch.py RUN_DIR [--nabla PATH_TO_NABLA_BINARY]

Builds the nn.Sequential that RUN_DIR/config.toml describes, loads the newest checkpoint's
model.safetensors with safetensors.torch.load_file + load_state_dict (strict), feeds both
models the same random inputs, and checks that the logits agree (max abs diff <= 1e-4 in f32).
Needs: torch, safetensors (pip install torch safetensors). Run by hand; not part of the tests.
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
shape = cfg["model"]["input_shape"]
features = int(np.prod(shape))
def pair(v):
    return tuple(v) if isinstance(v, list) else (v, v)

layers = []
def out_shape():
    """The current output shape of one sample (batch excluded), by a dummy forward."""
    with torch.no_grad():
        return tuple(torch.nn.Sequential(*layers).eval()(torch.zeros(1, *shape)).shape[1:])

for spec in cfg["model"]["layers"]:
    t = spec["type"]
    cur = out_shape() if layers else tuple(shape)
    prev = cur[-1] if t != "batch_norm1d" or len(cur) == 1 else cur[0]
    if t == "linear":
        layers.append(torch.nn.Linear(cur[-1], spec["out"], bias=spec.get("bias", True)))
    elif t == "relu": layers.append(torch.nn.ReLU())
    elif t == "leaky_relu": layers.append(torch.nn.LeakyReLU(spec.get("negative_slope", 0.01)))
    elif t == "sigmoid": layers.append(torch.nn.Sigmoid())
    elif t == "tanh": layers.append(torch.nn.Tanh())
    elif t == "gelu": layers.append(torch.nn.GELU(approximate=spec.get("approximate") or "none"))
    elif t == "silu": layers.append(torch.nn.SiLU())
    elif t == "softmax": layers.append(torch.nn.Softmax(dim=-1))
    elif t == "flatten": layers.append(torch.nn.Flatten(spec.get("start_dim", 1), spec.get("end_dim", -1)))
    elif t == "dropout": layers.append(torch.nn.Dropout(spec["p"]))
    elif t == "dropout2d": layers.append(torch.nn.Dropout2d(spec["p"]))
    elif t == "layer_norm": layers.append(torch.nn.LayerNorm(cur[-1], eps=spec.get("eps", 1e-5)))
    elif t == "batch_norm1d": layers.append(torch.nn.BatchNorm1d(prev, eps=spec.get("eps", 1e-5), momentum=spec.get("momentum", 0.1)))
    elif t == "batch_norm2d": layers.append(torch.nn.BatchNorm2d(cur[0], eps=spec.get("eps", 1e-5), momentum=spec.get("momentum", 0.1)))
    elif t == "conv2d":
        layers.append(torch.nn.Conv2d(cur[0], spec["out"], pair(spec["kernel_size"]), stride=pair(spec.get("stride", 1)),
                                      padding=spec.get("padding", 0) if isinstance(spec.get("padding", 0), str) else pair(spec.get("padding", 0)),
                                      dilation=pair(spec.get("dilation", 1)), groups=spec.get("groups", 1), bias=spec.get("bias", True)))
    elif t == "conv1d":
        layers.append(torch.nn.Conv1d(cur[0], spec["out"], spec["kernel_size"], stride=spec.get("stride", 1), padding=spec.get("padding", 0),
                                      dilation=spec.get("dilation", 1), groups=spec.get("groups", 1), bias=spec.get("bias", True)))
    elif t == "conv_transpose2d":
        layers.append(torch.nn.ConvTranspose2d(cur[0], spec["out"], pair(spec["kernel_size"]), stride=pair(spec.get("stride", 1)),
                                               padding=pair(spec.get("padding", 0)), output_padding=pair(spec.get("output_padding", 0)),
                                               dilation=pair(spec.get("dilation", 1)), groups=spec.get("groups", 1), bias=spec.get("bias", True)))
    elif t == "max_pool2d":
        layers.append(torch.nn.MaxPool2d(pair(spec["kernel_size"]), stride=pair(spec.get("stride", spec["kernel_size"])), padding=pair(spec.get("padding", 0)),
                                         dilation=pair(spec.get("dilation", 1)), ceil_mode=spec.get("ceil_mode", False)))
    elif t == "avg_pool2d":
        layers.append(torch.nn.AvgPool2d(pair(spec["kernel_size"]), stride=pair(spec.get("stride", spec["kernel_size"])), padding=pair(spec.get("padding", 0)),
                                         ceil_mode=spec.get("ceil_mode", False), count_include_pad=spec.get("count_include_pad", True)))
    elif t == "adaptive_avg_pool2d": layers.append(torch.nn.AdaptiveAvgPool2d(pair(spec["output_size"])))
    elif t == "max_pool1d":
        layers.append(torch.nn.MaxPool1d(spec["kernel_size"], stride=spec.get("stride", spec["kernel_size"]), padding=spec.get("padding", 0),
                                         dilation=spec.get("dilation", 1), ceil_mode=spec.get("ceil_mode", False)))
    elif t == "avg_pool1d":
        layers.append(torch.nn.AvgPool1d(spec["kernel_size"], stride=spec.get("stride", spec["kernel_size"]), padding=spec.get("padding", 0),
                                         ceil_mode=spec.get("ceil_mode", False), count_include_pad=spec.get("count_include_pad", True)))
    else: sys.exit(f"unsupported layer type {t}")
model = torch.nn.Sequential(*layers).eval()

ckpt = sorted(glob.glob(os.path.join(args.run_dir, "checkpoints", "ckpt-*")))[-1]
state = load_file(os.path.join(ckpt, "model.safetensors"))
model.load_state_dict(state, strict=True)

rng = np.random.default_rng(0)
x = rng.random((16, features), dtype=np.float32)
with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    for row in x:
        f.write(",".join(repr(float(v)) for v in row) + "\n")
out = subprocess.run([args.nabla, "predict", args.run_dir, f.name, "--logits"], capture_output=True, text=True, check=True).stdout
ours = np.array([json.loads(l)["logits"] for l in out.splitlines() if l.startswith("{")], dtype=np.float32)
with torch.no_grad():
    theirs = model(torch.from_numpy(x).reshape(16, *shape)).numpy()
diff = float(np.abs(ours - theirs).max())
print(f"checkpoint {ckpt}: max abs logit difference nabla vs PyTorch = {diff:.3g}")
sys.exit(0 if diff <= 1e-4 else 1)
