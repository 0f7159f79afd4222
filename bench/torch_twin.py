#!/usr/bin/env python3
"""PyTorch twin of neuromask's masked MLP, for timing against the Rust side.

The model is the seed's: 784 -> Linear 600 -> x mask -> ReLU -> Linear 10,
softmax cross-entropy, Adam lr 1e-3, batch 128, pixels / 255.

  torch_twin.py train --data-dir DIR --epochs E [--limit-train N]
  torch_twin.py infer --data-dir DIR [--repeats R] [--batch 1024]

Each subcommand prints, as its last stdout line, one JSON object (see the
subcommand's --help). `bench/compare` runs this script; it sets
OMP_NUM_THREADS / MKL_NUM_THREADS / OMP_WAIT_POLICY in the environment, this
script sets only torch's thread count (--threads).
"""

import argparse
import gzip
import json
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
from torch import nn

HIDDEN = 600
BATCH = 128
LR = 1e-3

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(data_dir, name):
    """One IDX file (gzip or raw) as a numpy uint8 array of its stated shape."""
    for candidate in (name + ".gz", name):
        path = os.path.join(data_dir, candidate)
        if os.path.exists(path):
            break
    else:
        sys.exit(f"torch_twin: {name}[.gz] not found in {data_dir}")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        sys.exit(f"torch_twin: {path} is not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def load_split(data_dir, split, limit=None):
    """(images float32 [n, 784] in [0, 1], labels int64 [n]) as torch tensors."""
    images_name, labels_name = FILES[split]
    images = read_idx(data_dir, images_name)
    labels = read_idx(data_dir, labels_name)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    pixels = images.reshape(len(images), -1).astype(np.float32)
    pixels /= 255.0  # in place: no second float copy inflating the peak RSS
    x = torch.from_numpy(pixels)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


class MaskedMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, 10)

    def forward(self, x, mask=None):
        h = self.fc1(x)
        if mask is not None:
            h = h * mask
        h = torch.relu(h)
        return self.fc2(h)


def train(args):
    torch.manual_seed(args.seed)
    x_train, y_train = load_split(args.data_dir, "train", args.limit_train)
    x_test, y_test = load_split(args.data_dir, "test")
    model = MaskedMlp()
    # The seed's Keras answer multiplies by a mask variable during training
    # too: an all-ones (1, 600) tensor, broadcast over the batch.
    mask = torch.ones(1, HIDDEN)
    loss_fn = nn.CrossEntropyLoss()
    # The default (for-loop) Adam is the seed's; --fused-adam is PyTorch's
    # fastest CPU Adam, to see how much of an epoch the optimizer costs.
    fused = True if args.fused_adam else None
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=fused)
    generator = torch.Generator().manual_seed(args.seed)
    n = len(x_train)

    epoch_seconds = []
    for epoch in range(args.epochs):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        total_loss = 0.0
        for i in range(0, n, BATCH):
            idx = order[i : i + BATCH]
            xb, yb = x_train[idx], y_train[idx]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb, mask), yb)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(idx)
        seconds = time.perf_counter() - start
        epoch_seconds.append(seconds)
        print(
            f"epoch {epoch + 1}/{args.epochs}: {seconds:.3f} s, train loss {total_loss / n:.4f}",
            file=sys.stderr,
        )

    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(x_test), 1024):
            logits = model(x_test[i : i + 1024], mask)
            correct += (logits.argmax(dim=1) == y_test[i : i + 1024]).sum().item()
    accuracy = correct / len(x_test)
    print(f"test accuracy {accuracy:.4f}", file=sys.stderr)
    print(
        json.dumps(
            {
                "epoch_seconds": epoch_seconds,
                "test_accuracy": accuracy,
                "train_samples": n,
            }
        )
    )


def images_per_second(x, batch, repeats, forward):
    """Median images/s of `forward` over all of x in batches; one warm-up pass first."""
    n = len(x)
    predictions = torch.empty(n, dtype=torch.int64)

    def one_pass():
        start = time.perf_counter()
        for i in range(0, n, batch):
            predictions[i : i + batch] = forward(x[i : i + batch], i).argmax(dim=1)
        return time.perf_counter() - start

    one_pass()
    seconds = statistics.median(one_pass() for _ in range(repeats))
    return n / seconds


def infer(args):
    torch.manual_seed(args.seed)
    # Random weights: the speed of a forward pass does not depend on them.
    model = MaskedMlp().eval()
    x, _ = load_split(args.data_dir, "test")
    n = len(x)
    generator = torch.Generator().manual_seed(args.seed)
    # One mask row per image, exactly half the neurons off in each row.
    ranks = torch.rand(n, HIDDEN, generator=generator).argsort(dim=1).argsort(dim=1)
    per_sample = (ranks >= HIDDEN // 2).to(torch.float32)
    # One mask for every image, 90% of the neurons off. PyTorch has no way to
    # skip the switched-off neurons, so this is the same multiply as above.
    broadcast = torch.zeros(1, HIDDEN)
    broadcast[0, torch.randperm(HIDDEN, generator=generator)[: HIDDEN // 10]] = 1.0

    b = args.batch
    with torch.inference_mode():
        figures = {
            "unmasked_images_per_s": images_per_second(
                x, b, args.repeats, lambda xb, i: model(xb)
            ),
            "masked_images_per_s": images_per_second(
                x, b, args.repeats, lambda xb, i: model(xb, per_sample[i : i + len(xb)])
            ),
            "broadcast90_images_per_s": images_per_second(
                x, b, args.repeats, lambda xb, i: model(xb, broadcast)
            ),
        }
    for name, value in figures.items():
        print(f"{name}: {value:,.0f}", file=sys.stderr)
    print(json.dumps(figures))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        default=os.environ.get("MNIST_DIR")
        or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist"),
        help="folder with the four MNIST IDX files, gz or raw "
        "(default: $MNIST_DIR, else the project's own data/mnist)",
    )
    common.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    common.add_argument(
        "--flush-denormal", action="store_true", help="call torch.set_flush_denormal(True)"
    )
    common.add_argument("--seed", type=int, default=42)
    sub = parser.add_subparsers(dest="command", required=True)

    p_train = sub.add_parser(
        "train",
        parents=[common],
        help="train and time each epoch",
        description="Train E epochs, time each (wall clock, batching included), then test. "
        'Last stdout line: {"epoch_seconds": [...], "test_accuracy": f, "train_samples": n}',
    )
    p_train.add_argument("--epochs", type=int, default=10)
    p_train.add_argument("--limit-train", type=int, help="train on the first N images only")
    p_train.add_argument(
        "--fused-adam", action="store_true", help="torch.optim.Adam(fused=True) instead of the default"
    )
    p_train.set_defaults(run=train)

    p_infer = sub.add_parser(
        "infer",
        parents=[common],
        help="time forward passes over the test images",
        description="Images/s over the 10,000 test images, median of R passes after one warm-up: "
        "unmasked, one random 0/1 mask row per image (half off), and one broadcast mask "
        "with 90%% off. Last stdout line: "
        '{"unmasked_images_per_s": .., "masked_images_per_s": .., "broadcast90_images_per_s": ..}',
    )
    p_infer.add_argument("--repeats", type=int, default=5)
    p_infer.add_argument("--batch", type=int, default=1024)
    p_infer.set_defaults(run=infer)

    args = parser.parse_args()
    if not args.data_dir:
        parser.error("--data-dir is required (or set $MNIST_DIR)")
    torch.set_num_threads(args.threads)
    if args.flush_denormal:
        if not torch.set_flush_denormal(True):
            print("torch_twin: this CPU does not support flushing denormals", file=sys.stderr)
    args.run(args)


if __name__ == "__main__":
    main()
