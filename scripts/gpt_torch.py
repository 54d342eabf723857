"""Trains configs/shakespeare-gpt.toml's model in PyTorch, the same way `nabla train` does,
to compare how the two learn: the same character vocabulary (sorted), the same split (the
last 10% of the text for validation), non-overlapping windows of 128 characters (stride
128) shuffled each epoch, batch 32, AdamW (lr 1e-3, betas 0.9/0.99, weight decay 0.1 on
matrices only), linear warm-up over 100 steps then cosine decay to 1e-4 over the run
(nanoGPT's get_lr), gradient norm clipped at 1.0. Prints the validation loss after each
epoch (mean cross-entropy in nats per character over the validation windows).

    python scripts/gpt_torch.py tinyshakespeare/input.txt [EPOCHS] [THREADS]

The model is PyTorch's own nn.TransformerEncoderLayer (norm_first, GELU, bias=False,
dropout 0) under a causal mask, with learned positions and a head tied to the embedding,
the names and layout nabla's layers use.
"""
import math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

path = sys.argv[1]
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 8
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
torch.manual_seed(0)
text = open(path, encoding="utf-8").read()
chars = sorted(set(text))
ids = torch.tensor([chars.index(c) for c in text], dtype=torch.long)
T, B, E, H, L, V = 128, 32, 128, 4, 4, len(chars)
n_val = int(round(len(ids) * 0.1))
train_ids, val_ids = ids[: len(ids) - n_val], ids[len(ids) - n_val :]


def windows(part):
    n = (len(part) - 1) // T
    x = part[: n * T].view(n, T)
    y = part[1 : n * T + 1].view(n, T)
    return x, y


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, E)
        nn.init.normal_(self.wte.weight, std=0.02)
        self.wpe = nn.Parameter(torch.randn(T, E) * 0.02)
        layer = nn.TransformerEncoderLayer(E, H, 4 * E, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True, bias=False)
        self.enc = nn.TransformerEncoder(layer, L, norm=nn.LayerNorm(E, bias=False),
                                         enable_nested_tensor=False)
        self.head = nn.Linear(E, V, bias=False)
        self.head.weight = self.wte.weight
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(T))

    def forward(self, x):
        h = self.wte(x) + self.wpe[: x.shape[1]]
        h = self.enc(h, mask=self.mask[: x.shape[1], : x.shape[1]], is_causal=True)
        return self.head(h)


m = GPT()
decay = [p for p in m.parameters() if p.dim() >= 2]
no_decay = [p for p in m.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                         {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.99))
xt, yt = windows(train_ids)
xv, yv = windows(val_ids)
steps_per_epoch = math.ceil(len(xt) / B)
total, warmup, lr, min_lr = epochs * steps_per_epoch, 100, 1e-3, 1e-4


def get_lr(it):
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it >= total:
        return min_lr
    r = (it - warmup) / (total - warmup)
    return min_lr + 0.5 * (1 + math.cos(math.pi * r)) * (lr - min_lr)


step, t0 = 0, time.time()
for epoch in range(1, epochs + 1):
    m.train()
    perm = torch.randperm(len(xt))
    for i in range(0, len(xt), B):
        for g in opt.param_groups:
            g["lr"] = get_lr(step)
        idx = perm[i : i + B]
        loss = F.cross_entropy(m(xt[idx]).reshape(-1, V), yt[idx].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        step += 1
    m.eval()
    with torch.no_grad():
        tot = 0.0
        for i in range(0, len(xv), 256):
            out = m(xv[i : i + 256])
            tot += F.cross_entropy(out.reshape(-1, V), yv[i : i + 256].reshape(-1), reduction="sum").item()
        val = tot / yv.numel()
    print(f"epoch {epoch} step {step} val_loss {val:.4f} ({time.time() - t0:.0f} s)", flush=True)
