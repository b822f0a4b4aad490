"""The tf.data input pipeline: order, epochs, batching, determinism and values."""
import numpy as np
import pytest

from tlslim import data
from tlslim.compat import tf
from tlslim.errors import TlslimError

VGG_MEANS = np.array([123.68, 116.78, 103.94], np.float32)


def _dataset(n):
    """n random images, image i labelled i (one class per image: labels identify images)."""
    rng = np.random.default_rng(n)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    return data.Dataset(images, np.arange(n, dtype=np.int64), [str(i) for i in range(n)], "test")


def _take(ds, num_batches=None):
    x, y = tf.data.make_one_shot_iterator(ds).get_next()
    out = []
    with tf.Session() as sess:
        while num_batches is None or len(out) < num_batches:
            try:
                out.append(sess.run((x, y)))
            except tf.errors.OutOfRangeError:
                break
    return out, (x, y)


def test_evaluation_is_one_ordered_epoch_with_exact_values(graph):
    ds = _dataset(10)
    batches, (x, y) = _take(data.input_pipeline(ds, 4, 32, "vgg", is_training=False))
    assert x.dtype == tf.float32 and y.dtype == tf.int64
    assert x.shape.as_list() == [None, 32, 32, 3]
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    images = np.concatenate([b[0] for b in batches])
    np.testing.assert_allclose(images, ds.images - VGG_MEANS, atol=1e-4)


def test_training_stream_shuffles_each_epoch_and_batches_are_full(graph):
    ds = _dataset(10)
    batches, (x, y) = _take(data.input_pipeline(ds, 4, 32, "cifarnet", is_training=True, seed=3), 10)
    assert x.shape.as_list() == [4, 32, 32, 3] and y.shape.as_list() == [4]
    stream = np.concatenate([b[1] for b in batches])  # 40 labels = 4 epochs of 10
    epochs = stream.reshape(4, 10)
    assert all(sorted(e) == list(range(10)) for e in epochs)  # each epoch is a permutation
    assert len({tuple(e) for e in epochs}) > 1 and tuple(epochs[0]) != tuple(range(10))
    # Each image appears augmented: same label, values of the standardized crop, not the input.
    first = batches[0][0][0]
    assert abs(first.mean()) < 1e-3 and abs(first.std() - 1) < 1e-2


def test_same_seed_same_stream_other_seed_other_stream(graph):
    ds = _dataset(12)

    def run(seed):
        with tf.Graph().as_default():
            batches, _ = _take(data.input_pipeline(ds, 4, 32, "vgg", is_training=True, seed=seed), 6)
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])

    a, b, c = run(1), run(1), run(2)
    np.testing.assert_array_equal(a[0], b[0])  # augmentation included
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_flags_override_is_training(graph):
    ds = _dataset(6)
    # Training without shuffle or augmentation: the ordered dataset, cycled.
    batches, _ = _take(data.input_pipeline(ds, 4, 32, "vgg", is_training=True, shuffle=False,
                                           augment=False), 3)
    assert np.concatenate([b[1] for b in batches]).tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(batches[0][0], ds.images[:4] - VGG_MEANS, atol=1e-4)
    # Evaluation with shuffling: one epoch in a different order, nothing lost.
    batches, _ = _take(data.input_pipeline(ds, 4, 32, "vgg", is_training=False, shuffle=True, seed=5))
    labels = np.concatenate([b[1] for b in batches])
    assert sorted(labels) == list(range(6)) and labels.tolist() != list(range(6))
    np.testing.assert_allclose(np.concatenate([b[0] for b in batches]), ds.images[labels] - VGG_MEANS,
                               atol=1e-4)


def test_per_dataset_stats_and_resize(graph):
    ds = _dataset(5)
    stats = data.compute_stats(ds)
    batches, (x, _) = _take(data.input_pipeline(ds, 5, 64, "per_channel_std", is_training=False,
                                                 stats=stats))
    assert x.shape.as_list() == [None, 64, 64, 3] and batches[0][0].shape == (5, 64, 64, 3)
    # Bilinear upsampling preserves each channel's mean exactly enough (2x, edge-clamped: ~1%).
    means = batches[0][0].mean(axis=(0, 1, 2))
    np.testing.assert_allclose(means, 0.0, atol=0.05)


def test_errors(graph):
    ds = _dataset(3)
    with pytest.raises(TlslimError, match="batch_size must be a positive integer"):
        data.input_pipeline(ds, 0, 32, "vgg", True)
    empty = data.Dataset(np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, np.int64), ["a"], "e")
    with pytest.raises(TlslimError, match="dataset e is empty"):
        data.input_pipeline(empty, 4, 32, "vgg", True)
    with pytest.raises(TlslimError, match="images must be uint8"):
        data.Dataset(np.zeros((2, 32, 32, 3), np.float32), np.zeros(2, np.int64), ["a"], "f")
    with pytest.raises(TlslimError, match=r"labels must lie in \[0, 1\)"):
        data.Dataset(np.zeros((2, 32, 32, 3), np.uint8), np.array([0, 1]), ["a"], "f")


def test_initializable_iterator_replays_the_evaluation_epoch(graph):
    ds = _dataset(7)
    iterator = tf.data.make_initializable_iterator(data.input_pipeline(ds, 3, 32, "inception", is_training=False))
    x, y = iterator.get_next()
    epochs = []
    with tf.Session() as sess:
        for _ in range(2):
            sess.run(iterator.initializer)
            labels = []
            while True:
                try:
                    labels.extend(sess.run(y).tolist())
                except tf.errors.OutOfRangeError:
                    break
            epochs.append(labels)
    assert epochs == [list(range(7))] * 2


def test_pipeline_runs_without_the_autotuner(graph):
    # The autotuner's model thread made Session.close() wait up to 18 s after a 20 s run
    # (TF 2.21); the pipeline must not start it.
    ds = data.input_pipeline(_dataset(20), 4, 8, "cifarnet", is_training=True)
    assert ds.options().autotune.enabled is False
    out, _ = _take(ds, 6)
    assert [b[0].shape for b in out] == [(4, 8, 8, 3)] * 6
