"""The judge of nabla's ONNX export (run by tests/onnx.rs): for each exported model, the
`onnx` checker with full_check, then ONNX Runtime's CPU provider on the inputs nabla ran,
its outputs compared with nabla's (rtol 1e-3, atol 1e-5, as PyTorch's exporter tests).

    python onnx_check.py SPEC.json

SPEC.json: {"cases": [{"name", "model", "runs": [{"x", "x_shape", "y", "y_shape"}]}]}.
Prints the largest difference per model; exits 1 when a model fails.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

spec = json.load(open(sys.argv[1]))
failed = []
for case in spec["cases"]:
    # by path: the checker then also reads a model past 2 GiB (its weights in a side file)
    onnx.checker.check_model(case["model"], full_check=True)
    sess = ort.InferenceSession(case["model"], providers=["CPUExecutionProvider"])
    worst = 0.0
    for run in case["runs"]:
        x = np.array(run["x"], dtype=run.get("x_dtype", "float32")).reshape(run["x_shape"])
        want = np.array(run["y"], dtype=np.float32).reshape(run["y_shape"])
        got = sess.run(None, {"input": x})[0]
        if got.shape != want.shape:
            failed.append(f"{case['name']}: output {got.shape}, nabla's {want.shape}")
            continue
        diff = np.abs(got - want)
        worst = max(worst, float(diff.max(initial=0.0)))
        if not np.all(diff <= 1e-5 + 1e-3 * np.abs(want)):
            failed.append(f"{case['name']} (batch {run['x_shape'][0]}): max abs diff {diff.max():.3g}")
    print(f"{case['name']}: max abs diff {worst:.3g}")
for f in failed:
    print("FAILED", f)
sys.exit(1 if failed else 0)
