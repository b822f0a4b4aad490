"""Regularization: the L2 penalty, dropout's expectation, and early stopping.

L2: `slim.l2_regularizer(wd)` adds wd * tf.nn.l2_loss(w) = 0.5 * wd * sum(w^2) to
    tf.GraphKeys.REGULARIZATION_LOSSES (note the 0.5), whose gradient is wd * w: "weight decay".
Dropout: slim.dropout is inverted dropout, keeping a unit with probability p and scaling it by
    1/p at training time, so E[train output] = x and the test-time output is x unchanged. The
    original formulation keeps without scaling (E = p * x) and multiplies by p at test time. Both
    keep train and test expectations equal; measured over many samples against the closed form.
Early stopping: a seeded, deliberately overfitting least-squares fit (40 features, 30 training
    examples, full-batch gradient descent) whose validation loss falls then rises; the lab keeps
    the weights of the epoch with the lowest validation loss and restores them at the end.
All data here are seeded random numbers (synthetic).
"""
import numpy as np

from tlslim.compat import slim, tf
from tlslim.labs import common

WEIGHT_DECAY = 0.01
KEEP_PROB = 0.5
DROPOUT_SAMPLES = 20000
DROPOUT_INPUT = (1.0, 2.0, 3.0, 4.0)
EPOCHS = 200
LEARNING_RATE = 0.5


def l2_penalty(seed=0):
    with common.graph_session(seed) as (graph, sess):
        x = tf.constant(np.random.RandomState(seed).randn(4, 5).astype(np.float32))
        slim.fully_connected(x, 3, weights_regularizer=slim.l2_regularizer(WEIGHT_DECAY), scope="fc")
        weights = slim.get_model_variables("fc/weights")[0]
        reg_losses = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
        penalty = tf.add_n(reg_losses)
        grad = tf.gradients(penalty, weights)[0]
        sess.run(tf.global_variables_initializer())
        w, p, g = sess.run([weights, penalty, grad])
    return {"weight_decay": WEIGHT_DECAY, "collection": [t.op.name for t in reg_losses],
            "weights": w.tolist(), "penalty": float(p), "penalty_grad": g.tolist()}


def dropout(seed=0):
    x_np = np.tile(np.array(DROPOUT_INPUT, np.float32), [DROPOUT_SAMPLES, 1])
    with common.graph_session(seed) as (graph, sess):
        x = tf.constant(x_np)
        inverted_train = slim.dropout(x, keep_prob=KEEP_PROB, is_training=True, scope="inverted")
        inverted_test = slim.dropout(x, keep_prob=KEEP_PROB, is_training=False, scope="inverted_test")
        keep = tf.cast(tf.random_uniform(tf.shape(x), seed=seed) < KEEP_PROB, tf.float32)
        original_train = x * keep  # no rescaling at train time ...
        original_test = x * KEEP_PROB  # ... so scale by p at test time
        it, ie, ot, oe = sess.run([inverted_train, inverted_test, original_train, original_test])
    return {"keep_prob": KEEP_PROB, "samples": DROPOUT_SAMPLES, "input": list(DROPOUT_INPUT),
            "inverted_train_mean": it.mean(axis=0).tolist(), "inverted_test": ie[0].tolist(),
            "inverted_kept_fraction": float((it != 0).mean()),
            "original_train_mean": ot.mean(axis=0).tolist(), "original_test": oe[0].tolist()}


def _regression_data(seed=0, features=40, train=30, val=500, noise=0.5):
    """Synthetic: y = x.w* + noise, signal in 5 features, feature scales 1/sqrt(j)."""
    rng = np.random.RandomState(seed)
    scales = 1.0 / np.sqrt(np.arange(1, features + 1))
    w_true = np.zeros(features)
    w_true[:5] = rng.randn(5)

    def sample(n):
        x = rng.randn(n, features) * scales
        return x.astype(np.float32), (x @ w_true + noise * rng.randn(n)).astype(np.float32)[:, None]
    return sample(train), sample(val)


def early_stopping(seed=0):
    (xt, yt), (xv, yv) = _regression_data(seed)
    with common.graph_session(seed) as (graph, sess):
        x = tf.placeholder(tf.float32, [None, xt.shape[1]])
        y = tf.placeholder(tf.float32, [None, 1])
        pred = slim.fully_connected(x, 1, activation_fn=None, weights_initializer=tf.zeros_initializer(),
                                    scope="linear")
        loss = tf.reduce_mean(tf.square(pred - y))
        train_op = tf.train.GradientDescentOptimizer(LEARNING_RATE).minimize(loss)
        variables = slim.get_model_variables()
        sess.run(tf.global_variables_initializer())
        train_losses, val_losses = [], []
        best_epoch, best_values = None, None
        for epoch in range(EPOCHS):
            sess.run(train_op, {x: xt, y: yt})
            train_losses.append(float(sess.run(loss, {x: xt, y: yt})))
            val_losses.append(float(sess.run(loss, {x: xv, y: yv})))
            if best_epoch is None or val_losses[-1] < val_losses[best_epoch]:
                best_epoch, best_values = epoch, sess.run(variables)  # keep the best weights
        sess.run([v.assign(value) for v, value in zip(variables, best_values)])
        restored_val_loss = float(sess.run(loss, {x: xv, y: yv}))
    return {"epochs": EPOCHS, "train_loss": train_losses, "val_loss": val_losses,
            "best_epoch": best_epoch, "restored_val_loss": restored_val_loss}


def run(output_dir=None):
    result = {"l2": l2_penalty(), "dropout": dropout(), "early_stopping": early_stopping()}
    figure = _plot(result["early_stopping"], output_dir)
    result["figures"] = [figure] if figure else []
    return result


def _plot(es, output_dir):
    if not output_dir:
        return None
    fig = common.new_figure(6, 4)
    ax = fig.add_subplot(1, 1, 1)
    epochs = np.arange(1, es["epochs"] + 1)
    ax.plot(epochs, es["train_loss"], label="training loss")
    ax.plot(epochs, es["val_loss"], label="validation loss")
    ax.axvline(es["best_epoch"] + 1, color="grey", linestyle="--", label=f"best epoch {es['best_epoch'] + 1}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean squared error")
    ax.set_title("early stopping (synthetic overfitting run)")
    ax.legend()
    return common.save_figure(fig, output_dir, "regularization")


def format(result):
    l2, d, es = result["l2"], result["dropout"], result["early_stopping"]
    sum_sq = float(np.sum(np.square(l2["weights"])))
    out = [f"L2: slim.l2_regularizer({l2['weight_decay']}) -> {l2['penalty']:.6g} "
           f"= 0.5 * wd * sum(w^2) = {0.5 * l2['weight_decay'] * sum_sq:.6g} (not wd * sum(w^2) = "
           f"{l2['weight_decay'] * sum_sq:.6g}); its gradient is wd * w", "",
           f"dropout, keep_prob {d['keep_prob']}, mean over {d['samples']} samples:"]
    rows = [[x, a, b, c, e] for x, a, b, c, e in zip(d["input"], d["inverted_train_mean"], d["inverted_test"],
                                                       d["original_train_mean"], d["original_test"])]
    out.append(common.table(["x", "inverted: train mean", "inverted: test", "original: train mean",
                             "original: test (p*x)"], rows))
    b = es["best_epoch"]
    out += ["", f"early stopping: best validation loss {es['val_loss'][b]:.4g} at epoch {b + 1} of {es['epochs']} "
            f"(last epoch: validation {es['val_loss'][-1]:.4g}, training {es['train_loss'][-1]:.3g}); "
            f"restored weights give {es['restored_val_loss']:.4g}"]
    return "\n".join(out)
