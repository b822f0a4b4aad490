"""Part 1, the baseline: the course notebook's training loop.

The net is built once on an images placeholder; every step feeds a numpy batch of preprocessed
images through feed_dict and runs the whole network's forward pass. `settings` is a resolved
tlslim.benchmark.settings.Settings.
"""
import time

import numpy as np
from absl import logging

from tlslim import data, nets, restore, train
from tlslim.benchmark.timing import best_time, time_call
from tlslim.compat import slim, tf
from tlslim.device import choose_device, session_config
from tlslim.scopes import in_scope


def preprocessed(dataset, image_size, style, stats):
    """float32 [N, S, S, 3] of the evaluation preprocessing (what the notebook fed and Keras fits on)."""
    out = []
    with tf.Graph().as_default():
        x = tf.placeholder(tf.uint8, [None] + list(dataset.images.shape[1:]))
        y = data.preprocess(x, style, image_size, is_training=False, stats=stats)
        with tf.Session(config=session_config()) as sess:
            for start in range(0, len(dataset), 256):
                out.append(sess.run(y, {x: dataset.images[start:start + 256]}))
    return np.concatenate(out)


def _notebook_graph(s, model, ckpt, num_classes, learning_rate, head_only, steps=None):
    """The notebook's graph: the net on placeholders, slim's total loss, one minimize op (with
    the head runs' learning-rate schedule over `steps` when given)."""
    info = nets.get_info(model)
    size = s.image_size
    tf.set_random_seed(s.seed)
    images = tf.placeholder(tf.float32, [None, size, size, 3], name="images")
    labels = tf.placeholder(tf.int64, [None], name="labels")
    is_training = tf.placeholder(tf.bool, [], name="is_training")
    with tf.device(choose_device(s.device)):
        logits, _ = nets.get_network_fn(model, num_classes, is_training=is_training,
                                        weight_decay=s.weight_decay)(images)
        tf.losses.sparse_softmax_cross_entropy(labels, logits)
        loss = tf.losses.get_total_loss()
        var_list = [v for v in tf.trainable_variables() if in_scope(v.op.name, [info.head_scope])] \
            if head_only else None
        global_step = tf.train.get_or_create_global_step()
        if steps:
            learning_rate = train.learning_rate_schedule(
                train.TrainConfig(learning_rate=learning_rate, lr_decay=s.lr_decay, max_steps=steps), global_step)
        train_op = train.make_optimizer(s.optimizer, learning_rate).minimize(loss, global_step, var_list=var_list)
    base = [v for v in slim.get_model_variables() if not in_scope(v.op.name, [info.head_scope])]
    init_fn = restore.make_init_fn(ckpt, base)
    init_rest = tf.variables_initializer([v for v in tf.global_variables() if v not in set(base)])
    return images, labels, is_training, logits, train_op, lambda sess: (sess.run(init_rest), init_fn(sess))


def baseline_head(s, ckpt, num_classes, x_train, y_train, x_test, y_test, train_mode=True):
    """The notebook's head-only loop on s.head_model: every step feeds a numpy batch and runs the
    whole net. Returns {'setup_seconds', 'head_epoch_seconds' (one per epoch), 'eval_seconds',
    'head_top1'}.

    train_mode: `is_training` fed to the training steps. True is the notebook (dropout on in the
    frozen base too); False runs the frozen base in inference mode, as the cached features are.
    """
    out = {}
    with tf.Graph().as_default():
        images, labels, is_training, logits, head_op, init = _notebook_graph(
            s, s.head_model, ckpt, num_classes, s.learning_rate, head_only=True,
            steps=s.epochs * (len(x_train) // s.batch_size))
        prediction = tf.argmax(logits, 1)
        with tf.Session(config=session_config()) as sess:
            out["setup_seconds"] = time_call(lambda: init(sess))
            rng = np.random.default_rng(s.seed)
            B = s.batch_size
            epochs = []
            for epoch in range(s.epochs):
                order = rng.permutation(len(x_train))
                tic = time.perf_counter()
                for start in range(0, len(order) - B + 1, B):  # full batches, as tlslim's pipeline
                    idx = order[start:start + B]
                    sess.run(head_op, {images: x_train[idx], labels: y_train[idx], is_training: train_mode})
                epochs.append(time.perf_counter() - tic)
            tic = time.perf_counter()
            predicted = np.concatenate([sess.run(prediction, {images: x_test[i:i + 100], is_training: False})
                                        for i in range(0, len(x_test), 100)])
            out["eval_seconds"] = time.perf_counter() - tic
    out["head_top1"] = float(np.mean(predicted == y_test))
    out["head_epoch_seconds"] = epochs
    logging.info("baseline head (is_training %s): top-1 %.4f after %d epochs, %.3f s per epoch after the first",
                 train_mode, out["head_top1"], len(epochs), np.mean(epochs[1:] or epochs))
    return out


def baseline_full(s, ckpt, num_classes, x_full, y_full):
    """The notebook's loop fine-tuning every layer of s.model: {'full_images_per_second'} of the
    best of s.rounds passes over x_full, after a warm-up step."""
    with tf.Graph().as_default():
        images, labels, is_training, _, full_op, init = _notebook_graph(
            s, s.model, ckpt, num_classes, s.full_learning_rate, head_only=False)
        B = s.batch_size
        feeds = [{images: x_full[i:i + B], labels: y_full[i:i + B], is_training: True}
                 for i in range(0, len(x_full), B)]
        with tf.Session(config=session_config()) as sess:
            init(sess)
            sess.run(full_op, feeds[0])  # warm-up
            seconds = best_time(lambda: [sess.run(full_op, feed) for feed in feeds], s.rounds)
    out = {"full_images_per_second": len(x_full) / seconds}
    logging.info("baseline full fine-tune: %.2f images/s", out["full_images_per_second"])
    return out
