#!/usr/bin/env python3
"""A trained run through `nabla export` and ONNX Runtime: the file's outputs on raw CSV rows
must equal `nabla predict RUN --logits` on the same rows (rtol 1e-3, atol 1e-5).

usage: python scripts/onnx_smoke.py RUN_DIR MODEL.onnx NABLA_BINARY

For runs whose samples are feature rows (the digits MLP, CSV runs) and for text models (the
file takes int64 character ids; MODEL.vocab.json, written by `nabla export`, maps them to
characters, and `nabla predict` gives the next-character logits at every position). Needs
numpy, onnx, onnxruntime. `.ci/run` runs it on briefly trained digits, diabetes and
character-GPT runs.
"""
import json, subprocess, sys, tempfile

import numpy as np
import onnx
import onnxruntime as ort

run, model, nabla = sys.argv[1:4]
onnx.checker.check_model(onnx.load(model), full_check=True)
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
inp = sess.get_inputs()[0]
if inp.type == "tensor(int64)":
    # a text model: a random text of the run's characters, its ids through the file
    chars = json.load(open(model[: -len(".onnx")] + ".vocab.json"))["chars"]
    ids = rng.integers(0, len(chars), size=(1, 12)).astype(np.int64)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(chars[i] for i in ids[0]))
    out = subprocess.run([nabla, "predict", run, f.name, "--logits"], capture_output=True,
                         text=True, check=True).stdout
    rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    ours = np.array([r["logits"] for r in sorted(rows, key=lambda r: r["position"])],
                    dtype=np.float32)
    theirs = sess.run(None, {"input": ids})[0][0]
    what = "12 characters"
else:
    features = inp.shape[1]
    rows = rng.integers(0, 17, size=(7, features)).astype(np.float32)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("\n".join(",".join(str(int(v)) for v in r) for r in rows) + "\n")
    out = subprocess.run([nabla, "predict", run, f.name, "--logits"], capture_output=True,
                         text=True, check=True).stdout
    ours = np.array([json.loads(l)["logits"] for l in out.splitlines() if l.startswith("{")],
                    dtype=np.float32)
    theirs = sess.run(None, {"input": rows})[0]
    what = "7 rows"
assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
diff = np.abs(ours - theirs)
print(f"{model}: {what}, max abs difference between ONNX Runtime and nabla predict = {diff.max():.3g}")
sys.exit(0 if np.all(diff <= 1e-5 + 1e-3 * np.abs(ours)) else 1)
