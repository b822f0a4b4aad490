"""Imbalanced data: long-tailed subsets, loss weights by inverse class frequency, batches drawn
evenly over the classes, all checked against numbers worked out by hand."""
import numpy as np
import pytest

from tlslim import data, train
from tlslim.compat import tf
from tlslim.data.dataset import Dataset


def test_balanced_weights_by_hand():
    # 6, 3 and 1 images: N / (C * n_c) = 10/18, 10/9, 10/3; a class with no images gets 0.
    labels = np.array([0] * 6 + [1] * 3 + [2])
    assert np.allclose(data.balanced_weights(labels, 3), [10 / 18, 10 / 9, 10 / 3])
    assert np.allclose(data.balanced_weights(labels, 4), [10 / 18, 10 / 9, 10 / 3, 0.0])
    assert np.allclose(data.balanced_weights(np.arange(4) % 2, 2), [1.0, 1.0])


def test_long_tailed_keeps_a_geometric_share_of_each_class():
    labels = np.repeat(np.arange(3), 100)
    ds = data.long_tailed(Dataset(np.zeros((300, 2, 2, 3), np.uint8), labels, ["a", "b", "c"], "t"), 10)
    # Class k keeps round(100 * 10 ** (-k / 2)): 100, 32, 10 -- the first ones of each class.
    assert list(data.class_counts(ds.labels, 3)) == [100, 32, 10]
    synthetic = data.load("synthetic", split="train", train_subset=40, imbalance_ratio=40)
    counts = data.class_counts(synthetic.labels, synthetic.num_classes)
    assert counts[0] == 40 and counts[-1] == 1 and all(np.diff(counts) <= 0)


def test_balanced_batches_hold_each_class_equally():
    labels = np.array([0] * 50 + [1] * 5 + [2] * 2)
    batches = data.index_batches(len(labels), 6, True, True, 7, labels)
    for _ in range(20):
        assert list(np.bincount(labels[next(batches)], minlength=3)) == [2, 2, 2]
    # Through tf.data too: the images carry their index, so the batch's classes can be read back.
    images = np.arange(len(labels), dtype=np.uint8).reshape(-1, 1, 1, 1).repeat(3, axis=3)
    with tf.Graph().as_default():
        ds = data.input_pipeline(Dataset(images, labels, ["a", "b", "c"], "t"), 9, 1, "cifarnet", True,
                                 augment=False, balanced=True)
        nxt = tf.data.make_one_shot_iterator(ds).get_next()
        with tf.Session() as sess:
            for _ in range(5):
                _, batch_labels = sess.run(nxt)
                assert list(np.bincount(batch_labels, minlength=3)) == [3, 3, 3]


def test_class_weighted_loss_by_hand(tmp_path):
    """The training loss with --class_weights balanced is the mean over the batch of each image's
    cross-entropy times its class's weight (computed here from the same step's logits)."""
    config = train.check_config(train.TrainConfig(model="cifarnet", strategy="scratch", weight_decay=0.0,
                                                  class_weights="balanced"))
    plan = train.make_plan(config, 3, 32)
    weights = np.array([0.5, 1.0, 4.0])
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        images = tf.placeholder(tf.float32, [None, 32, 32, 3])
        labels = tf.placeholder(tf.int64, [None])
        tg = train.build_towers(config, plan, 3, images, labels, images, "/device:CPU:0", class_weights=weights)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            x = np.random.default_rng(0).normal(size=(6, 32, 32, 3)).astype(np.float32)
            y = np.array([0, 0, 1, 2, 2, 1])
            # The loss tensor is read before the step's update, with the logits of the same forward pass.
            loss, logits = sess.run([tg.loss, tg.end_points["Logits"]], {images: x, labels: y})
    logits = logits.astype(np.float64)
    log_softmax = logits - logits.max(1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
    expected = np.mean(weights[y] * -log_softmax[np.arange(6), y])
    assert loss == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("flag, value", [("class_weights", "inverse"), ("sampling", "even")])
def test_bad_choices(flag, value):
    with pytest.raises(Exception, match=f"--{flag} must be one of"):
        train.check_config(train.TrainConfig(**{flag: value}))
    with pytest.raises(Exception, match="--imbalance_ratio must be 1 or more"):
        train.check_config(train.TrainConfig(imbalance_ratio=0.5))
