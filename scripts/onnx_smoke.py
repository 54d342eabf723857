#!/usr/bin/env python3
"""A trained run through `nabla export` and ONNX Runtime: the file's outputs on raw CSV rows
must equal `nabla predict RUN --logits` on the same rows (rtol 1e-3, atol 1e-5).

usage: python scripts/onnx_smoke.py RUN_DIR MODEL.onnx NABLA_BINARY

For runs whose samples are feature rows (the digits MLP, CSV runs). Needs numpy, onnx,
onnxruntime. `.ci/run` runs it on a briefly trained digits run.
"""
import json, subprocess, sys, tempfile

import numpy as np
import onnx
import onnxruntime as ort

run, model, nabla = sys.argv[1:4]
onnx.checker.check_model(onnx.load(model), full_check=True)
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
features = sess.get_inputs()[0].shape[1]
rng = np.random.default_rng(0)
rows = rng.integers(0, 17, size=(7, features)).astype(np.float32)
with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    f.write("\n".join(",".join(str(int(v)) for v in r) for r in rows) + "\n")
out = subprocess.run([nabla, "predict", run, f.name, "--logits"], capture_output=True, text=True,
                     check=True).stdout
ours = np.array([json.loads(l)["logits"] for l in out.splitlines() if l.startswith("{")],
                dtype=np.float32)
theirs = sess.run(None, {"input": rows})[0]
diff = np.abs(ours - theirs)
print(f"{model}: 7 rows, max abs difference between ONNX Runtime and nabla predict = {diff.max():.3g}")
sys.exit(0 if np.all(diff <= 1e-5 + 1e-3 * np.abs(ours)) else 1)
