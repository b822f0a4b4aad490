"""scripts/finetune.py and scripts/evaluate.py as a user runs them (subprocesses).

The VGG-16 checkpoint is a SYNTHETIC stand-in in the release format (528 MB; names, shapes and
V1 file format of vgg_16.ckpt, random values) and the CIFAR-10 files are SYNTHETIC images in the
official python format (tlslim.testing).
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tlslim.compat import tf
from tlslim.testing import checkpoints, datasets

from _subprocess_runs import start

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINETUNE = os.path.join(REPO, "scripts", "finetune.py")
EVALUATE = os.path.join(REPO, "scripts", "evaluate.py")


def _run(args, cwd=None, script=FINETUNE, timeout=600):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, script] + args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _error_lines(out):
    return [line for line in out.stderr.splitlines() if line.startswith("error:")]


def _printed(out):
    """The `name=value` lines of --dry_run as a dict."""
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def vgg(tmp_path_factory):
    root = tmp_path_factory.mktemp("vgg")
    ckpt = checkpoints.write_net_checkpoint("vgg_16", str(root / "vgg_16.ckpt"))
    cifar_dir, _ = datasets.write_cifar10_batches(str(root / "data"), per_batch=4, num_test=10)
    return ckpt, cifar_dir, root


@pytest.mark.slow
def test_vgg16_release_checkpoint_on_cifar10(vgg):
    ckpt, cifar_dir, root = vgg
    command = ["--model", "vgg_16", "--checkpoint_path", ckpt, "--exclude", "vgg_16/fc8", "--dataset", "cifar10",
               "--dataset_dir", cifar_dir, "--image_size", "32", "--max_steps", "2"]
    # The same command without --exclude stops before training with the restore advice (run beside).
    no_exclude = start(_run, command[:4] + command[6:] + ["--train_dir", str(root / "no_exclude")], cwd=str(root))
    out = _run(command, cwd=str(root))
    assert out.returncode == 0, out.stderr[-3000:]
    train_dir = root / "runs" / "vgg_16-cifar10-head"
    latest = tf.train.latest_checkpoint(str(train_dir))
    assert latest == str(train_dir / "model.ckpt-2")
    assert out.stdout.strip().splitlines()[-1].startswith("step 2: test top-1 ")
    reader, release = tf.train.load_checkpoint(latest), tf.train.load_checkpoint(ckpt)
    assert reader.get_variable_to_shape_map()["vgg_16/fc8/weights"] == [1, 1, 4096, 10]
    for name in ("vgg_16/conv1/conv1_1/weights", "vgg_16/fc7/biases"):  # frozen: as released
        np.testing.assert_array_equal(reader.get_tensor(name), release.get_tensor(name))
    assert "vgg_16/mean_rgb" not in reader.get_variable_to_shape_map()  # release extras are not restored

    out = no_exclude.result()
    assert out.returncode == 2
    errors = _error_lines(out)
    assert len(errors) == 1 and "vgg_16/fc8" in errors[0] and "--exclude" in errors[0], out.stderr[-2000:]
    assert not (root / "no_exclude").exists()


def _fake_repo(tmp_path, with_checkpoint):
    """A copy of the script and the package in a repository layout of their own, with or without a
    stand-in for the built-in checkpoint (the package finds it beside itself)."""
    scripts = tmp_path / "repo" / "scripts"
    scripts.mkdir(parents=True)
    shutil.copy(FINETUNE, scripts / "finetune.py")
    shutil.copytree(os.path.join(REPO, "tlslim"), tmp_path / "repo" / "tlslim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    if with_checkpoint:
        (tmp_path / "repo" / "checkpoints" / "cifarnet_synthetic").mkdir(parents=True)
        (tmp_path / "repo" / "checkpoints" / "cifarnet_synthetic" / "cifarnet_synthetic.ckpt").write_text("stand-in")
    return str(scripts / "finetune.py")


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """The module's commands that stand alone, started together: name -> (Future of the
    CompletedProcess, its directory)."""
    runs = {}
    no_checkpoint = tmp_path_factory.mktemp("no_checkpoint")
    runs["no_flags"] = (start(_run, [], cwd=str(no_checkpoint),
                              script=_fake_repo(no_checkpoint, with_checkpoint=False)), no_checkpoint)
    with_checkpoint = tmp_path_factory.mktemp("with_checkpoint")
    script = _fake_repo(with_checkpoint, with_checkpoint=True)
    # Run from elsewhere: the default checkpoint's path comes from the script's.
    runs["dry_defaults"] = (start(_run, ["--dry_run"], cwd=str(with_checkpoint), script=script), with_checkpoint)
    runs["dry_learning_rate"] = (start(_run, ["--dry_run", "--learning_rate", "0.01"], cwd=str(with_checkpoint),
                                       script=script), with_checkpoint)
    runs["dry_slim_aliases"] = (start(_run, [
        "--dry_run", "--model_name", "lenet", "--dataset_name", "cifar10", "--checkpoint_path", "x.ckpt",
        "--checkpoint_exclude_scopes", "LeNet/fc4", "--max_number_of_steps", "7", "--learning_rate_decay_type",
        "exponential", "--learning_rate_decay_factor", "0.7", "--log_every_n_steps", "3", "--train_image_size", "28",
        "--preprocessing_name", "lenet", "--trainable_scopes", "LeNet/fc3,LeNet/fc4", "--weight_decay", "0.001",
        "--optimizer", "adam"], script=FINETUNE), None)
    runs["dry_vgg"] = (start(_run, ["--model", "vgg_16", "--dry_run"], script=FINETUNE), None)
    nowhere = tmp_path_factory.mktemp("nowhere")
    runs["evaluate_nowhere"] = (start(_run, ["--checkpoint_path", str(nowhere / "nowhere")], script=EVALUATE), nowhere)
    augments = tmp_path_factory.mktemp("augments")
    runs["augments"] = (start(_run, ["--max_steps", "1", "--train_subset", "1", "--eval_examples", "10", "--train_dir",
                                     str(augments / "run")]), augments)
    taken = tmp_path_factory.mktemp("cache_dir_is_a_file")
    (taken / "taken").write_text("a file")
    runs["cache_dir_is_a_file"] = (start(_run, ["--strategy", "head", "--cache_features", "--noaugment",
                                                "--train_dir", str(taken / "run"), "--cache_dir",
                                                str(taken / "taken" / "cache")]), taken)
    return runs


def test_no_flags_without_the_builtin_checkpoint_says_how_to_make_it(started):
    out = started["no_flags"][0].result()
    assert out.returncode == 2
    errors = _error_lines(out)
    assert len(errors) == 1
    assert "checkpoints/cifarnet_synthetic" in errors[0] and "python scripts/pretrain.py" in errors[0]


def test_defaults_and_slim_flag_aliases(started):
    out, tmp_path = started["dry_defaults"]
    out = out.result()
    assert out.returncode == 0, out.stderr[-2000:]
    defaults = _printed(out)
    assert defaults["checkpoint_path"] == str(tmp_path / "repo" / "checkpoints" / "cifarnet_synthetic")
    assert (defaults["model"], defaults["dataset"], defaults["exclude"]) == ("cifarnet", "synthetic",
                                                                             "CifarNet/logits")
    assert (defaults["image_size"], defaults["strategy"]) == ("None", "None")  # net default; head via --exclude
    assert defaults["learning_rate"] == "0.001"  # the built-in example's rate; slim's 0.01 elsewhere
    out = started["dry_learning_rate"][0].result()
    assert _printed(out)["learning_rate"] == "0.01"

    out = started["dry_slim_aliases"][0].result()
    assert out.returncode == 0, out.stderr[-2000:]
    assert {k: v for k, v in _printed(out).items() if k in (
        "model", "dataset", "checkpoint_path", "exclude", "max_steps", "lr_decay", "decay_rate", "log_every_steps",
        "image_size", "preprocessing", "trainable_scopes", "weight_decay", "optimizer")} == {
        "model": "lenet", "dataset": "cifar10", "checkpoint_path": "x.ckpt", "exclude": "LeNet/fc4",
        "max_steps": "7", "lr_decay": "exponential", "decay_rate": "0.7", "log_every_steps": "3",
        "image_size": "28", "preprocessing": "lenet", "trainable_scopes": "LeNet/fc3,LeNet/fc4",
        "weight_decay": "0.001", "optimizer": "adam"}
    assert _printed(out)["learning_rate"] == "0.01"

    out = started["dry_vgg"][0].result()
    assert out.returncode == 2 and "--model vgg_16 needs --checkpoint_path" in _error_lines(out)[0]


def test_finetune_then_evaluate_a_train_dir(tmp_path, started):
    train_dir = str(tmp_path / "run")
    out = _run(["--strategy", "scratch", "--train_subset", "1", "--max_steps", "1", "--eval_examples", "10",
                "--batch_size", "4", "--train_dir", train_dir])
    assert out.returncode == 0, out.stderr[-3000:]
    top1 = out.stdout.strip().splitlines()[-1].split("top-1 ")[1].split(",")[0]
    # --model and --dataset come from the train_dir's record.
    out = _run(["--checkpoint_path", train_dir, "--num_examples", "10"], script=EVALUATE)
    assert out.returncode == 0, out.stderr[-3000:]
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("cifarnet on synthetic/test (10 images): top-1 ") and f"top-1 {top1} " in line

    out = started["evaluate_nowhere"][0].result()
    assert out.returncode == 2 and "--model and --dataset required" in _error_lines(out)[0]


def test_cached_head_on_the_main_command_resumes_and_evaluates_the_same(tmp_path):
    """`--strategy head --cache_features --noaugment`: the base runs once per image, the run writes
    TensorBoard events and an ordinary checkpoint that evaluate.py scores the same, and re-running
    with more steps resumes it."""
    train_dir = tmp_path / "run"
    command = ["--strategy", "head", "--cache_features", "--noaugment", "--train_subset", "4", "--batch_size", "8",
               "--eval_examples", "50", "--train_dir", str(train_dir), "--cache_dir", str(tmp_path / "cache")]
    out = _run(command + ["--max_steps", "6"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "extracting synthetic/train" in out.stderr and "training the head on cached features" in out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("step 6: test top-1 ")
    top1 = last.split("top-1 ")[1].split(",")[0]
    record = json.loads((train_dir / "tlslim_run.json").read_text())
    assert record["cache_features"] is True and record["strategy"] == "head"
    events = [p for p in os.listdir(train_dir) if p.startswith("events.out.tfevents")]
    tags = {v.tag for e in tf.train.summary_iterator(str(train_dir / events[0])) for v in e.summary.value}
    assert {"loss", "accuracy", "learning_rate", "eval/top1", "eval/top5", "eval/loss"} <= tags
    # --strategy all on this train_dir is refused before any work (run beside the next two).
    strategy_all = start(_run, command[:1] + ["all"] + command[2:] + ["--max_steps", "9"])

    out = _run(["--checkpoint_path", str(train_dir), "--num_examples", "50"], script=EVALUATE)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"top-1 {top1} " in out.stdout.strip().splitlines()[-1]

    out = _run(command + ["--max_steps", "9"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resuming from {train_dir / 'model.ckpt-6'} at step 6" in out.stderr
    assert "read from the cache" in out.stderr and "extracting" not in out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("step 9: test top-1 ")

    out = strategy_all.result()
    assert out.returncode == 2 and _error_lines(out) == [
        "error: --cache_features trains the head on features of a frozen base and needs --strategy head, got "
        "--strategy all; drop --cache_features or use --strategy head."]


def test_head_run_that_augments_says_the_cache_would_skip_the_base(started):
    out = started["augments"][0].result()
    assert out.returncode == 0, out.stderr[-3000:]
    assert "--cache_features --noaugment would run the frozen base once per image" in out.stderr
    assert "cached features" not in out.stderr


def test_cache_dir_that_is_a_file_is_a_one_line_error_before_work(started):
    out, tmp_path = started["cache_dir_is_a_file"]
    out = out.result()
    assert out.returncode == 2 and _error_lines(out) == [
        f"error: --cache_dir {tmp_path / 'taken' / 'cache'} cannot be a directory: {tmp_path / 'taken'} is a file; "
        f"pass a directory path for cached features."], out.stderr[-2000:]
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()
