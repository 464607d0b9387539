"""A gradscope checkpoint loads into the equivalent PyTorch module and computes the same results.

Usage: torch_interop.py GS_TRAIN WORK_DIR. Trains a small MLP with gs-train for one of two epochs
(interrupted after the epoch's last step), loads the checkpoint into torch.nn.Sequential(Flatten, Linear,
ReLU, Linear) with load_state_dict(strict=True) and checks PyTorch's test loss and accuracy on the
same preprocessed images against the epoch-1 record of an uninterrupted run. Then writes PyTorch's state_dict back
into the checkpoint from Python, resumes, and checks the run ends exactly like an uninterrupted
one. Exits 77 (CTest: skipped) when PyTorch is not installed (Debian: python3-torch).
"""
import gzip
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))

try:
    import numpy as np
    import torch
except ImportError:
    print("SKIP: PyTorch (python3-torch) is not installed")
    sys.exit(77)

import gs_checkpoint

gs_train, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
tiny = ["--train-examples", "500", "--test-examples", "300", "--widths", "32", "--epochs", "2", "--batch-size", "64",
        "--progress", "off"]
straight, resumed = os.path.join(work, "straight"), os.path.join(work, "resumed")
subprocess.run([gs_train, *tiny, "--run-dir", straight], check=True, stdout=subprocess.DEVNULL)
# 500 examples in batches of 64: 8 steps per epoch, so step 8 ends epoch 1.
rc = subprocess.run([gs_train, *tiny, "--run-dir", resumed, "--interrupt-after-steps", "8"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
assert rc == 130, f"the interrupted run exited with {rc}"
# The interrupted run stopped after epoch 1's last step, before its evaluation: its weights are
# those the uninterrupted run evaluated in its epoch-1 record.
records = [json.loads(line) for line in open(os.path.join(straight, "metrics.jsonl"))]
epoch1 = [r for r in records if r["kind"] == "epoch" and r["epoch"] == 1][0]

checkpoint = os.path.join(resumed, "checkpoint.safetensors")
tensors, meta = gs_checkpoint.load(checkpoint)
assert "gradscope.checkpoint" in meta
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
model.load_state_dict({k: torch.from_numpy(v) for k, v in gs_checkpoint.model_state(tensors).items()}, strict=True)

# The first 300 test images, preprocessed as gs-train does: /255, then per-image whitening.
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read()[16:], dtype=np.uint8).reshape(-1, 1, 28, 28)[:300].astype(np.float64) / 255
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read()[8:], dtype=np.uint8)[:300].astype(np.int64)
flat = images.reshape(300, -1)
std = np.maximum(flat.std(axis=1, keepdims=True), 1 / np.sqrt(flat.shape[1]))
x = torch.from_numpy(((flat - flat.mean(axis=1, keepdims=True)) / std).reshape(images.shape).astype(np.float32))
with torch.no_grad():
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels)).item()
    accuracy = (logits.argmax(1).numpy() == labels).mean()
print(f"after epoch 1: gradscope test loss {epoch1['test_loss']:.6f} accuracy {epoch1['test_accuracy']:.4f}; "
      f"PyTorch with the checkpoint: loss {loss:.6f} accuracy {accuracy:.4f}")
# f32 sums in another order: losses agree to ~1e-6 relative; an argmax may flip on a near tie.
assert abs(loss - epoch1["test_loss"]) <= 1e-4 * max(1.0, abs(loss)), "test losses differ"
assert abs(accuracy - epoch1["test_accuracy"]) <= 1 / 300 + 1e-12, "test accuracies differ"

# And back: PyTorch's state_dict, written from Python with the optimizer entries and metadata,
# is what the resumed run reads; it must end exactly like the uninterrupted run.
state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
optimizer = {k: v for k, v in tensors.items() if k not in gs_checkpoint.model_state(tensors)}
gs_checkpoint.save(checkpoint, {**state, **optimizer}, meta)
subprocess.run([gs_train, "--resume", resumed, "--progress", "off"], check=True, stdout=subprocess.DEVNULL)
a = json.load(open(os.path.join(straight, "summary.json")))
b = json.load(open(os.path.join(resumed, "summary.json")))
assert a["final"] == b["final"] and a["steps"] == b["steps"], f"{a['final']} != {b['final']}"
print("ok: PyTorch loads the checkpoint, and gradscope resumes exactly from the file Python wrote")
