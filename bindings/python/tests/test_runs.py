"""Whole runs and the CLI: a config fitted from Python gives the bits `nabla train` gives;
a CLI checkpoint loads with load_state_dict; weights saved from Python are read by the CLI
(Rust's load_model); Ctrl-C stops a fit cleanly; the seed's program prints its numbers."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nabla as nb
import nabla.nn as nn

CONFIG = """[data]
dataset = "digits"
[model]
input_shape = [64]
layers = [{ type = "linear", out = 32 }, { type = "relu" }, { type = "dropout", p = 0.2 },
          { type = "linear", out = 10 }]
[train]
epochs = 2
batch_size = 32
optimizer = { name = "sgd", lr = 0.05, momentum = 0.9 }
seed = 3
"""
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "python"


def newest_weights(run):
    ck = sorted((Path(run) / "checkpoints").glob("ckpt-*"))[-1]
    return ck / "model.safetensors"


def mlp():
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))


def test_a_fit_from_python_gives_the_bits_of_nabla_train(tmp_path, nabla_bin):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    subprocess.run([nabla_bin, "train", str(cfg), "--out", str(tmp_path / "cli"), "--plain"],
                   check=True, capture_output=True)
    result = nb.Experiment.from_toml(cfg, out_dir=tmp_path / "py", progress=False).fit()
    assert result["run_dir"] == str(tmp_path / "py")
    assert 0.0 < result["test_accuracy"] <= 1.0 and result["epochs"] == 2
    assert newest_weights(tmp_path / "py").read_bytes() == newest_weights(tmp_path / "cli").read_bytes()


def test_cli_checkpoints_load_in_python_and_python_weights_in_the_cli(tmp_path, nabla_bin):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    run = tmp_path / "run"
    subprocess.run([nabla_bin, "train", str(cfg), "--out", str(run), "--plain"], check=True,
                   capture_output=True)
    rows = np.random.default_rng(0).integers(0, 17, size=(5, 64)).astype(np.float32)
    csv = tmp_path / "rows.csv"
    csv.write_text("\n".join(",".join(str(int(v)) for v in r) for r in rows) + "\n")

    def cli_logits(extra):
        out = subprocess.run([nabla_bin, "predict", str(run), str(csv), "--logits", *extra],
                             check=True, capture_output=True, text=True).stdout
        return np.array([json.loads(l)["logits"] for l in out.splitlines() if l.startswith("{")],
                        dtype=np.float32)

    model = mlp()
    model.load_state_dict(nb.load(newest_weights(run).parent))
    model.eval()
    ours = model(nb.from_numpy(rows)).numpy()
    np.testing.assert_allclose(ours, cli_logits([]), rtol=1e-5, atol=1e-5)
    # weights trained in Python, read by the CLI
    opt = nb.optim.SGD(model.parameters(), lr=0.01)
    model.train()
    loss = nn.functional.cross_entropy(model(nb.from_numpy(rows)), nb.tensor(np.arange(5)))
    loss.backward(); opt.step()
    model.eval()
    nb.save(model.state_dict(), tmp_path / "py.safetensors")
    np.testing.assert_allclose(model(nb.from_numpy(rows)).numpy(),
                               cli_logits(["--checkpoint", str(tmp_path / "py.safetensors")]),
                               rtol=1e-5, atol=1e-5)


def test_bad_configs_raise_naming_the_key(tmp_path):
    with pytest.raises(FileNotFoundError):
        nb.Experiment.from_toml(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.replace('{ name = "sgd", lr = 0.05, momentum = 0.9 }',
                                  '{ name = "sgd", lr = 0.05, momentum = -1.0 }'))
    with pytest.raises(ValueError, match="momentum"):
        nb.Experiment.from_toml(bad).fit()
    bad.write_text(CONFIG.replace('out = 32', 'out = 0'))
    with pytest.raises(ValueError, match=r"model.layers\[0\]"):
        nb.Experiment.from_toml(bad)


def test_ctrl_c_stops_a_fit_at_a_step_end(tmp_path):
    cfg = tmp_path / "long.toml"
    cfg.write_text(CONFIG.replace("epochs = 2", "epochs = 100000").replace(
        "seed = 3", "seed = 3\ncheckpoint_every = 20"))
    code = ("import nabla as nb, sys\n"
            f"nb.Experiment.from_toml({str(cfg)!r}, out_dir={str(tmp_path / 'run')!r}, progress=False).fit()\n")
    p = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list((tmp_path / "run" / "checkpoints").glob("ckpt-*")) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode != 0 and "KeyboardInterrupt" in err, err
    assert list((tmp_path / "run" / "checkpoints").glob("ckpt-*"))


@pytest.mark.parametrize("flag", [[], ["--autograd"]])
def test_the_seed_program_prints_the_seeds_numbers(flag):
    out = subprocess.run([sys.executable, str(EXAMPLES / "xor_seed.py"), *flag], check=True,
                         capture_output=True, text=True).stdout
    # what the seed's NumPy program prints
    assert out == ("Output after training:\n[[0.04336566]\n [0.86002551]\n [0.86003252]\n"
                   " [0.55139487]]\n")
