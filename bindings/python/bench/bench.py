"""W2 (MLP train step, batch 64) and W6 (tiny-graph forward + backward) driven from Python,
for nabla's bindings or PyTorch (../../../shared/peers/WORKLOADS.md defines both).

    python bench.py --framework nabla --threads 2 [--only W2,W6]
    python bench.py --framework torch --threads 2

Prints one JSON line per workload: the median of 7 timed runs of at least 0.5 s each, after
a warm-up, as throughput (samples/s, graphs/s).
"""
import argparse
import json
import os
import statistics
import time

ap = argparse.ArgumentParser()
ap.add_argument("--framework", choices=["nabla", "torch"], required=True)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--only", default="W2,W6")
args = ap.parse_args()
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[var] = str(args.threads)
ONLY = set(args.only.split(","))


def measure(step, per_step):
    for _ in range(50):
        step()
    rates = []
    for _ in range(7):
        n, t0 = 0, time.perf_counter()
        while True:
            step()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= 0.5:
                break
        rates.append(n * per_step / dt)
    return statistics.median(rates)


def emit(workload, rate, unit):
    print(json.dumps({"workload": workload, "framework": args.framework, "threads": args.threads,
                      "throughput": rate, "unit": unit}), flush=True)


if args.framework == "torch":
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if "W2" in ONLY:
        m = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        x, y = torch.randn(64, 784), torch.randint(0, 10, (64,))

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
        emit("W2 b64", measure(step, 64), "samples/s")
    if "W6" in ONLY:
        w, b = torch.randn(4, requires_grad=True), torch.randn(4, requires_grad=True)
        x = torch.randn(4)

        def step():
            return torch.autograd.grad(torch.tanh(w * x + b).sum(), (w, b))
        emit("W6", measure(step, 1), "graphs/s")
else:
    import nabla as nb
    import nabla.nn as nn
    import nabla.nn.functional as F
    nb.manual_seed(0)
    if "W2" in ONLY:
        m = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
        opt = nb.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        x, y = nb.randn(64, 784), nb.tensor([(7 * i) % 10 for i in range(64)])

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
        emit("W2 b64", measure(step, 64), "samples/s")
    if "W6" in ONLY:
        w, b = nb.randn(4, requires_grad=True), nb.randn(4, requires_grad=True)
        x = nb.randn(4)

        def step():
            w.grad = None
            b.grad = None
            (w * x + b).tanh().sum().backward()
            return w.grad, b.grad
        emit("W6", measure(step, 1), "graphs/s")
