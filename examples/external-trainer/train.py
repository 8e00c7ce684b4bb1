#!/usr/bin/env python3
"""A Mycelium external trainer (protocol mycelium.trainer/1) in plain numpy.

Trains softmax regression -- the architecture {"layers": [], "output": {"classes": K}}, whose
weights are dense_0.kernel [features, K] and dense_0.bias [K] -- for the round's epochs of
minibatch SGD on the CSV files of the node's data dir (header row, label in the last column),
with the FedProx proximal term when proximalMu > 0. Then it writes the trained weights and the
metrics where config.json says.

    myc fl join JOB --data ./my-csv-dir --trainer "python3 examples/external-trainer/train.py"

Usage: train.py [CONFIG]   (default: $MYC_TRAINER_CONFIG)
"""
import glob
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    """{name: float32 array} from a safetensors file (F32 tensors only)."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {entry['dtype']}, expected F32")
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[base + begin:base + end], dtype="<f4")
        tensors[name] = array.reshape(entry["shape"]).copy()
    return tensors


def write_safetensors(path, tensors):
    """Writes [(name, array)] as little-endian F32, atomically (temp file + rename)."""
    header, blobs, offset = {}, [], 0
    for name, array in tensors:
        a = np.ascontiguousarray(array, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def load_csv_dir(data_dir):
    files = sorted(glob.glob(os.path.join(data_dir, "*.csv")))
    if not files:
        sys.exit(f"train.py: no *.csv files in {data_dir}")
    rows = [np.loadtxt(f, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2) for f in files]
    table = np.concatenate(rows)
    return table[:, :-1], table[:, -1].astype(np.int64)


def main():
    config_path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MYC_TRAINER_CONFIG")
    if not config_path:
        sys.exit("usage: train.py CONFIG (or set MYC_TRAINER_CONFIG)")
    with open(config_path) as f:
        config = json.load(f)
    if config.get("protocol") != "mycelium.trainer/1":
        sys.exit(f"train.py: unsupported protocol {config.get('protocol')!r}")

    weights = read_safetensors(config["globalWeights"])
    names = [t["name"] for t in config["tensors"]]
    if names != ["dense_0.kernel", "dense_0.bias"]:
        sys.exit(f"train.py only trains softmax regression (dense_0.kernel, dense_0.bias); this job has {names}")
    w0, b0 = weights["dense_0.kernel"].astype(np.float64), weights["dense_0.bias"].astype(np.float64)
    w, b = w0.copy(), b0.copy()
    features, classes = w.shape

    x, y = load_csv_dir(config["dataDir"])
    if x.shape[1] != features:
        sys.exit(f"train.py: the CSV rows have {x.shape[1]} features, the model expects {features}")
    if y.min() < 0 or y.max() >= classes:
        sys.exit(f"train.py: labels must be 0..{classes - 1}, found {y.min()}..{y.max()}")

    lr, mu, batch = config["learningRate"], config["proximalMu"], config["batchSize"]
    rng = np.random.default_rng(config["seed"] * 1000003 + config["round"])
    for _ in range(config["epochs"]):
        loss_sum, correct = 0.0, 0
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            xb, yb = x[idx], y[idx]
            logits = xb @ w + b
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            loss_sum += -np.log(np.clip(p[np.arange(len(yb)), yb], 1e-7, 1.0)).sum()
            correct += int((p.argmax(axis=1) == yb).sum())
            p[np.arange(len(yb)), yb] -= 1.0  # d(cross-entropy)/d(logits)
            grad_w = xb.T @ p / len(yb) + mu * (w - w0)
            grad_b = p.mean(axis=0) + mu * (b - b0)
            w -= lr * grad_w
            b -= lr * grad_b

    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        sys.exit("train.py: training diverged (NaN/Inf); lower the learning rate")
    write_safetensors(config["outputWeights"], [("dense_0.kernel", w), ("dense_0.bias", b)])
    metrics = {"numExamples": int(len(x)), "loss": loss_sum / len(x), "accuracy": correct / len(x)}
    with open(config["outputMetrics"], "w") as f:
        json.dump(metrics, f)
    print(f"round {config['round']}: {len(x)} samples, loss {metrics['loss']:.4f}, accuracy {metrics['accuracy']:.3f}")


if __name__ == "__main__":
    main()
