"""Replicas on tf.distribute's MirroredStrategy (--num_clones N --clone_on_cpu), in fresh
processes: the CPU must be split into logical devices before TensorFlow starts its devices.

The checkpoints are SYNTHETIC (release names and shapes, random values)."""
import json
import os
import textwrap

import pytest

from tlslim import train
from tlslim.errors import TlslimError

from _subprocess_runs import run, start

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Two runs from the same release weights at the same global batch, one device and two replicas,
# of a net without dropout or batch norm (cifarnet with its dropout kept at 1) and with weight
# decay; then the two-replica run resumed on one device. Prints a JSON summary.
SCRIPT = textwrap.dedent("""
    import dataclasses, functools, json, sys
    import tensorflow as tf2
    from tlslim import nets, train
    from tlslim.nets import registry
    from tlslim.testing import checkpoints
    work = sys.argv[1]
    info = nets.get_info("cifarnet")
    registry._REGISTRY["cifarnet"] = dataclasses.replace(
        info, builder=functools.partial(info.builder, dropout_keep_prob=1.0))
    release = checkpoints.write_net_checkpoint("cifarnet", work + "/cifarnet.ckpt")
    base = dict(model="cifarnet", checkpoint_path=release, strategy="all", dataset="synthetic", train_subset=8,
                batch_size=16, max_steps=5, learning_rate=0.01, weight_decay=0.004, augment=False,
                cache_features=False, eval_examples=20, log_every_steps=1)
    out = {}
    for n in (2, 1):
        result = train.train(train.TrainConfig(**base, num_clones=n, clone_on_cpu=n > 1, train_dir=f"{work}/run{n}"))
        reader = tf2.train.load_checkpoint(result["checkpoint"])
        out[n] = {"losses": [loss for _, loss in result["losses"]], "step": result["step"],
                  "record": train.read_run_record(result["train_dir"]),
                  "layout": sorted((k, list(v)) for k, v in reader.get_variable_to_shape_map().items())}
    resumed = train.train(train.TrainConfig(**dict(base, max_steps=7), train_dir=f"{work}/run2"))
    out["resumed"] = {"step": resumed["step"], "losses": [loss for _, loss in resumed["losses"]]}
    print("RESULT " + json.dumps(out))
""")

# resnet_v1_50 (batch norm) on two replicas, in a process of its own (it runs beside SCRIPT's).
RESNET_SCRIPT = textwrap.dedent("""
    import json, sys
    from tlslim import train
    from tlslim.testing import checkpoints
    work = sys.argv[1]
    out = {}
    resnet = checkpoints.write_net_checkpoint("resnet_v1_50", work + "/resnet_v1_50.ckpt")
    result = train.train(train.TrainConfig(model="resnet_v1_50", checkpoint_path=resnet, exclude="auto",
                                           strategy="all", dataset="synthetic", image_size=32, train_subset=4,
                                           batch_size=8, max_steps=3, eval_examples=16, augment=False,
                                           num_clones=2, clone_on_cpu=True, train_dir=f"{work}/resnet"))
    out["resnet"] = {"step": result["step"], "loss": result["loss"], "top1": result["top1"]}
    print("RESULT " + json.dumps(out))
""")


def _result(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """Every process of the module, started together: name -> (Future of the CompletedProcess,
    its working directory)."""
    work = {name: tmp_path_factory.mktemp(name) for name in ("replicas", "resnet", "no_gpus", "user")}
    finetune = os.path.join(ROOT, "scripts", "finetune.py")
    commands = {
        "replicas": (["-c", SCRIPT, work["replicas"]], ROOT, 900),
        "resnet": (["-c", RESNET_SCRIPT, work["resnet"]], ROOT, 900),
        "no_gpus": ([finetune, "--num_clones", "2", "--strategy", "scratch", "--train_dir", work["no_gpus"] / "run"],
                    work["no_gpus"], 300),
        "user": ([finetune, "--num_clones", "2", "--clone_on_cpu", "--strategy", "scratch", "--max_steps", "2",
                  "--eval_examples", "50", "--train_dir", work["user"] / "run"], work["user"], 300),
    }
    return {name: (start(run, args, cwd=cwd, timeout=timeout), work[name])
            for name, (args, cwd, timeout) in commands.items()}


@pytest.fixture(scope="module")
def runs(started):
    return _result(started["replicas"][0].result())


def test_two_replicas_follow_the_one_device_loss(runs):
    """Same weights, same global batch of 16 (8 per replica), no dropout or batch norm: the mean of
    the replicas' gradients is the one-device gradient, weight decay included, so the losses agree
    to float32 rounding (sums taken in another order: 1e-5 relative over 5 steps)."""
    out = runs
    two, one = out["2"], out["1"]
    assert two["step"] == one["step"] == 5
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-5)
    assert len(set(round(x, 3) for x in one["losses"])) > 1  # the weights really moved


def test_replicas_are_recorded_and_the_checkpoint_has_the_one_device_layout(runs):
    out = runs
    assert out["2"]["record"]["replicas"] == 2 and out["1"]["record"]["replicas"] == 1
    assert out["2"]["layout"] == out["1"]["layout"]


def test_a_replicated_run_resumes_on_one_device(runs):
    out = runs
    assert out["resumed"]["step"] == 7 and len(out["resumed"]["losses"]) == 2


def test_resnet_with_batch_norm_on_two_replicas(started):
    out = _result(started["resnet"][0].result())
    assert out["resnet"]["step"] == 3 and out["resnet"]["loss"] == pytest.approx(out["resnet"]["loss"])
    assert 0.0 <= out["resnet"]["top1"] <= 1.0


def test_replica_settings_are_checked_before_any_work():
    with pytest.raises(TlslimError, match="--batch_size 32 does not split into --num_clones 3 equal shares"):
        train.check_config(train.TrainConfig(num_clones=3))
    with pytest.raises(TlslimError, match="--num_clones must be positive, got 0"):
        train.check_config(train.TrainConfig(num_clones=0))


def test_replicas_without_gpus_need_clone_on_cpu(started):
    proc, cwd = started["no_gpus"]
    proc = proc.result()
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: --num_clones 2 needs 2 GPUs and TensorFlow sees 0; use --num_clones 1, or --clone_on_cpu to run "
        "the replicas on the CPU.")
    assert not (cwd / "run").exists()


def test_the_command_a_user_types(started):
    proc, cwd = started["user"]
    proc = proc.result()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "model cifarnet on 2 replicas: /device:CPU:0, /device:CPU:1" in proc.stderr
    assert "eval at step 2 (2 replicas)" in proc.stderr
    assert proc.stdout.startswith("step 2: test top-1 ")
    assert json.load(open(cwd / "run" / train.RUN_FILE))["replicas"] == 2
