"""scripts/bench.py: its FLOP count against the closed form, and a tiny run's report.

Speed itself is never asserted here (it is what the benchmark measures); the matmul peak is only
checked against what two cores can physically do, which catches a timing that measured nothing.
"""
import json
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "scripts", "bench.py")

# Import the script's helpers in a child process: its absl flags must not meet other scripts' flags.
PROBE = """
import json, sys
sys.path.insert(0, {scripts!r})
import bench
from tlslim.compat import graph_mode
graph_mode()
taps = {{f"{{n}},{{k}},{{st}},{{p}}": bench._taps(n, bench._out_size(n, k, st, p), k, st, p)
        for n in (1, 2, 5, 7, 32) for k in (1, 3, 5, 7) for st in (1, 2) for p in ("SAME", "VALID") if n >= k or p == "SAME"}}
print(json.dumps({{"taps": taps, "vgg224": bench.forward_flops("vgg_16", 1000, 224),
                  "vgg32": bench.forward_flops("vgg_16", 10, 32)}}))
"""


def _brute_taps(n, k, stride, padding):
    """Kernel taps that land inside the input, summed over output positions (TF's SAME/VALID rule)."""
    out = -(-n // stride) if padding == "SAME" else (n - k) // stride + 1
    pad = max((out - 1) * stride + k - n, 0) // 2 if padding == "SAME" else 0
    return sum(1 for o in range(out) for t in range(k) if 0 <= o * stride - pad + t < n)


def _vgg16_macs(size, num_classes):
    """Closed-form multiply-adds of VGG-16 over every tap (slim's graph: fc6 a 7x7 VALID conv at 224)."""
    macs, c_in = 0, 3
    for block, (repeats, width) in enumerate(zip((2, 2, 3, 3, 3), (64, 128, 256, 512, 512))):
        side = size >> block
        for _ in range(repeats):
            macs += side * side * 9 * c_in * width
            c_in = width
    return macs + 7 * 7 * 512 * 4096 + 4096 * 4096 + 4096 * num_classes


def test_flop_count_matches_closed_form():
    out = subprocess.run([sys.executable, "-c", PROBE.format(scripts=os.path.join(REPO, "scripts"))],
                         env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    for key, value in got["taps"].items():
        n, k, stride, padding = key.split(",")
        assert value == _brute_taps(int(n), int(k), int(stride), padding), key
    useful, nominal = got["vgg224"]
    assert nominal == 2 * _vgg16_macs(224, 1000)  # 30.94 GFLOP: the published 15.47 G multiply-adds
    # SAME 3x3 convolutions lose one tap row/column at each border: fewer useful FLOPs.
    assert 0.95 * nominal < useful < nominal
    # At 32x32 fc6 convolves with its centre tap only (tlslim.nets.vgg.fc_conv2d): 512 x 4096 MACs.
    _, nominal32 = got["vgg32"]
    assert nominal32 == 2 * (_vgg16_macs(32, 10) - 7 * 7 * 512 * 4096 + 512 * 4096)


def test_small_run_report(tmp_path):
    output = tmp_path / "bench.json"
    out = subprocess.run([sys.executable, BENCH, "--parts", "head,peak", "--train_subset", "4",
                          "--test_examples", "40", "--epochs", "2", "--batch_size", "8", "--matmul_size", "512",
                          "--output", str(output), "--work_dir", str(tmp_path / "work")],
                         env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["settings"]["head_model"] == "cifarnet" and report["data"]["synthetic"]
    assert "(SYNTHETIC data)" in out.stdout and "pretrained on the SYNTHETIC source task" in out.stdout
    cold, warm = report["cached"]["cold"], report["cached"]["warm"]
    assert cold["extracted"] == {"train": True, "test": True}
    assert warm["extracted"] == {"train": False, "test": False}  # the second run read the cache
    assert [h["epoch"] for h in cold["history"]] == [1, 2]
    assert cold["top1"] == warm["top1"]  # same features, seed and order: the same head
    peak = report["matmul_peak"]["gflop_per_second"]
    # Above zero and below 2 cores x 4 GHz x 64 float32 FLOP per cycle (two AVX-512 FMA units).
    assert 0 < peak < os.cpu_count() * 4 * 64
    assert np.isfinite(peak)
