"""Batch norm under fine-tuning: frozen statistics stay bit-identical, trainable ones move, and
evaluation uses the moving statistics. ResNet-50 v1 at 32x32, batch 2, on a SYNTHETIC
release-format checkpoint (tlslim.testing.checkpoints)."""
import numpy as np
import pytest

from tlslim import train
from tlslim.compat import tf
from tlslim.scopes import in_scope
from tlslim.testing import checkpoints

NET = "resnet_v1_50"
TRAINED = ["resnet_v1_50/block4", "resnet_v1_50/logits"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(release checkpoint, train result) of 2 steps of `top` (block4 + new head) training."""
    root = tmp_path_factory.mktemp("bn")
    release = checkpoints.write_net_checkpoint(NET, str(root / "resnet_v1_50.ckpt"))
    config = train.TrainConfig(model=NET, checkpoint_path=release, exclude=f"{NET}/logits", strategy="top",
                               unfreeze=1, dataset="synthetic", train_subset=1, image_size=32, batch_size=2,
                               max_steps=2, eval_examples=6, augment=False, learning_rate=0.01,
                               train_dir=str(root / "run"))
    return release, train.train(config)


def _values(path):
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def test_frozen_variables_and_statistics_are_bit_identical(run):
    release, result = run
    before, after = _values(release), _values(result["checkpoint"])
    frozen = [n for n in before if n.startswith(NET + "/") and not in_scope(n, TRAINED)]
    assert any(n.endswith("BatchNorm/moving_mean") for n in frozen)
    assert any(n.endswith("BatchNorm/moving_variance") for n in frozen)
    changed = [n for n in frozen if not np.array_equal(before[n], after[n])]
    assert changed == []


def test_trainable_batch_norm_statistics_and_weights_move(run):
    release, result = run
    before, after = _values(release), _values(result["checkpoint"])
    block4 = [n for n in before if in_scope(n, ["resnet_v1_50/block4"])]
    stats = [n for n in block4 if n.endswith(("moving_mean", "moving_variance"))]
    # 3 units: 3 convolutions each plus unit 1's shortcut, each with a batch norm.
    assert len(stats) == 2 * 10
    unmoved = [n for n in block4 if np.array_equal(before[n], after[n])]
    assert unmoved == []


def test_evaluation_uses_moving_statistics(run):
    """With batch statistics an image's logits would depend on its batch; with the moving ones they
    do not, up to float rounding."""
    _, result = run
    kw = dict(image_size=32, num_examples=6, return_logits=True)
    single = train.evaluate(NET, result["checkpoint"], "synthetic", batch_size=1, **kw)
    batched = train.evaluate(NET, result["checkpoint"], "synthetic", batch_size=6, **kw)
    np.testing.assert_allclose(single["logits"], batched["logits"], rtol=1e-4, atol=1e-4)
    # The training run's evaluation tower agrees.
    assert result["top1"] == batched["top1"]
    assert result["eval_loss"] == pytest.approx(batched["loss"], rel=1e-4)
