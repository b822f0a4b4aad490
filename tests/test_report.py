"""What a model learned: per-class metrics from the confusion matrix (against numbers worked out by
hand), the macro averages in every evaluation line, TensorBoard scalars of a resumed run, and
scripts/evaluate.py --report as a user runs it."""
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from tlslim import report, train
from tlslim.compat import tf
from tlslim.testing.cli import one_error_line, run_script, snapshot
from tlslim.train import evaluation

from _subprocess_runs import start

# A made-up 5-class split of 12 examples. For each: true class, then the classes from most to least
# likely (the first is the prediction), then how peaked the logits are (scale of 5, 4, 3, 2, 1).
CAT, DOG, BIRD, FISH, FROG = range(5)
NAMES = ["cat", "dog", "bird", "fish", "frog"]
EXAMPLES = [
    (CAT, [CAT, DOG, BIRD, FISH, FROG], 1.0),
    (CAT, [CAT, BIRD, DOG, FISH, FROG], 1.0),
    (CAT, [DOG, CAT, BIRD, FISH, FROG], 1.0),   # wrong, true class 2nd
    (DOG, [DOG, CAT, BIRD, FISH, FROG], 1.0),
    (DOG, [CAT, DOG, BIRD, FISH, FROG], 2.0),   # wrong, 2nd
    (BIRD, [BIRD, CAT, DOG, FISH, FROG], 1.0),
    (BIRD, [FISH, CAT, BIRD, DOG, FROG], 0.5),  # wrong, 3rd; fish is in no example's true class
    (BIRD, [BIRD, DOG, CAT, FISH, FROG], 1.0),
    (BIRD, [DOG, BIRD, CAT, FISH, FROG], 3.0),  # wrong, 2nd
    (CAT, [CAT, DOG, BIRD, FISH, FROG], 1.0),
    (FROG, [CAT, DOG, BIRD, FISH, FROG], 1.5),  # wrong, 5th; frog is never predicted
    (FROG, [BIRD, CAT, DOG, FROG, FISH], 0.2),  # wrong, 4th
]


def _made_up():
    labels = np.array([e[0] for e in EXAMPLES], np.int64)
    logits = np.zeros((len(EXAMPLES), 5))
    for row, (_, order, scale) in enumerate(EXAMPLES):
        for place, cls in enumerate(order):
            logits[row, cls] = scale * (5 - place)
    return logits, labels


# Worked out by hand from EXAMPLES (rows true, columns predicted).
MATRIX = [[3, 1, 0, 0, 0],   # cat:  support 4
          [1, 1, 0, 0, 0],   # dog:  support 2
          [0, 1, 2, 1, 0],   # bird: support 4
          [0, 0, 0, 0, 0],   # fish: support 0
          [1, 0, 1, 0, 0]]   # frog: support 2
# predicted: cat 5, dog 3, bird 3, fish 1, frog 0
PRECISION = [3 / 5, 1 / 3, 2 / 3, 0.0, 0.0]      # frog: 0/0 -> 0
RECALL = [3 / 4, 1 / 2, 2 / 4, None, 0.0]       # fish: absent from the split
F1 = [2 / 3, 2 / 5, 4 / 7, None, 0.0]           # 2PR/(P+R): cat 0.9/1.35, dog (1/3)/(5/6), bird (2/3)/(7/6)
# Over cat, dog, bird, frog (support > 0): plain means, and means weighted by support 4, 2, 4, 2.
MACRO = {"precision": 1.6 / 4, "recall": 1.75 / 4, "f1": (2 / 3 + 2 / 5 + 4 / 7) / 4}   # 0.4, 0.4375, 43/105
WEIGHTED = {"precision": 43 / 90, "recall": 6 / 12, "f1": 151 / 315}  # (2.4+2/3+8/3)/12, 6/12, (8/3+4/5+16/7)/12
TOPK = [6 / 12, 9 / 12, 10 / 12, 11 / 12, 12 / 12]
# Wrong examples by the predicted class's probability: a row of 5s, 4s, ... scaled by s gives the
# top class 1 / sum_j exp(-j s), so the larger s, the more confident.
ERRORS = [(8, 3.0), (4, 2.0), (10, 1.5), (2, 1.0), (6, 0.5), (11, 0.2)]


def _top_probability(scale):
    return 1 / sum(math.exp(-j * scale) for j in range(5))


def test_confusion_matrix_and_class_metrics_match_the_hand_computed_numbers():
    logits, labels = _made_up()
    matrix = evaluation.confusion_matrix(labels, np.argmax(logits, 1), 5)
    assert matrix.tolist() == MATRIX
    m = evaluation.class_metrics(matrix)
    assert m["support"].tolist() == [4, 2, 4, 0, 2] and m["predicted"].tolist() == [5, 3, 3, 1, 0]
    np.testing.assert_allclose(m["precision"], PRECISION)
    np.testing.assert_allclose(m["recall"], [np.nan if r is None else r for r in RECALL])
    np.testing.assert_allclose(m["f1"], [np.nan if f is None else f for f in F1])
    for name, expected in (("macro", MACRO), ("weighted", WEIGHTED)):
        assert m[name] == pytest.approx(expected, abs=1e-12), name
    assert MACRO["f1"] == pytest.approx(43 / 105)


def test_eval_metrics_has_the_macro_averages_and_format_metrics_prints_them():
    logits, labels = _made_up()
    m = evaluation.eval_metrics(logits, labels)
    assert m["top1"] == 0.5 and m["top5"] is None and m["count"] == 12
    assert m["macro_recall"] == pytest.approx(0.4375) and m["macro_f1"] == pytest.approx(43 / 105)
    line = evaluation.format_metrics(m)
    assert line.startswith("top-1 0.5000, macro recall 0.4375, macro F1 0.4095, loss ")
    assert line.endswith(" on 12 test images")
    # Six classes: top-5 comes before the macro part, as before.
    six = evaluation.eval_metrics(np.pad(logits, ((0, 0), (0, 1)), constant_values=-9), labels)
    assert evaluation.format_metrics(six).startswith("top-1 0.5000, top-5 1.0000, macro recall 0.4375, ")
    # Metrics written before the macro averages existed still format.
    old = {k: m[k] for k in ("top1", "top5", "loss", "count")}
    assert evaluation.format_metrics(old).startswith("top-1 0.5000, loss ")


def test_build_report_numbers_topk_and_most_confident_errors():
    logits, labels = _made_up()
    r = report.build_report(logits, labels, NAMES, indices=np.arange(100, 112))
    assert r["count"] == 12 and r["num_classes"] == 5 and r["accuracy"] == r["top1"] == 0.5
    assert r["confusion_matrix"] == MATRIX
    got = [(c["name"], c["precision"], c["recall"], c["f1"], c["support"]) for c in r["classes"]]
    for (name, p, rec, f1, support), want in zip(got, zip(NAMES, PRECISION, RECALL, F1, [4, 2, 4, 0, 2])):
        assert (name, support) == (want[0], want[4])
        assert p == pytest.approx(want[1]) and rec == pytest.approx(want[2]) and f1 == pytest.approx(want[3])
    assert r["macro"] == pytest.approx(MACRO) and r["weighted"] == pytest.approx(WEIGHTED)
    assert r["topk"]["k"] == [1, 2, 3, 4, 5] and r["topk"]["accuracy"] == pytest.approx(TOPK)
    errors = r["most_confident_errors"]
    assert [e["index"] for e in errors] == [100 + i for i, _ in ERRORS]
    assert [e["probability"] for e in errors] == pytest.approx([_top_probability(s) for _, s in ERRORS])
    assert [(e["true"], e["predicted"]) for e in errors[:3]] == [(BIRD, DOG), (DOG, CAT), (FROG, CAT)]
    assert len(report.build_report(logits, labels, NAMES, max_errors=2)["most_confident_errors"]) == 2
    json.dumps(r, allow_nan=False)  # absent-class recall is null, not NaN

    md = report.markdown(dict(r, model="m", dataset="d", split="test", checkpoint_path="ckpt", checkpoint=None))
    assert "| cat | 0.6000 | 0.7500 | 0.6667 | 4 |" in md
    assert "| fish | 0.0000 | \u2013 | \u2013 | 0 |" in md
    assert "| **macro average** | 0.4000 | 0.4375 | 0.4095 | 12 |" in md
    assert "| **weighted average** | 0.4778 | 0.5000 | 0.4794 | 12 |" in md


def test_ties_rank_the_lower_class_first_as_argmax_does():
    logits = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0]])
    labels = np.array([1, 1])
    assert evaluation.ranked_classes(logits)[:, 0].tolist() == np.argmax(logits, 1).tolist() == [0, 1]
    assert evaluation.topk_accuracy(logits, labels, (1, 2)) == [0.5, 1.0]


def _write_events(path, suffix, points):
    with tf.Graph().as_default():
        writer = tf.summary.FileWriter(path, filename_suffix=suffix)
        for step, values in points:
            writer.add_summary(tf.Summary(value=[tf.Summary.Value(tag=k, simple_value=v)
                                                 for k, v in values.items()]), step)
        writer.close()


def test_read_scalars_drops_what_a_killed_run_logged_past_its_checkpoint(tmp_path):
    # The first run logged to step 30 and evaluated at 20, then died; its checkpoint was step 20.
    _write_events(str(tmp_path), ".1", [(10, {"loss": 2.0}), (20, {"loss": 1.5, "eval/top1": 0.5}),
                                        (30, {"loss": 1.125})])
    _write_events(str(tmp_path), ".2", [(25, {"loss": 1.25}), (40, {"loss": 1.0, "eval/top1": 0.75})])
    first = next(name for name in os.listdir(tmp_path) if name.endswith(".1"))
    with open(tmp_path / first, "ab") as f:
        f.write(b"\x01\x02")  # the killed run's half-written last record: read up to it
    scalars = report.read_scalars(str(tmp_path))
    assert scalars["loss"] == [[10, 2.0], [20, 1.5], [25, 1.25], [40, 1.0]]  # float32-exact values
    assert scalars["eval/top1"] == [[20, 0.5], [40, 0.75]]
    assert report.read_scalars(str(tmp_path / "none")) == {}


def _png_size(path):
    """(width, height) of a PNG file; AssertionError if it is not one."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path
    return struct.unpack(">II", head[16:24])


def _check_png(path, max_bytes=400_000):
    import matplotlib.image
    width, height = _png_size(path)
    assert 300 <= width <= 3200 and 250 <= height <= 2000, (path, width, height)
    assert 5_000 < os.path.getsize(path) <= max_bytes, (path, os.path.getsize(path))
    assert matplotlib.image.imread(path).shape[:2] == (height, width)  # decodes


def test_figures_for_100_classes_stay_small(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(100), 5)
    logits = rng.normal(size=(500, 100))
    logits[np.arange(500), labels] += 2.0
    names = [f"a rather long class name number {i}" for i in range(100)]
    r = dict(report.build_report(logits, labels, names), model="m", dataset="d", split="test",
             checkpoint_path="c", checkpoint=None)
    images = rng.integers(0, 256, (500, 32, 32, 3), dtype=np.uint8)
    files = report.write_report(r, images, str(tmp_path / "r"))
    assert sorted(os.path.basename(f) for f in files) == sorted(
        [report.CONFUSION_PNG, report.TOPK_PNG, report.ERRORS_PNG, report.MD_NAME, report.JSON_NAME])
    for f in files:
        if f.endswith(".png"):
            _check_png(f)
    assert not [n for n in os.listdir(tmp_path / "r") if n.startswith(".")]  # no staging left behind


@pytest.mark.slow
def test_finetune_then_evaluate_report(tmp_path):
    train_dir, report_dir = tmp_path / "T", tmp_path / "R"
    proc = run_script("finetune.py", "--max_steps", 20, "--train_dir", train_dir, "--eval_examples", 200,
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The report, and beside it two bad --report paths in a directory of their own: one line
    # naming --report, before any work (even the missing checkpoint is not looked at), and nothing
    # written there or in the train_dir.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a_file").write_text("x")
    before = snapshot(elsewhere), snapshot(train_dir)
    bad_runs = [(bad, start(run_script, "evaluate.py", "--checkpoint_path", checkpoint, "--report", bad,
                            cwd=elsewhere))
                for checkpoint, bad in ((train_dir, elsewhere / "a_file"),
                                        (elsewhere / "nowhere", elsewhere / "a_file" / "R"))]
    proc = run_script("evaluate.py", "--checkpoint_path", train_dir, "--report", report_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for bad, run in bad_runs:
        assert one_error_line(run.result()) == (f"error: --report {bad} cannot be a directory: "
                                                f"{elsewhere / 'a_file'} is a file; pass a directory path for the "
                                                f"evaluation report.")
    assert (snapshot(elsewhere), snapshot(train_dir)) == before
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("cifarnet on synthetic/test (1000 images): top-1 "), line
    printed = dict(zip(*[iter(line.split(": ", 1)[1].replace("macro ", "macro_").split())] * 2))

    names = ["confusion_matrix.png", "most_confident_errors.png", "report.json", "report.md",
             "topk_accuracy.png", "training_curves.png"]
    assert sorted(os.listdir(report_dir)) == names
    for name in names:
        if name.endswith(".png"):
            _check_png(report_dir / name)
    r = json.loads((report_dir / "report.json").read_text())
    assert r["accuracy"] == r["top1"] and f"{r['top1']:.4f}" == printed["top-1"]
    assert f"{r['macro']['recall']:.4f}" == printed["macro_recall"] and f"{r['macro']['f1']:.4f}" == printed["macro_F1"]
    assert r["count"] == 1000 == sum(c["support"] for c in r["classes"]) == sum(map(sum, r["confusion_matrix"]))
    assert sum(c["predicted"] for c in r["classes"]) == 1000 and len(r["classes"]) == r["num_classes"] == 10
    assert r["topk"]["k"] == list(range(1, 11)) and r["topk"]["accuracy"][0] == r["top1"]
    assert r["topk"]["accuracy"][4] == r["top5"] and r["topk"]["accuracy"][-1] == 1.0
    assert r["training"]["eval/top1"][-1][0] == 20 and r["training"]["loss"][-1][0] == 20
    # The errors are the split's own examples: their true class is the dataset's label there.
    from tlslim import data
    test_labels = data.load("synthetic", split="test").labels
    errors = r["most_confident_errors"]
    assert 0 < len(errors) <= 16 and all(test_labels[e["index"]] == e["true"] != e["predicted"] for e in errors)
    assert [e["probability"] for e in errors] == sorted((e["probability"] for e in errors), reverse=True)
    md = (report_dir / "report.md").read_text()
    assert "| **macro average** |" in md and all(f"]({n})" in md for n in names if n.endswith(".png"))


def test_slims_eval_flags(tmp_path):
    """eval_image_classifier.py's spellings: --dataset_split_name, --eval_image_size and
    --max_num_batches (at most N batches: N * --batch_size images)."""
    run = str(tmp_path / "run")
    train.train(train.TrainConfig(model="cifarnet", strategy="scratch", dataset="synthetic", train_subset=2,
                                  batch_size=4, max_steps=1, eval_examples=4, train_dir=run))
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "evaluate.py")
    proc = start(subprocess.run, [sys.executable, script, "--checkpoint_path", run, "--dataset_split_name", "train",
                                  "--eval_image_size", "32", "--max_num_batches", "2", "--batch_size", "5"],
                 capture_output=True, text=True, timeout=300)  # while the library evaluates in this process
    metrics, used = train.evaluate_run(train.EvalConfig(checkpoint_path=run, max_num_batches=3, batch_size=7))
    assert metrics["count"] == 21 and used.eval_examples == 21
    metrics, _ = train.evaluate_run(train.EvalConfig(checkpoint_path=run, max_num_batches=3, batch_size=7,
                                                     eval_examples=10))
    assert metrics["count"] == 10
    proc = proc.result()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "synthetic/train (10 images)" in proc.stdout, proc.stdout
