"""tlslim.benchmark and scripts/bench.py: the FLOP count against hand-derived and closed-form
values, the timing helpers, settings, the ratios and report text, the checkpoint writer the bench
uses, and a tiny run of the script.

Speed itself is never asserted here (it is what the benchmark measures); the matmul peak is only
checked against what two cores can physically do, which catches a timing that measured nothing.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tlslim import checkpoint_files, embedded
from tlslim.benchmark import flops, report, timing
from tlslim.benchmark.settings import Settings, resolve
from tlslim.compat import tf
from tlslim.errors import TlslimError
from tlslim.testing import checkpoints

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "scripts", "bench.py")


# ---------------------------------------------------------------- FLOPs

@pytest.mark.parametrize("n_in, k, stride, padding, n_out", [
    (5, 3, 1, "SAME", 5),
    (5, 3, 2, "SAME", 3),     # ceil(5 / 2)
    (4, 3, 2, "SAME", 2),
    (7, 3, 2, "VALID", 3),    # (7 - 3) // 2 + 1
    (5, 3, 1, "VALID", 3),
    (1, 7, 1, b"SAME", 1),    # the attr as the graph gives it: bytes
    (14, 7, 1, b"VALID", 8),
])
def test_out_size(n_in, k, stride, padding, n_out):
    assert flops.out_size(n_in, k, stride, padding) == n_out


@pytest.mark.parametrize("n_in, k, stride, padding, expected", [
    # SAME 3x3, stride 1, n=5: one pixel of padding each side; the two border outputs see 2 taps.
    (5, 3, 1, "SAME", 2 + 3 + 3 + 3 + 2),
    # SAME 3x3, stride 2, n=5: 3 outputs, padding 1 each side; windows [-1,1], [1,3], [3,5].
    (5, 3, 2, "SAME", 2 + 3 + 2),
    # SAME 3x3, stride 2, n=4: total padding 1, all of it after (TF's rule); windows [0,2], [2,4].
    (4, 3, 2, "SAME", 3 + 2),
    # SAME 5x5, stride 1, n=28: the first and last outputs lose 2 taps, the next ones 1.
    (28, 5, 1, "SAME", 5 * 28 - 2 * (2 + 1)),
    # SAME 7x7 on a 1-pixel map (VGG's fc6 at 32x32): only the centre tap is inside.
    (1, 7, 1, "SAME", 1),
    (7, 1, 1, "SAME", 7),
    # VALID: every tap of every output is inside.
    (5, 3, 1, "VALID", 3 * 3),
    (7, 3, 2, "VALID", 3 * 3),
])
def test_taps(n_in, k, stride, padding, expected):
    assert flops.taps(n_in, flops.out_size(n_in, k, stride, padding), k, stride, padding) == expected


def _brute_taps(n, k, stride, padding):
    """Kernel taps that land inside the input, summed over output positions (TF's SAME/VALID rule)."""
    out = -(-n // stride) if padding == "SAME" else (n - k) // stride + 1
    pad = max((out - 1) * stride + k - n, 0) // 2 if padding == "SAME" else 0
    return sum(1 for o in range(out) for t in range(k) if 0 <= o * stride - pad + t < n)


def test_taps_match_brute_force():
    for n in (1, 2, 5, 7, 32):
        for k in (1, 3, 5, 7):
            for stride in (1, 2):
                for padding in ("SAME", "VALID"):
                    if n >= k or padding == "SAME":
                        got = flops.taps(n, flops.out_size(n, k, stride, padding), k, stride, padding)
                        assert got == _brute_taps(n, k, stride, padding), (n, k, stride, padding)


# LeNet at 28x28 (3 channels), by hand from tlslim/nets/lenet.py: slim's convolutions are SAME,
# the 2x2 pools halve the map (28 -> 14 -> 7), fc3 sees the 7x7x64 map flattened.
#   (layer, output side, kernel side, in channels, out channels)
LENET_CONVS = [("conv1", 28, 5, 3, 32), ("conv2", 14, 5, 32, 64)]
LENET_FCS = [("fc3", 7 * 7 * 64, 1024), ("fc4", 1024, 10)]


def test_forward_flops_of_lenet_by_hand():
    fc_macs = sum(n_in * n_out for _, n_in, n_out in LENET_FCS)                       # 3,221,504
    nominal_macs = sum(side * side * k * k * c_in * c_out for _, side, k, c_in, c_out in LENET_CONVS)
    # SAME 5x5 at stride 1 keeps 5 * side - 6 taps per axis (see test_taps).
    useful_macs = sum((5 * side - 6) ** 2 * c_in * c_out for _, side, _, c_in, c_out in LENET_CONVS)
    assert (nominal_macs, useful_macs) == (11_916_800, 10_112_384)
    useful, nominal = flops.forward_flops("lenet", 10, 28)
    assert nominal == 2 * (nominal_macs + fc_macs) == 30_276_608
    assert useful == 2 * (useful_macs + fc_macs) == 26_667_776
    out = flops.training_gflops("lenet", 10, 28, images_per_second=10.0)
    assert out["forward_gflop_per_image"] == pytest.approx(0.026667776)
    assert out["forward_gflop_per_image_all_taps"] == pytest.approx(0.030276608)
    assert out["gflop_per_second"] == pytest.approx(3 * 0.026667776 * 10)
    assert out["gflop_per_second_all_taps"] == pytest.approx(3 * 0.030276608 * 10)


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
    useful, nominal = flops.forward_flops("vgg_16", 1000, 224)
    assert nominal == 2 * _vgg16_macs(224, 1000)  # 30.94 GFLOP: the published 15.47 G multiply-adds
    # SAME 3x3 convolutions lose one tap row/column at each border: fewer useful FLOPs.
    assert 0.95 * nominal < useful < nominal
    # At 32x32 fc6 convolves with its centre tap only (tlslim.nets.vgg.fc_conv2d): 512 x 4096 MACs.
    _, nominal32 = flops.forward_flops("vgg_16", 10, 32)
    assert nominal32 == 2 * (_vgg16_macs(32, 10) - 7 * 7 * 512 * 4096 + 512 * 4096)


# ---------------------------------------------------------------- timing

def test_time_call_and_best_time():
    calls = []
    assert timing.time_call(lambda: calls.append(1), repeat=3) >= 0 and len(calls) == 3
    assert timing.best_time(lambda: calls.append(1), rounds=2) >= 0 and len(calls) == 5


def test_matmul_peak_of_a_tiny_matmul():
    peak = timing.matmul_peak(64, "/cpu:0", seconds=0.05)
    # Above zero and below 2 cores x 4 GHz x 64 float32 FLOP per cycle (two AVX-512 FMA units).
    assert np.isfinite(peak) and 0 < peak < os.cpu_count() * 4 * 64


# ---------------------------------------------------------------- settings

def test_settings_resolve_presets_and_the_embedded_head():
    s = resolve(Settings())
    assert (s.model, s.image_size, s.batch_size, s.epochs, s.matmul_size) == ("vgg_16", 32, 32, 40, 2048)
    # No checkpoint: VGG-16 on a SYNTHETIC one, the head parts on the embedded CifarNet.
    assert s.synthetic_checkpoint and s.head_model == embedded.MODEL == "cifarnet"
    assert s.head_checkpoint == embedded.checkpoint_dir()
    assert resolve(s) == s
    record = s.as_dict()
    assert record["synthetic_checkpoint"] is True and record["parts"] == ["head", "full", "keras", "peak"]
    json.dumps(record)
    full = resolve(Settings(preset="full", epochs=2, checkpoint_path="vgg_16.ckpt", parts=("head", " full")))
    assert (full.image_size, full.epochs, full.parts) == (224, 2, ("head", "full"))
    assert (full.head_model, full.head_checkpoint, full.synthetic_checkpoint) == ("vgg_16", None, False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(preset="huge"), "unknown preset"),
    (dict(parts=("head", "speed")), "unknown part(s) speed"),
    (dict(head_model="lenet"), "needs --head_checkpoint_path"),
    (dict(model="lenet", parts=("keras",)), "VGG-16's"),
    (dict(optimizer="adam"), "SGD with momentum"),
])
def test_settings_refused(kwargs, message):
    with pytest.raises(TlslimError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve(Settings(**kwargs))


# ---------------------------------------------------------------- ratios and the report

def _report():
    """A hand-written report of every part, with round numbers."""
    return {
        "settings": resolve(Settings()).as_dict(),
        "machine": {"cpu_count": 2, "load_average_start": [0.5, 0, 0], "load_average_end": [1.5, 0, 0]},
        "data": {"dataset": "synthetic", "synthetic": True, "train_images": 500, "test_images": 1000},
        "checkpoint": {"synthetic": True},
        "baseline": {"setup_seconds": 1.0, "head_epoch_seconds": [3.0, 2.0, 2.0], "head_top1": 0.70,
                     "notebook_dropout": {"head_top1": 0.68}, "full_images_per_second": 1.6},
        "cached": {"cold": {"epoch_seconds": 0.1, "top1": 0.705, "seconds": 6.5,
                            "history": [{"epoch": 1, "top1": 0.5, "seconds": 5.0},
                                        {"epoch": 2, "top1": 0.695, "seconds": 6.0}]},
                   "warm": {"history": [{"epoch": 1, "top1": 0.70, "seconds": 1.6}]}},
        "keras": {"applications": {"images_per_second": 4.0}, "applications_xla": {"images_per_second": 5.0},
                  "same_graph": {"images_per_second": 1.0}},
        "tlslim_full": {"images_per_second": 2.0, "gflop_per_second": 40.0, "gflop_per_second_all_taps": 50.0},
        "matmul_peak": {"gflop_per_second": 100.0},
    }


def test_ratios_of_a_hand_written_report():
    r = report.ratios(_report())
    assert r == pytest.approx({
        "head_epoch_speedup": 20.0,                       # mean of the epochs after the first: 2.0 / 0.1
        "head_accuracy_points": 0.5,
        "head_total_speedup": 8.0 / 6.5,                  # baseline 1 + 7 s; the whole cold cached run 6.5 s
        "head_time_to_accuracy_speedup": 8.0 / 6.0,       # baseline 1 + 7 s; cold cache reaches 0.69 at 6 s
        "head_time_to_accuracy_speedup_warm_cache": 5.0,  # 8 / 1.6
        "head_target_met": True,
        "head_accuracy_points_vs_notebook_dropout": 2.5,
        "full_vs_keras": 0.4,                             # against the faster Keras run (XLA, 5 images/s)
        "full_vs_keras_target_met": False,
        "full_vs_keras_same_graph": 2.0,
        "full_vs_baseline": 1.25,
        "full_vs_baseline_target_met": False,
        "full_peak_fraction": 0.4,
        "full_peak_fraction_all_taps": 0.5,
        "full_peak_target_met": False,
    })


def test_format_report_of_a_hand_written_report():
    rep = _report()
    rep["ratios"] = report.ratios(rep)
    lines = report.format_report(rep).splitlines()
    assert lines[0] == "500 train / 1000 test images of synthetic (SYNTHETIC data), 32x32, batch 32"
    assert lines[1] == "  head-only parts: cifarnet (embedded checkpoint: pretrained on the SYNTHETIC source task)"
    assert lines[2] == "  full fine-tune parts: vgg_16 (SYNTHETIC checkpoint: random weights)"
    assert lines[3] == "load average 0.5 at the start, 1.5 at the end, on 2 cores"
    rows = dict(re.fullmatch(r"\s+(.*?)\s+(-?\d+\.\d\d  \(target .*)", line).groups()
                for line in lines[4:] if "(target" in line)
    assert rows == {
        "head epoch after the first: baseline / cached": "20.00  (target >= 20x)  ok",
        "head accuracy: cached - baseline (points)": "0.50  (target within +-1)  ok",
        "same epochs, whole run: baseline / cached": "1.23  (target >= 3x)  MISSED",
        "cached - notebook loop with dropout on in the base": "2.50  (target info)",
        "time to the baseline's accuracy: baseline / cached": "1.33  (target info)",
        "same, features already cached": "5.00  (target info)",
        "full fine-tune images/s: tlslim / Keras Applications fit": "0.40  (target >= 1.0x)  MISSED",
        "tlslim / Keras with tlslim's conv top (same FLOPs)": "2.00  (target info)",
        "full fine-tune images/s: tlslim / baseline loop": "1.25  (target >= 1.3x)  MISSED",
        "full fine-tune GFLOP/s / matmul peak": "0.40  (target >= 0.5)  MISSED",
        "same, counting every tap (padding too)": "0.50  (target info)",
    }
    assert "    top-1 after 40 epochs: baseline 0.7000, cached 0.7050 (frozen base in inference mode in both)" in lines


def test_report_of_the_head_part_alone():
    rep = _report()
    for key in ("keras", "tlslim_full", "matmul_peak"):
        del rep[key]
    rep["cached"]["cold"]["history"] = [{"epoch": 1, "top1": 0.5, "seconds": 5.0}]  # never reaches the baseline
    rep["ratios"] = report.ratios(rep)
    assert rep["ratios"]["head_time_to_accuracy_speedup"] is None
    assert not any(key.startswith("full") for key in rep["ratios"])
    text = report.format_report(rep)
    assert "time to the baseline's accuracy: baseline / cached   not measured" in text
    assert "full fine-tune" not in text.split("\n", 3)[3]


def test_precision_part_ratio_and_refusal_line():
    """Part 5: mixed_bfloat16 images/s over float32's, or the one-line reason it was refused."""
    rep = _report()
    rep["precision"] = {"float32": {"images_per_second": 16.0}, "mixed_bfloat16": {"images_per_second": 27.0}}
    rep["ratios"] = report.ratios(rep)
    assert rep["ratios"]["bfloat16_speedup"] == pytest.approx(27.0 / 16.0)
    assert "full fine-tune images/s: mixed_bfloat16 / float32 (vgg_16)     1.69  (target info)" \
        in report.format_report(rep)
    refused = "--precision mixed_bfloat16 needs a CPU with bfloat16 arithmetic (avx512_bf16 or AMX), and this one ..."
    rep["precision"]["mixed_bfloat16"] = {"refused": refused}
    rep["ratios"] = report.ratios(rep)
    assert "bfloat16_speedup" not in rep["ratios"]
    assert f"  mixed_bfloat16 not measured: {refused}" in report.format_report(rep).splitlines()
    assert resolve(Settings()).parts == ("head", "full", "keras", "peak")  # asked for by name only


def test_replicas_part_ratio():
    """Part 6: images/s of two replicas over one."""
    rep = _report()
    rep["replicas"] = {"1": {"images_per_second": 40.0}, "2": {"images_per_second": 30.0}}
    rep["ratios"] = report.ratios(rep)
    assert rep["ratios"]["replicas_2_vs_1"] == pytest.approx(0.75)
    text = report.format_report(rep)
    assert "full fine-tune images/s: 2 replicas / 1 (vgg_16, CPU devices)     0.75  (target info)" in text
    assert "on a CPU this is their overhead, not a speed-up" in text


# ---------------------------------------------------------------- the checkpoint the bench writes

def test_write_checkpoint_v1_is_atomic(tmp_path):
    path = str(tmp_path / "model.ckpt")
    tensors = {"a/weights": np.arange(6, dtype=np.float32).reshape(2, 3), "global_step": np.int64(7)}
    assert checkpoint_files.write_checkpoint(path, tensors) == path
    before = open(path, "rb").read()
    with pytest.raises(tf.errors.OpError):  # the save itself fails: the old file stays, no temp file is left
        checkpoint_files.write_checkpoint(path, {"a/weights": np.array([None], dtype=object)})
    assert os.listdir(tmp_path) == ["model.ckpt"] and open(path, "rb").read() == before
    reader = tf.train.load_checkpoint(path)
    assert reader.get_variable_to_shape_map() == {"a/weights": [2, 3], "global_step": []}
    np.testing.assert_array_equal(reader.get_tensor("a/weights"), tensors["a/weights"])
    assert reader.get_tensor("global_step") == 7


def test_write_net_checkpoint_values_and_the_testing_names(tmp_path):
    path = checkpoint_files.write_net_checkpoint("lenet", str(tmp_path / "lenet.ckpt"), num_classes=5, seed=3)
    reader = tf.train.load_checkpoint(path)
    shapes = checkpoint_files.net_shapes("lenet", num_classes=5)
    assert reader.get_variable_to_shape_map() == shapes and shapes["LeNet/fc4/weights"] == [1024, 5]
    for name, shape in shapes.items():
        assert reader.get_tensor(name).tobytes() == checkpoint_files.synthetic_value(name, shape, 3).tobytes()
    # The tests' fixtures are the library's writers.
    for name in ("write_checkpoint", "write_net_checkpoint", "net_shapes", "synthetic_tensors", "synthetic_value"):
        assert getattr(checkpoints, name) is getattr(checkpoint_files, name)


# ---------------------------------------------------------------- the script

def test_small_run_report(tmp_path):
    output = tmp_path / "bench.json"
    out = subprocess.run([sys.executable, BENCH, "--parts", "head,peak", "--train_subset", "4",
                          "--test_examples", "40", "--epochs", "2", "--batch_size", "8", "--matmul_size", "512",
                          "--output", str(output), "--work_dir", str(tmp_path / "work")],
                         env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    rep = json.loads(output.read_text())
    assert rep["settings"]["head_model"] == "cifarnet" and rep["data"]["synthetic"]
    assert "(SYNTHETIC data)" in out.stdout and "pretrained on the SYNTHETIC source task" in out.stdout
    cold, warm = rep["cached"]["cold"], rep["cached"]["warm"]
    assert cold["extracted"] == {"train": True, "test": True}
    assert warm["extracted"] == {"train": False, "test": False}  # the second run read the cache
    assert [h["epoch"] for h in cold["history"]] == [1, 2]
    assert cold["top1"] == warm["top1"]  # same features, seed and order: the same head
    peak = rep["matmul_peak"]["gflop_per_second"]
    # Above zero and below 2 cores x 4 GHz x 64 float32 FLOP per cycle (two AVX-512 FMA units).
    assert 0 < peak < os.cpu_count() * 4 * 64
    assert np.isfinite(peak)


def test_script_refuses_bad_parts_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, BENCH, "--parts", "head,speed", "--output", str(tmp_path / "b.json")],
                         env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith("error: --parts: unknown part(s)")
    assert not (tmp_path / "b.json").exists()
