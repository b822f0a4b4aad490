"""Checkpoints of a run: resume after SIGKILL or Ctrl-C, stop at max_steps, refuse a foreign
train_dir, stop on a NaN loss without saving. CifarNet from scratch on the synthetic task."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tlslim import train
from tlslim.compat import tf
from tlslim.errors import TlslimError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FINETUNE = os.path.join(REPO, "scripts", "finetune.py")
SETTINGS = dict(model="cifarnet", strategy="scratch", dataset="synthetic", train_subset=2, batch_size=4,
                eval_examples=10, augment=False, log_every_steps=1)


def _config(train_dir, **kw):
    return train.TrainConfig(train_dir=str(train_dir), **{**SETTINGS, **kw})


def _command(train_dir, max_steps, save_every_steps):
    flags = {**SETTINGS, "train_dir": train_dir, "max_steps": max_steps, "save_every_steps": save_every_steps}
    args = [f"--{k}={v}" for k, v in flags.items() if k != "augment"] + ["--noaugment"]
    return [sys.executable, FINETUNE] + args


def _latest_step(train_dir):
    latest = tf.train.latest_checkpoint(str(train_dir))
    return None if latest is None else int(tf.train.load_checkpoint(latest).get_tensor("global_step"))


def _wait(proc, condition, what, timeout=240):
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the training process ended (rc {proc.returncode}) before {what}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _assert_resumes(train_dir, saved, extra=3):
    """Re-running continues from `saved` and ends at saved + extra with every step in between."""
    result = train.train(_config(train_dir, max_steps=saved + extra, save_every_steps=1000))
    assert result["step"] == saved + extra
    assert [s for s, _ in result["losses"]] == list(range(saved + 1, saved + extra + 1))
    assert _latest_step(train_dir) == saved + extra
    return result


def test_sigkill_after_a_checkpoint_then_resume(tmp_path):
    """A second run on a live run's train_dir is refused, naming the live one; after SIGKILL its
    lock is taken over and the run resumes."""
    train_dir = tmp_path / "run"
    proc = subprocess.Popen(_command(train_dir, 100000, 3), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = train_dir / "tlslim.lock"
    try:
        # The second run starts once the first holds the train_dir; it is refused while the first trains on.
        _wait(proc, lambda: lock.exists() and lock.stat().st_size > 0, "the first run's lock")
        second = subprocess.run(_command(train_dir, 100000, 3), capture_output=True, text=True, timeout=300)
        _wait(proc, lambda: (_latest_step(train_dir) or 0) >= 6, "the second checkpoint")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert second.returncode == 2
    errors = [line for line in second.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.fullmatch(
        rf"error: --train_dir {re.escape(str(train_dir))} is in use by another run \(pid {proc.pid} on \S+, started "
        rf"\S+\); wait for it to finish or stop it, or pass another --train_dir\.", errors[0]), errors
    saved = _latest_step(train_dir)
    assert saved is not None and saved >= 6 and saved % 3 == 0
    assert os.path.exists(train_dir / "tlslim.lock")  # left by the killed run
    _assert_resumes(train_dir, saved)
    assert not os.path.exists(train_dir / "tlslim.lock")  # taken over, then released


def test_ctrl_c_saves_and_resumes(tmp_path):
    train_dir = tmp_path / "run"
    proc = subprocess.Popen(_command(train_dir, 100000, 100000), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    log = []
    try:
        for line in proc.stdout:
            log.append(line)
            if "step 4/100000" in line:
                break
        assert _latest_step(train_dir) is None  # no periodic save yet
        proc.send_signal(signal.SIGINT)
        log += proc.communicate(timeout=240)[0].splitlines(keepends=True)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, "".join(log[-20:])
    assert any("interrupted at step" in line for line in log)
    saved = _latest_step(train_dir)
    assert saved is not None and saved >= 4
    _assert_resumes(train_dir, saved, extra=2)


def test_at_max_steps_only_evaluates(tmp_path):
    train_dir = tmp_path / "run"
    first = train.train(_config(train_dir, max_steps=3, save_every_steps=2))
    assert [s for s, _ in first["losses"]] == [1, 2, 3]
    state = tf.train.get_checkpoint_state(str(train_dir))
    assert sorted(os.path.basename(p) for p in state.all_model_checkpoint_paths) == ["model.ckpt-2", "model.ckpt-3"]
    again = train.train(_config(train_dir, max_steps=3))
    assert again["step"] == 3 and again["losses"] == [] and again["checkpoint"] == first["checkpoint"]
    assert again["top1"] == first["top1"] and again["eval_loss"] == first["eval_loss"]
    # A lower max_steps also just evaluates; nothing is saved.
    assert train.train(_config(train_dir, max_steps=1))["step"] == 3


def test_resume_restores_optimizer_state_without_the_release(tmp_path):
    """Adam's beta1_power is 0.9**(k+1) after k steps only if the resumed run restored it; the
    release checkpoint is deleted before resuming, so only the train_dir can have been read."""
    from tlslim.testing import checkpoints
    release = checkpoints.write_net_checkpoint("cifarnet", str(tmp_path / "cifarnet.ckpt"))
    train_dir = tmp_path / "run"
    kw = dict(strategy="head", checkpoint_path=release, exclude="auto", optimizer="adam", learning_rate=0.001,
              cache_features=False)  # the full graph: a cached run reads the release to key its features
    train.train(_config(train_dir, max_steps=2, **kw))
    os.remove(release)
    result = train.train(_config(train_dir, max_steps=4, **kw))
    assert [s for s, _ in result["losses"]] == [3, 4]
    reader = tf.train.load_checkpoint(result["checkpoint"])
    assert reader.get_tensor("beta1_power") == pytest.approx(0.9 ** 5, rel=1e-6)
    assert reader.get_tensor("global_step") == 4


def test_train_dir_of_another_model_is_refused(tmp_path):
    train_dir = tmp_path / "run"
    train.train(_config(train_dir, max_steps=1))
    with pytest.raises(TlslimError, match=r"holds a run made with other settings \(model cifarnet there, lenet here\)"):
        train.train(_config(train_dir, model="lenet", image_size=32, max_steps=2))
    os.remove(train_dir / train.RUN_FILE)
    with pytest.raises(TlslimError, match=r"holds a checkpoint of another model or setup \(LeNet/"):
        train.train(_config(train_dir, model="lenet", image_size=32, max_steps=2))
    with pytest.raises(TlslimError, match=r"--train_dir"):
        train.train(_config(train_dir, optimizer="adam", max_steps=2))  # adam slots are not in a momentum run


def test_nan_loss_stops_without_saving(tmp_path):
    train_dir = tmp_path / "run"
    # The first step's loss is finite (its update is what explodes), so step 1 is saved.
    good = train.train(_config(train_dir, max_steps=1, learning_rate=1e30))
    with pytest.raises(TlslimError) as err:
        train.train(_config(train_dir, max_steps=50, learning_rate=1e30, save_every_steps=1000))
    message = str(err.value)
    assert "at step 2" in message and "--learning_rate" in message and "1e+30" in message
    assert tf.train.latest_checkpoint(str(train_dir)) == good["checkpoint"]
    assert _latest_step(train_dir) == 1


def test_resume_refuses_other_settings_and_lists_them(tmp_path):
    train_dir = tmp_path / "run"
    train.train(_config(train_dir, max_steps=2))
    files = {p: (train_dir / p).read_bytes() for p in sorted(os.listdir(train_dir))}
    with pytest.raises(TlslimError) as err:
        train.train(_config(train_dir, max_steps=4, learning_rate=0.5, batch_size=2, train_subset=3))
    assert str(err.value) == (
        f"--train_dir {train_dir} holds a run made with other settings (train_subset 2 there, 3 here; learning_rate "
        f"0.01 there, 0.5 here; batch_size 4 there, 2 here); resume it with the flags that made it, or pass a new "
        f"--train_dir to start a new run.")
    assert {p: (train_dir / p).read_bytes() for p in sorted(os.listdir(train_dir))} == files
    # Harmless changes resume.
    result = train.train(_config(train_dir, max_steps=3, log_every_steps=2, save_every_steps=7, eval_examples=5))
    assert [s for s, _ in result["losses"]] == [3]


def test_moved_train_dir_resumes_and_keeps_its_checkpoint_count(tmp_path):
    first = tmp_path / "first"
    train.train(_config(first, max_steps=3, save_every_steps=1, keep_checkpoints=2))
    moved = tmp_path / "moved"
    shutil.move(str(first), str(moved))
    # A state file of an older tlslim, with absolute paths to where the run was.
    with open(moved / "checkpoint", "w") as f:
        f.write(f'model_checkpoint_path: "{first}/model.ckpt-3"\n'
                f'all_model_checkpoint_paths: "{first}/model.ckpt-2"\n'
                f'all_model_checkpoint_paths: "{first}/model.ckpt-3"\n')
    result = train.train(_config(moved, max_steps=5, save_every_steps=1, keep_checkpoints=2))
    assert [s for s, _ in result["losses"]] == [4, 5]
    # --keep_checkpoints 2 counts the checkpoints of the earlier invocation too.
    assert sorted(p for p in os.listdir(moved) if p.endswith(".index")) == ["model.ckpt-4.index", "model.ckpt-5.index"]
    state = tf.train.get_checkpoint_state(str(moved))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["model.ckpt-4", "model.ckpt-5"]
    assert not os.path.isabs(open(moved / "checkpoint").read().split('"')[1])


def test_a_batch_that_cannot_fit_is_one_line_before_training(tmp_path):
    train_dir = tmp_path / "runs" / "run"
    proc = subprocess.run(_command(train_dir, 5, 5) + ["--image_size", "100000"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.fullmatch(
        r"error: --batch_size 4 at 100000 pixels needs about \d+\.\d GiB for cifarnet's activations, and \d+\.\d GiB "
        r"of memory is available; use a smaller --image_size\.", errors[0]), errors
    assert os.listdir(tmp_path) == []  # nothing written, not even the directories


def test_a_batch_larger_than_the_training_set_is_clipped(tmp_path):
    result = train.train(_config(tmp_path / "run", max_steps=1, batch_size=100000))
    assert train.read_run_record(result["train_dir"])["batch_size"] == 20  # 2 images of 10 classes
