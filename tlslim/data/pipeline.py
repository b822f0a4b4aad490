"""The tf.data input pipeline: in-memory uint8 images -> preprocessed float batches in the graph.

    ds = input_pipeline(train, batch_size=128, image_size=32, style='cifarnet', is_training=True)
    images, labels = tf.data.make_one_shot_iterator(ds).get_next()

The images stay in the Dataset's numpy array (decoded once) and are not embedded in the graph
(a 150 MB constant would be copied into every saved .meta and events file): a Python generator
hands out uint8 batches by index (a fresh seeded permutation each epoch when shuffling), and
parallel map calls run `preprocess` on whole batches, then prefetch. With `repeat` the stream
is endless and every batch is full (epochs run into each other, as shuffle().repeat().batch()
would); without it one epoch is produced, the last batch possibly smaller, so evaluation sees
every image exactly once. Order and augmentation are a pure function of `seed`: augmentation
uses stateless random ops seeded by (seed, batch number).
"""
import os

import numpy as np

from tlslim.compat import tf
from tlslim.data import tfrecord
from tlslim.data.preprocessing import choose_geometry, preprocess
from tlslim.errors import TlslimError


def _balanced_rounds(labels, rng):
    """Endless rounds of indices, one example of every class per round in a random order of the
    classes; each class's examples come in a fresh permutation every time they run out."""
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]
    pools, used = [rng.permutation(m) for m in members], np.zeros(len(classes), np.int64)
    while True:
        order = rng.permutation(len(classes))
        round_ = np.empty(len(classes), np.int64)
        for slot, k in enumerate(order):
            if used[k] == len(pools[k]):
                pools[k], used[k] = rng.permutation(members[k]), 0
            round_[slot] = pools[k][used[k]]
            used[k] += 1
        yield round_


def index_batches(n, batch_size, shuffle, repeat, seed, balanced_labels=None):
    """Batches of indices into a dataset of `n` examples, in the pipeline's order for `seed`
    (a fresh seeded permutation per epoch when shuffling; endless and full with `repeat`).
    `balanced_labels` (the examples' labels; with repeat): draw the classes evenly instead, every
    run of C consecutive indices holding one example of each of the C classes, so a batch of a
    multiple of C images holds as many of each class."""
    rng = np.random.default_rng([seed, 0xDA7A])
    if balanced_labels is not None:
        rounds = _balanced_rounds(np.asarray(balanced_labels), rng)

    def epoch_order():
        if balanced_labels is not None:
            return next(rounds)
        return rng.permutation(n) if shuffle else np.arange(n)

    if not repeat:
        order = epoch_order()
        for start in range(0, n, batch_size):
            yield order[start:start + batch_size]
        return
    pending = np.zeros(0, np.int64)
    while True:
        while len(pending) < batch_size:
            pending = np.concatenate([pending, epoch_order()])
        yield pending[:batch_size]
        pending = pending[batch_size:]


def input_pipeline(dataset, batch_size, image_size, style, is_training, seed=0, shuffle=None,
                   repeat=None, augment=None, stats=None, num_parallel_calls=None, geometry="squash",
                   balanced=False):
    """A tf.data.Dataset of (images float32 [B, S, S, 3], labels int64 [B]) from a Dataset.

    shuffle, repeat and augment default to `is_training`. `stats` is for the per-dataset
    preprocessing styles (see tlslim.data.compute_stats). With repeat the batch size is static.
    `geometry`: 'squash', 'slim' or 'auto' (tlslim.data.preprocessing.choose_geometry).
    `balanced` (with repeat): batches drawn evenly over the classes (see index_batches).
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise TlslimError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if isinstance(dataset, tfrecord.Split):
        return _record_pipeline(dataset, batch_size, image_size, style, is_training, seed, shuffle, repeat, augment,
                                stats, num_parallel_calls, geometry, balanced)
    n = len(dataset)
    if n == 0:
        raise TlslimError(f"dataset {dataset.name} is empty; check --dataset_dir and the split.")
    shuffle = is_training if shuffle is None else shuffle
    repeat = is_training if repeat is None else repeat
    augment = is_training if augment is None else augment
    images, labels = dataset.images, dataset.labels
    h, w = images.shape[1:3]
    geometry = choose_geometry(geometry, style, (h, w), image_size)

    if balanced and not repeat:
        raise TlslimError("balanced sampling draws an endless stream; it needs repeat (training).")

    def generate():
        for idx in index_batches(n, batch_size, shuffle, repeat, seed, labels if balanced else None):
            yield images[idx], labels[idx]

    batch_dim = batch_size if repeat else None
    ds = tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec([batch_dim, h, w, 3], tf.uint8), tf.TensorSpec([batch_dim], tf.int64)))

    def transform(step, batch):
        x, y = batch
        x = preprocess(x, style, image_size, is_training, stats=stats, augment=augment,
                       seed=tf.stack([tf.constant(seed, tf.int64), step]), geometry=geometry)
        x.set_shape([batch_dim, image_size, image_size, 3])
        return x, y

    parallel = (os.cpu_count() or 1) if num_parallel_calls is None else num_parallel_calls
    ds = ds.enumerate().map(transform, num_parallel_calls=parallel).prefetch(2)
    # Fixed parallelism instead of tf.data's autotuner: its model thread sleeps for an
    # optimization period that grows with the run time, and Session.close() waits it out
    # (seen: up to 18 s after a 20 s run, TF 2.21).
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def _record_pipeline(split, batch_size, image_size, style, is_training, seed, shuffle, repeat, augment, stats,
                     num_parallel_calls, geometry, balanced):
    """input_pipeline for slim's TFRecords: each image preprocessed on its own as it streams by."""
    if balanced:
        raise TlslimError(f"--sampling balanced draws from each class of a dataset held in memory; {split.name}'s "
                          f"TFRecords are streamed; use --class_weights balanced, or --sampling shuffle.")
    geometry = choose_geometry(geometry, style, split.image_shape, image_size)
    augment = is_training if augment is None else augment

    def per_image(image, seed=None):
        return preprocess(image, style, image_size, is_training, stats=stats, augment=augment, seed=seed,
                          geometry=geometry)

    return tfrecord.record_pipeline(split.paths, batch_size, is_training, seed, per_image, shuffle=shuffle,
                                    repeat=repeat, num_parallel_calls=num_parallel_calls,
                                    labels_offset=split.labels_offset, num_classes=split.num_classes,
                                    max_records=split.limit)
