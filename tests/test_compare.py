"""scripts/compare.py and tlslim.compare: the strategy comparison, its files and their schema.

The command-line run is tiny (2 steps of batch 4 on 2-3 SYNTHETIC target images per class,
20 test images) and uses the embedded checkpoint, so it checks plumbing and bookkeeping, not
that transfer works (the README's measured default run does that).
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from tlslim import compare, embedded, train
from tlslim.errors import TlslimError

from _subprocess_runs import start

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "compare.py")
TINY = ["--strategies", "scratch,head", "--seeds", "0,1", "--train_subset", "2,3", "--max_steps", "2",
        "--batch_size", "4", "--eval_every_steps", "1", "--eval_examples", "20"]


def _run(args, timeout=900):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, SCRIPT] + args, env=env, capture_output=True, text=True, timeout=timeout)


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


# ---------------------------------------------------------------- aggregation (no training)

def _fake_run(strategy, n, seed, accuracy, curve, seconds=1.0, steps=10):
    return {"strategy": strategy, "train_subset": n, "seed": seed, "accuracy": accuracy, "seconds": seconds,
            "steps": steps, "curve": curve}


def test_aggregate_takes_mean_and_population_std_over_seeds_per_subset_and_strategy():
    runs = [_fake_run("scratch", 5, 0, 0.2, [[0, 0.1], [5, 0.15], [10, 0.2]], seconds=2.0),
            _fake_run("scratch", 5, 1, 0.4, [[0, 0.1], [5, 0.25], [10, 0.4]], seconds=4.0),
            _fake_run("head", 5, 0, 0.7, [[0, 0.1], [10, 0.7]]),
            _fake_run("head", 5, 1, 0.8, [[0, 0.2], [10, 0.8]]),
            _fake_run("head", None, 0, 0.9, [[10, 0.9]])]
    rows = compare.aggregate(runs, ["scratch", "head"], [5, None])
    assert [(r["train_subset"], r["strategy"]) for r in rows] == [(5, "scratch"), (5, "head"), (None, "head")]
    scratch, head, full = rows
    assert scratch["accuracy"] == pytest.approx(0.3) and scratch["std"] == pytest.approx(0.1)
    assert scratch["seeds"] == [0, 1] and scratch["accuracies"] == [0.2, 0.4] and scratch["seconds"] == 3.0
    assert scratch["curve"]["steps"] == [0, 5, 10]
    np.testing.assert_allclose(scratch["curve"]["accuracy"], [0.1, 0.2, 0.3])
    np.testing.assert_allclose(scratch["curve"]["std"], [0.0, 0.05, 0.1])
    # Only the steps every seed evaluated make the mean curve.
    assert head["curve"]["steps"] == [0, 10]
    np.testing.assert_allclose(head["curve"]["accuracy"], [0.15, 0.75])
    assert full["std"] == 0.0 and full["seeds"] == [0]
    gains = compare.gains(rows)
    assert gains == [{"train_subset": 5, "best": "head", "accuracy": pytest.approx(0.75),
                      "scratch": pytest.approx(0.3), "points": 45.0}]


def test_outputs_schema_table_and_plots(tmp_path):
    runs = [_fake_run(s, n, k, acc + 0.01 * k, [[0, 0.1], [10, acc]])
            for n, base in ((4, 0.3), (16, 0.5)) for s, acc in (("scratch", base), ("head", base + 0.2))
            for k in (0, 1)]
    rows = compare.aggregate(runs, ["scratch", "head"], [4, 16])
    config = compare.check_config(compare.make_config(strategies=["scratch", "head"], seeds=[0, 1],
                                                    train_subsets=[4, 16], max_steps=10))
    result = {"runs": rows, "gains": compare.gains(rows), "settings": compare.settings_of(config), "seconds": 1.0}
    paths = compare.write_outputs(result, str(tmp_path))
    assert [os.path.basename(p) for p in paths] == ["comparison.json", "comparison.md", "comparison.png",
                                                    "comparison_train_subset.png"]
    saved = json.loads((tmp_path / "comparison.json").read_text())
    assert saved["runs"] == json.loads(json.dumps(rows))
    assert saved["settings"]["checkpoint_path"] == os.path.join("checkpoints", "cifarnet_synthetic")
    table = [line for line in (tmp_path / "comparison.md").read_text().splitlines() if line.startswith("| ")]
    assert table[0].startswith("| train images per class | strategy | accuracy (%)")
    assert [cells.split(" | ")[:3] for cells in (line.strip("| ") for line in table[1:])] == [
        ["4", "scratch", "30.5"], ["4", "head", "50.5"], ["16", "scratch", "50.5"], ["16", "head", "70.5"]]
    # One panel per train subset: (5 * 2 + 1) x 4 inches at 100 dpi.
    assert _png_size(tmp_path / "comparison.png") == (1100, 400)
    assert _png_size(tmp_path / "comparison_train_subset.png") == (600, 400)


def test_one_train_subset_writes_no_subset_plot(tmp_path):
    rows = compare.aggregate([_fake_run("head", 4, 0, 0.5, [[0, 0.1], [10, 0.5]])], ["head"], [4])
    config = compare.check_config(compare.make_config(strategies=["head"], seeds=[0], train_subsets=[4]))
    paths = compare.write_outputs({"runs": rows, "gains": [], "settings": compare.settings_of(config)}, str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["comparison.json", "comparison.md", "comparison.png"]
    assert _png_size(paths[2]) == (600, 400)


@pytest.mark.parametrize("changes, message", [
    ({"strategies": ["head", "nope"]}, r"^unknown strategy 'nope' in --strategies; known: scratch, head, top, all, "),
    ({"strategies": ["head", "head"]}, r"names a strategy twice"),
    ({"seeds": [0, 0]}, r"^--seeds must be distinct non-negative integers"),
    ({"train_subsets": [0]}, r"^--train_subset must be distinct positive numbers"),
    ({"max_steps": 0}, r"^--max_steps must be positive"),
    ({"model": "vgg_16"}, r"^--model vgg_16 needs --checkpoint_path .* or compare --strategies scratch only\.$"),
    ({"model": "nope"}, r"^unknown model 'nope'"),
])
def test_bad_settings_are_one_line_errors(changes, message):
    with pytest.raises(TlslimError, match=message):
        compare.check_config(compare.make_config(**changes))


def test_defaults_are_the_embedded_small_data_setting():
    config = compare.check_config(compare.CompareConfig())
    tc = config.train
    assert tc.model == "cifarnet" and tc.dataset == "synthetic"
    assert tc.checkpoint_path == embedded.checkpoint_dir() and tc.exclude == ("CifarNet/logits",)
    assert tc.learning_rate == 0.01 and tc.max_steps == 200  # slim's rate for every strategy
    assert config.strategies == ("scratch", "head", "top", "all", "discriminative", "fine_tune") == train.STRATEGIES
    assert config.train_subsets == (compare.DEFAULT_SYNTHETIC_SUBSET,)
    assert tc.eval_every_steps == tc.max_steps // 5
    other = compare.check_config(compare.make_config(model="vgg_16", checkpoint_path="vgg_16.ckpt", dataset="cifar10"))
    assert other.train_subsets == (None,) and other.train.exclude == ("vgg_16/fc8",)
    scratch = compare.train_config(config, "scratch", 20, 1, "/tmp/x")
    head = compare.train_config(config, "head", 20, 1, "/tmp/x")
    assert scratch.checkpoint_path is None and scratch.exclude is None and scratch.strategy == "scratch"
    assert head.checkpoint_path == embedded.checkpoint_dir() and head.exclude == ("CifarNet/logits",)
    assert head.train_dir == os.path.join("/tmp/x", "20", "head", "seed1", "train")
    # The equal budget: everything but the start, the strategy and the run's directory is the same.
    differ = ("checkpoint_path", "exclude", "scope_map", "strategy", "train_dir")
    same = {k: v for k, v in vars(head).items() if k not in differ}
    assert same == {k: v for k, v in vars(scratch).items() if k in same}
    # Every TrainConfig field reaches the runs: the comparison holds a TrainConfig, it does not copy one.
    custom = compare.check_config(compare.make_config(momentum=0.5, decay_steps=7, decay_rate=0.25,
                                                      lr_decay="exponential"))
    run = compare.train_config(custom, "all", 20, 0, "/tmp/x")
    assert (run.momentum, run.decay_steps, run.decay_rate, run.lr_decay) == (0.5, 7, 0.25, "exponential")


# ---------------------------------------------------------------- the command (tiny budget)

def _tiny_twice(out):
    first = _run(TINY + ["--output_dir", str(out)])
    assert first.returncode == 0, first.stderr[-3000:]
    saved = json.loads((out / "comparison.json").read_text())
    second = _run(TINY + ["--output_dir", str(out)])
    assert second.returncode == 0, second.stderr[-3000:]
    return out, first, saved, second


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """The module's commands, started together: the tiny comparison run twice in turn, and a bad
    flag (name -> Future)."""
    return {"tiny": start(_tiny_twice, tmp_path_factory.mktemp("compare")),
            "bad_flag": start(_run, ["--strategies", "head,sideways", "--output_dir", "/nonexistent/x"])}


@pytest.fixture(scope="module")
def tiny(started):
    return started["tiny"].result()


def test_tiny_run_writes_the_files_with_the_documented_schema(tiny):
    out, first, saved, _ = tiny
    assert set(os.listdir(out)) == {"comparison.json", "comparison.md", "comparison.png",
                                    "comparison_train_subset.png", "runs"}
    assert set(saved) == {"runs", "gains", "settings", "seconds", "files"}
    assert [(r["train_subset"], r["strategy"]) for r in saved["runs"]] == [
        (2, "scratch"), (2, "head"), (3, "scratch"), (3, "head")]
    for r in saved["runs"]:
        assert set(r) == {"strategy", "train_subset", "accuracy", "std", "seeds", "accuracies", "steps", "seconds",
                          "curve"}
        assert r["seeds"] == [0, 1] and r["steps"] == 2 and r["seconds"] > 0
        # 20 test images: every accuracy is a whole number of them.
        for a in r["accuracies"]:
            assert a * 20 == pytest.approx(round(a * 20))
        assert r["accuracy"] == pytest.approx(np.mean(r["accuracies"]))
        assert r["std"] == pytest.approx(np.std(r["accuracies"]))
        assert r["curve"]["steps"] == [0, 1, 2]
        assert r["curve"]["accuracy"][-1] == pytest.approx(r["accuracy"])
    assert [g["train_subset"] for g in saved["gains"]] == [2, 3]
    for g in saved["gains"]:
        rows = {r["strategy"]: r for r in saved["runs"] if r["train_subset"] == g["train_subset"]}
        assert g["best"] == "head" and g["points"] == pytest.approx(
            100 * (rows["head"]["accuracy"] - rows["scratch"]["accuracy"]), abs=0.01)
    s = saved["settings"]
    assert (s["model"], s["dataset"], s["max_steps"], s["batch_size"], s["seeds"], s["train_subsets"]) == (
        "cifarnet", "synthetic", 2, 4, [0, 1], [2, 3])
    assert s["checkpoint_path"] == os.path.join("checkpoints", "cifarnet_synthetic")
    assert _png_size(out / "comparison.png") == (1100, 400)
    assert _png_size(out / "comparison_train_subset.png") == (600, 400)
    # stdout: the markdown table, then the files.
    assert first.stdout.splitlines()[-1].startswith("total ") and str(out / "comparison.json") in first.stdout
    assert (out / "comparison.md").read_text() in first.stdout


def test_head_runs_start_from_the_checkpoint_and_scratch_runs_from_random_weights(tiny):
    out = tiny[0]
    for strategy, restored in (("head", True), ("scratch", False)):
        for seed in (0, 1):
            run_dir = out / "runs" / "2" / strategy / f"seed{seed}"
            # Finished runs keep their result, not their checkpoints.
            assert os.listdir(run_dir) == ["result.json"]
            settings = json.loads((run_dir / "result.json").read_text())["settings"]
            assert (settings["checkpoint_path"] is not None) == restored
            assert settings["seed"] == seed and settings["train_subset"] == 2 and settings["max_steps"] == 2


def test_rerunning_the_same_comparison_reuses_the_finished_runs(tiny):
    out, _, saved, second = tiny
    assert second.stderr.count("reusing ") == 8
    again = json.loads((out / "comparison.json").read_text())
    assert again["runs"] == saved["runs"]


def test_bad_flag_is_one_line_error(started):
    out = started["bad_flag"].result()
    assert out.returncode == 2
    assert [line for line in out.stderr.splitlines() if line.startswith("error:")] == [
        "error: unknown strategy 'sideways' in --strategies; known: scratch, head, top, all, discriminative, "
        "fine_tune."]
