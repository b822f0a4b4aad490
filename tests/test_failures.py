"""What a failing run says: the real cause of an error, in a few words; a diverged run named as such."""
import errno
import os
import re
import subprocess
import sys

import pytest

from tlslim import train
from tlslim.compat import tf
from tlslim.errors import error_cause
from tlslim.train import harness

from _subprocess_runs import run, start

FINETUNE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "finetune.py")


@pytest.mark.parametrize("err, cause", [
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "no space left on device"),
    (OSError(errno.EACCES, os.strerror(errno.EACCES)), "permission denied"),
    (MemoryError(), "out of memory"),
    # TensorFlow puts the cause after its own headline; the headline alone says nothing.
    (tf.errors.UnknownError(None, None, "Graph execution error:\n\nDetected at node 'save/SaveV2' defined at (most "
                                        "recent call last):\n  File \"x.py\"\n; No space left on device"),
     "no space left on device"),
    (tf.errors.ResourceExhaustedError(None, None, "Graph execution error:\n\nOOM when allocating tensor with shape"
                                                  "[100000,32,32,64]"), "out of memory"),
    (tf.errors.NotFoundError(None, None, "Graph execution error:\n\nKey vgg_16/fc8/weights not found in checkpoint"),
     "Key vgg_16/fc8/weights not found in checkpoint"),
    (ValueError(""), "ValueError"),
])
def test_error_cause(err, cause):
    assert error_cause(err) == cause


def test_a_tensorflow_error_the_user_can_fix_becomes_one_line():
    config = train.TrainConfig(batch_size=64)
    oom = harness._user_error(tf.errors.ResourceExhaustedError(None, None, "OOM when allocating"), config)
    assert str(oom) == "out of memory while training (out of memory); lower --batch_size (now 64) or --image_size."
    full = harness._user_error(tf.errors.UnknownError(None, None, "write failed: No space left on device"), config)
    assert str(full).startswith("TensorFlow stopped the run: no space left on device; free disk space")
    bug = tf.errors.InvalidArgumentError(None, None, "Incompatible shapes")
    assert harness._user_error(bug, config) is bug  # not the user's to fix: raised as it is


def test_diverged_run_is_named():
    config = train.TrainConfig(learning_rate=3.0)
    assert harness._diverged({"loss": 1e8}, 10, config) == (
        "training diverged: the test loss is 1e+08, more than 10x chance (2.3 for 10 classes); lower --learning_rate "
        "(now 3) and start a new --train_dir.")
    assert harness._diverged({"loss": 5.0}, 10, config) is None  # worse than chance, within reason
    assert harness._diverged({"loss": None}, 10, config) is None and harness._diverged(None, 10, config) is None


@pytest.fixture
def small_disk(tmp_path):
    """A 300 KiB tmpfs: room for the run record, none for a checkpoint (skipped where mounting is
    not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


# The flags of the log-format runs: --train_subset 2 (20 training images) keeps the clipped batch small.
LOGGED = ["--max_steps", "4", "--log_every_steps", "2", "--eval_examples", "20", "--train_subset", "2", "--batch_size",
          "100000"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The module's training commands, started together: name -> (Future of the CompletedProcess,
    its working directory)."""
    commands = {"plain": ["--train_dir", "run"] + LOGGED, "verbose": ["--train_dir", "run2"] + LOGGED + ["--verbose"],
                "diverged": ["--train_dir", "run", "--learning_rate", "50", "--max_steps", "150", "--eval_examples",
                             "200", "--log_every_steps", "150"]}
    started = {}
    for name, flags in commands.items():
        cwd = tmp_path_factory.mktemp(name)
        started[name] = (start(run, [FINETUNE] + flags, cwd=cwd, timeout=300), cwd)
    return started


def test_output_reads_well_and_the_train_dir_keeps_the_full_log(runs):
    """Log lines are the message alone, without TensorFlow's start-up banners; the train_dir's
    tlslim.log has every line with absl's prefix; --verbose shows the prefixes on the console."""
    proc, cwd = runs["plain"]
    proc = proc.result()
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    prefix = re.compile(r"^[IWEF]\d{4} ")  # absl's (Python) and TensorFlow's (C++) prefixes
    assert not [line for line in lines if prefix.match(line) or "oneDNN" in line or "cuda" in line.lower()], lines
    assert "step 4/4  loss " in proc.stderr
    assert "warning: --batch_size 100000 is more than the 20 training images; using 20" in lines
    with open(cwd / "run" / "tlslim.log") as f:
        logged = f.read().splitlines()
    assert logged and all(prefix.match(line) for line in logged if not line.startswith(("Excluded", "Never",
                                                                                        "Preflight")))
    assert any("step 4/4  loss " in line for line in logged) and logged[0].startswith("I")
    verbose = runs["verbose"][0].result()
    assert verbose.returncode == 0 and any(prefix.match(line) and "step 4/4" in line
                                           for line in verbose.stderr.splitlines())


def test_a_diverged_run_ends_with_a_warning(runs):
    proc = runs["diverged"][0].result()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("step 150: test top-1 ")
    assert re.search(r"^warning: training diverged: the test loss is \S+, more than 10x chance \(2\.3 for 10 "
                     r"classes\); lower --learning_rate \(now 50\) and start a new --train_dir\.$", proc.stderr, re.M)


def test_a_full_disk_is_named_as_the_cause(small_disk, tmp_path):
    run = small_disk / "run"
    proc = subprocess.run([sys.executable, FINETUNE, "--train_dir", str(run), "--max_steps", "3", "--eval_examples",
                           "10"], capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: could not save a checkpoint in {run} at step 3 (no space left on device); no checkpoint was saved; "
        f"free disk space or fix --train_dir, then run the same command again to resume.")
    assert not [p for p in os.listdir(run) if p.startswith("model.ckpt")]  # no partial checkpoint
