#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ (small valid files
of every kind the readers take, a few KB each). Standard library only.

    python3 fuzz/make_corpus.py [--shared ../shared/data] [--run DIR]

--shared: a folder with mnist/ and sklearn/ (real MNIST and scikit-learn files; slices of
them become seeds). --run: a nabla run folder (its checkpoint's state.json and
model.safetensors become seeds). Both are optional; the synthetic seeds are always written.
"""
import argparse
import gzip
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    # mtime 0: the same bytes every run
    return gzip.compress(data, mtime=0)


# ---------------------------------------------------------------- IDX
def idx_images(count, rows, cols, pixels):
    return struct.pack(">IIII", 0x803, count, rows, cols) + bytes(pixels)


def idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


def write_idx(shared):
    im = idx_images(3, 4, 4, [(i * 37) % 256 for i in range(48)])
    put("idx_images", "3x4x4.idx", im)
    put("idx_images", "3x4x4.idx.gz", gz(im))
    put("idx_images", "1x1x1.idx", idx_images(1, 1, 1, [255]))
    put("idx_images", "0x2x2.idx", idx_images(0, 2, 2, []))
    # two gzip members (MultiGzDecoder reads both)
    put("idx_images", "2members.idx.gz", gz(im[:20]) + gz(im[20:]))
    lb = idx_labels([i % 10 for i in range(10)])
    put("idx_labels", "10.idx", lb)
    put("idx_labels", "10.idx.gz", gz(lb))
    put("idx_labels", "0.idx", idx_labels([]))
    put("idx_labels", "2members.idx.gz", gz(lb[:5]) + gz(lb[5:]))
    mnist = os.path.join(shared or "", "mnist")
    if shared and os.path.isdir(mnist):
        with gzip.open(os.path.join(mnist, "t10k-images-idx3-ubyte.gz")) as f:
            head = f.read(16 + 2 * 784)
        real = struct.pack(">IIII", 0x803, 2, 28, 28) + head[16:]
        put("idx_images", "mnist-2.idx", real)
        put("idx_images", "mnist-2.idx.gz", gz(real))
        with gzip.open(os.path.join(mnist, "t10k-labels-idx1-ubyte.gz")) as f:
            head = f.read(8 + 100)
        real = struct.pack(">II", 0x801, 100) + head[8:]
        put("idx_labels", "mnist-100.idx", real)
        put("idx_labels", "mnist-100.idx.gz", gz(real))


# ---------------------------------------------------------------- CSV
# The csv target reads its options from the first byte (see fuzz_targets/csv.rs):
# bits 0-1 header (0 auto, 1 present, 2 absent), bits 2-3 label (0 last, 1 index 1,
# 2 name "target", 3 none), bit 4 regression, bits 5-6 delimiter (, ; space tab),
# bit 7 skip one row.
def opt(header=0, label=0, regression=0, delim=0, skip=0):
    return bytes([header | label << 2 | regression << 4 | delim << 5 | skip << 7])


def write_csv(shared):
    put("csv", "header", opt() + b"x1,x2,y\n1,2,0\n3,4,1\n5.5,-6e-1,2\n")
    put("csv", "noheader", opt(header=2) + b"1,2,0\n3,4,1\n")
    put("csv", "textlabels", opt() + b"a,b,kind\n1,2,cat\n3,4,dog\n5,6,cat\n")
    put("csv", "quoted", opt() + b'"a, b",y\n"1.5","x""y"\n2,z\n')
    put("csv", "name", opt(label=2) + b"a,target,b\n1,2,3\n4,5,6\n")
    put("csv", "regression", opt(regression=1, label=1) + b"a,b,c\n1,2.5,3\n4,-5,6\n")
    put("csv", "nolabel", opt(label=3) + b"1,2,3\n4,5,6\n")
    put("csv", "semicolon", opt(delim=1) + b"a;b;y\n1;2;0\n3;4;1\n")
    put("csv", "spaces", opt(delim=2, skip=1) + b"150 4 junk\n 1  2   0\n3 4 1\n\n")
    put("csv", "tabs", opt(delim=3, header=1) + b"a\tb\ty\n1\t2\t0\n")
    put("csv", "bom-crlf", opt() + b"\xef\xbb\xbfa,b,y\r\n1,2,0\r\n3,4,1\r\n")
    put("csv", "sklearn-count", opt() + b"3,2,setosa,versicolor\n1,2,0\n3,4,1\n5,6,0\n")
    put("csv", "gz", opt() + gz(b"x1,x2,y\n1,2,0\n3,4,1\n"))
    sk = os.path.join(shared or "", "sklearn")
    if shared and os.path.isdir(sk):
        for name, lines in [("iris.csv", 40), ("wine_data.csv", 12), ("breast_cancer.csv", 4),
                            ("linnerud_exercise.csv", 30), ("linnerud_physiological.csv", 30)]:
            p = os.path.join(sk, name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    text = b"".join(f.readlines()[:lines])
                put("csv", "sk-" + name, opt() + text)
        p = os.path.join(sk, "diabetes_target.csv.gz")
        if os.path.exists(p):
            with gzip.open(p) as f:
                text = b"".join(f.readlines()[:30])
            put("csv", "sk-diabetes_target.gz", opt(header=2, label=3) + gz(text))


# ---------------------------------------------------------------- safetensors
def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # aligned, as the Python library writes it
    return struct.pack("<Q", len(h)) + h + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def write_safetensors(run):
    put("safetensors", "f32-2x2", safetensors([("0.weight", "F32", [2, 2], f32(1.5, -2, 3.25, 0))]))
    put("safetensors", "mixed", safetensors([
        ("w", "F32", [3], f32(1, 2, 3)),
        ("d", "F64", [2, 1], struct.pack("<2d", 0.1, 0.2)),
        ("n", "I64", [], struct.pack("<q", 7)),
        ("e", "F32", [0, 3], b""),
    ], metadata={"format": "pt"}))
    put("safetensors", "empty", safetensors([]))
    put("safetensors", "unsupported-dtype", safetensors([("h", "F16", [2], b"\x00\x3c\x00\x40")]))
    if run:
        for f in ("model.safetensors", "optim.safetensors"):
            p = os.path.join(run, f)
            if os.path.exists(p) and os.path.getsize(p) <= 8192:
                with open(p, "rb") as fh:
                    put("safetensors", "run-" + f, fh.read())


# ---------------------------------------------------------------- state.json
def write_state(run):
    key = [(1812433253 * i + 5489) % 2**32 for i in range(624)]
    base = {
        "epoch": 1, "step": 3, "cursor": [1, 0, 0], "rng_key": key, "rng_pos": 624,
        "rng_gauss": None,
        # fits the target's SGD over one parameter
        "optim_scalars": {"group.0.lr": 0.1, "group.0.params": 1.0,
                          "group.0.weight_decay": 0.0, "state.0.0.step": 3.0},
        "sched_scalars": {}, "running": [0.0, 0.0, 0.0, 0.0], "best": 2.1, "bad_epochs": 0,
        "history": [{"epoch": 1, "step": 3, "train_loss": 2.2, "train_accuracy": 0.2,
                     "val_loss": 2.1, "val_accuracy": 0.3, "lr": 0.1, "seconds": 0.01}],
    }
    put("checkpoint_state", "sgd.json", json.dumps(base, separators=(",", ":")))
    mid = dict(base, cursor=[2, 1, 7], rng_pos=5, rng_gauss=-0.5, best=None, history=[
        {"epoch": 1, "step": 3, "train_loss": 0.5, "train_accuracy": None, "val_loss": None,
         "val_accuracy": None, "val_mae": 0.1, "val_rmse": 0.2, "val_r2": 0.9, "lr": 0.1,
         "seconds": 0.01}])
    put("checkpoint_state", "mid-epoch.json", json.dumps(mid, separators=(",", ":")))
    if run:
        p = os.path.join(run, "state.json")
        if os.path.exists(p):
            with open(p) as fh:
                put("checkpoint_state", "run-state.json",
                    json.dumps(json.load(fh), separators=(",", ":")))


# ---------------------------------------------------------------- TOML
def write_toml(repo):
    configs = os.path.join(repo, "configs")
    for name in sorted(os.listdir(configs)):
        if name.endswith(".toml"):
            with open(os.path.join(configs, name), "rb") as f:
                put("toml_config", name, f.read())
    put("toml_config", "csv.toml", """
[data]
dataset = "csv"
path = "data.csv"
label_column = "species"
header = true
skip_rows = 0
delimiter = ";"
standardize = true
validation_split = 0.2
test_split = 0.1

[model]
input_shape = [4]
layers = [
  { type = "linear", out = 8, init = "kaiming_uniform" },
  { type = "layer_norm", eps = 1e-5 },
  { type = "leaky_relu", negative_slope = 0.01 },
  { type = "batch_norm1d", momentum = 0.1 },
  { type = "gelu", approximate = "tanh" },
  { type = "dropout", p = 0.25 },
  { type = "linear", out = 3, bias = false },
  { type = "softmax" },
]

[train]
epochs = 2
batch_size = 16
loss = "nll"
optimizer = { name = "sgd", lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 1e-4 }
schedule = { name = "step", step_size = 10, gamma = 0.5 }
metrics = ["accuracy"]
clip_grad_norm = 1.0
early_stopping_patience = 3
seed = 7
""")
    put("toml_config", "regression.toml", """
[data]
dataset = "diabetes"
[model]
layers = [{ type = "linear", out = 16 }, { type = "tanh" }, { type = "silu" }, { type = "linear", out = 1 }]
[train]
loss = "huber"
huber_delta = 2.0
metrics = ["mae", "rmse", "r2"]
optimizer = { name = "adamw", lr = 1e-3, betas = [0.9, 0.99], weight_decay = 0.01 }
schedule = { name = "cosine", t_max = 10 }
""")


# ---------------------------------------------------------------- PNG
def chunk(kind, data):
    c = kind + data
    return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xffffffff)


def png(w, h, color, depth, rows, extra=b"", interlace=0):
    """rows: the filtered scanlines' bytes (filter byte included), already interlaced."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def scan(row_bytes_list, filt=0):
    return b"".join(bytes([filt]) + r for r in row_bytes_list)


def adam7(w, h, pixel_rows, bpp):
    """Interlaced scanlines of 8-bit samples: pixel_rows[y] is the row's bytes, bpp bytes/px."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]
    out = b""
    for x0, y0, dx, dy in passes:
        xs = list(range(x0, w, dx))
        if not xs:
            continue
        for y in range(y0, h, dy):
            out += b"\x00" + b"".join(pixel_rows[y][x * bpp:(x + 1) * bpp] for x in xs)
    return out


def write_png():
    digit = [bytes(255 if x in (3, 4) else 0 for x in range(8)) for _ in range(8)]
    put("png", "gray8-8x8.png", png(8, 8, 0, 8, scan(digit)))
    put("png", "gray8-sub-filter.png", png(8, 8, 0, 8, scan(digit, filt=1)))
    put("png", "gray1-16x2.png", png(16, 2, 0, 1, scan([b"\xf0\x0f", b"\xaa\x55"])))
    put("png", "gray16-2x2.png", png(2, 2, 0, 16, scan([b"\xff\xff\x00\x00", b"\x80\x00\x12\x34"])))
    put("png", "graya-2x1.png", png(2, 1, 4, 8, scan([b"\x10\xff\x20\x80"])))
    put("png", "rgb-2x2.png", png(2, 2, 2, 8, scan([b"\xff\x00\x00\x00\xff\x00", b"\x00\x00\xff\xff\xff\xff"])))
    put("png", "rgba16-1x1.png", png(1, 1, 6, 16, scan([b"\x12\x34\x56\x78\x9a\xbc\xff\xff"])))
    plte = chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff\x80\x40\x20")
    trns = chunk(b"tRNS", b"\xff\x00")
    put("png", "palette2-4x2.png", png(4, 2, 3, 2, scan([b"\x1b", b"\xe4"]), extra=plte))
    put("png", "palette8-trns-3x1.png", png(3, 1, 3, 8, scan([b"\x00\x01\x02"]), extra=plte + trns))
    put("png", "gray-trns-2x1.png", png(2, 1, 0, 8, scan([b"\x00\x07"]), extra=chunk(b"tRNS", b"\x00\x07")))
    rows = [bytes((x * 30 + y * 7) % 256 for x in range(9)) for y in range(9)]
    put("png", "gray8-adam7-9x9.png", png(9, 9, 0, 8, adam7(9, 9, rows, 1), interlace=1))
    text = chunk(b"tEXt", b"Comment\x00seed") + chunk(b"gAMA", struct.pack(">I", 45455))
    put("png", "chunks-1x1.png", png(1, 1, 0, 8, b"\x00\x80", extra=text))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", help="folder holding mnist/ and sklearn/")
    ap.add_argument("--run", help="a checkpoint folder (state.json, model.safetensors, ...)")
    a = ap.parse_args()
    repo = os.path.dirname(HERE)
    write_idx(a.shared)
    write_csv(a.shared)
    write_safetensors(a.run)
    write_state(a.run)
    write_toml(repo)
    write_png()


if __name__ == "__main__":
    main()
