"""Batch normalization: by hand, in training and inference, folded into a conv, and bias-free.

1. The manual method, `tf.nn.moments` over N, H, W + `tf.nn.batch_normalization` (epsilon
   1e-3), gives what `tlslim.layers.batch_norm` gives in training mode.
2. Inference uses the moving statistics. Starting from mean 0 and variance 1 and fed the same
   batch K times with decay d, they are (1 - d^K) * mean and d^K + (1 - d^K) * var_unbiased
   (the fused kernel, like slim's, keeps the n-1 variance). So the train/test difference shrinks
   with K but never reaches 0: the n/(n-1) factor stays.
3. At test time batch norm is an affine map per channel, so conv + batch norm is one conv with
   W' = W * gamma / sqrt(var + eps) and b' = beta - gamma * mean / sqrt(var + eps).
4. In training, batch norm subtracts the batch mean, so a conv bias is removed again: the output
   does not change with it and its gradient is 0. That is why slim.conv2d drops the bias when
   given a normalizer_fn.
Inputs are seeded random numbers (synthetic).
"""
import numpy as np

from tlslim.compat import slim, tf
from tlslim.labs import common
from tlslim.layers import batch_norm

EPSILON = 1e-3
DECAY = 0.9
STEPS = (0, 1, 10, 50, 200)
BETA = [0.1, 0.2, -0.3, 0.4]
GAMMA = [1.5, 0.5, 2.0, 1.0]


def _inputs(rng, shape, channel_mean, channel_std):
    return (rng.randn(*shape) * channel_std + channel_mean).astype(np.float32)


def run(output_dir=None):
    rng = np.random.RandomState(0)
    x_np = _inputs(rng, [8, 6, 6, 4], [3.0, -2.0, 0.5, 10.0], [2.0, 0.5, 1.0, 5.0])
    result = {"epsilon": EPSILON, "decay": DECAY, "inputs": x_np.tolist(), "beta": BETA, "gamma": GAMMA}
    with common.graph_session() as (graph, sess):
        x = tf.constant(x_np)
        inits = {"beta": tf.constant_initializer(BETA), "gamma": tf.constant_initializer(GAMMA)}
        train_out = batch_norm(x, decay=DECAY, scale=True, epsilon=EPSILON, is_training=True,
                               param_initializers=inits, scope="bn")
        test_out = batch_norm(x, decay=DECAY, scale=True, epsilon=EPSILON, is_training=False,
                              scope="bn", reuse=True)
        with tf.variable_scope("bn", reuse=True):
            beta, gamma = tf.get_variable("beta"), tf.get_variable("gamma")
            moving_mean, moving_var = tf.get_variable("moving_mean"), tf.get_variable("moving_variance")
        mean, var = tf.nn.moments(x, axes=[0, 1, 2])
        manual = tf.nn.batch_normalization(x, mean, var, beta, gamma, EPSILON)
        update = tf.group(*tf.get_collection(tf.GraphKeys.UPDATE_OPS))
        sess.run(tf.global_variables_initializer())

        # 1. manual == tlslim in training mode
        t, m, bmean, bvar = sess.run([train_out, manual, mean, var])
        result["manual_vs_layer_max_abs_diff"] = float(np.abs(t - m).max())
        result["train_output"] = t.tolist()
        result["batch_mean"], result["batch_variance"] = bmean.tolist(), bvar.tolist()

        # 2. inference with the moving statistics, after K updates on this batch
        result["moving"] = []
        done = 0
        for k in STEPS:
            for _ in range(k - done):
                sess.run(update)
            done = k
            mm, mv, test = sess.run([moving_mean, moving_var, test_out])
            result["moving"].append({"steps": k, "moving_mean": mm.tolist(), "moving_variance": mv.tolist(),
                                     "test_output": test.tolist(),
                                     "train_test_max_abs_diff": float(np.abs(t - test).max())})

    result["fold"] = _fold(rng)
    result["bias"] = _bias_redundant(rng)
    figure = _plot(result, output_dir)
    result["figures"] = [figure] if figure else []
    return result


def _fold(rng):
    """Conv + inference batch norm vs the single folded conv."""
    x_np = _inputs(rng, [2, 8, 8, 3], 0.0, 1.0)
    with common.graph_session() as (graph, sess):
        x = tf.constant(x_np)
        y = slim.conv2d(x, 5, [3, 3], activation_fn=None, normalizer_fn=batch_norm,
                        normalizer_params={"is_training": False, "scale": True, "epsilon": EPSILON},
                        scope="conv")
        sess.run(tf.global_variables_initializer())
        # Give the batch norm non-trivial statistics and parameters, as a trained net would have.
        stats = {"beta": rng.randn(5), "gamma": rng.uniform(0.5, 2.0, 5),
                 "moving_mean": rng.randn(5), "moving_variance": rng.uniform(0.2, 3.0, 5)}
        variables = {v.op.name: v for v in tf.global_variables()}
        sess.run([variables[f"conv/BatchNorm/{name}"].assign(value.astype(np.float32))
                  for name, value in stats.items()])
        w = sess.run(variables["conv/weights"])
        scale = stats["gamma"] / np.sqrt(stats["moving_variance"] + EPSILON)
        w_folded = (w * scale).astype(np.float32)  # scales each output channel (last axis)
        b_folded = (stats["beta"] - stats["moving_mean"] * scale).astype(np.float32)
        folded = tf.nn.conv2d(x, w_folded, strides=[1, 1, 1, 1], padding="SAME") + b_folded
        y_np, folded_np = sess.run([y, folded])
    return {"variables": sorted(variables),
            "max_abs_diff": float(np.abs(y_np - folded_np).max()),
            "max_abs_output": float(np.abs(y_np).max())}


def _bias_redundant(rng):
    """Training-mode batch norm after a conv with and without a bias."""
    x_np = _inputs(rng, [4, 8, 8, 3], 0.0, 1.0)
    bias_np = rng.uniform(-5, 5, 5).astype(np.float32)
    with common.graph_session() as (graph, sess):
        x = tf.constant(x_np)
        conv = slim.conv2d(x, 5, [3, 3], activation_fn=None, biases_initializer=None, scope="conv")
        bias = tf.Variable(bias_np, name="bias")
        with_bias = batch_norm(conv + bias, is_training=True, scope="bn")
        without_bias = batch_norm(conv, is_training=True, scope="bn", reuse=True)
        # A loss that depends on every output (a plain sum would be constant under batch norm).
        loss = tf.reduce_sum(tf.constant(rng.randn(*with_bias.shape.as_list()).astype(np.float32)) * with_bias)
        weights = slim.get_model_variables("conv/weights")[0]
        grad_bias, grad_weights = tf.gradients(loss, [bias, weights])
        sess.run(tf.global_variables_initializer())
        a, b, gb, gw = sess.run([with_bias, without_bias, grad_bias, grad_weights])
    return {"bias": bias_np.tolist(),
            "output_max_abs_diff": float(np.abs(a - b).max()),
            "grad_bias_max_abs": float(np.abs(gb).max()),
            "grad_weights_max_abs": float(np.abs(gw).max())}


def _plot(result, output_dir):
    if not output_dir:
        return None
    fig = common.new_figure(6, 4)
    ax = fig.add_subplot(1, 1, 1)
    steps = [m["steps"] for m in result["moving"]]
    diffs = [m["train_test_max_abs_diff"] for m in result["moving"]]
    ax.plot(steps, diffs, marker="o")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("log")
    ax.set_xlabel(f"moving-average updates on the batch (decay {result['decay']})")
    ax.set_ylabel("max |train output - test output|")
    ax.set_title("batch norm: training vs inference output")
    return common.save_figure(fig, output_dir, "batch_norm")


def format(result):
    lines = [f"1. manual (moments + batch_normalization) vs tlslim batch_norm, training mode: "
             f"max |diff| = {result['manual_vs_layer_max_abs_diff']:.3g}", "",
             "2. inference uses the moving statistics (channel 0 shown):"]
    rows = [[m["steps"], m["moving_mean"][0], m["moving_variance"][0], m["train_test_max_abs_diff"]]
            for m in result["moving"]]
    lines.append(common.table(["updates", "moving_mean[0]", "moving_var[0]", "max |train - test|"], rows))
    lines.append(f"   batch mean[0] = {result['batch_mean'][0]:.4g}, batch variance[0] = "
                 f"{result['batch_variance'][0]:.4g} (biased)")
    f, b = result["fold"], result["bias"]
    lines += ["",
              f"3. conv + batch norm vs one folded conv at test time: max |diff| = {f['max_abs_diff']:.3g} "
              f"(outputs up to {f['max_abs_output']:.3g})",
              f"   variables: {', '.join(f['variables'])}",
              "",
              f"4. conv bias before batch norm (training): output max |diff| with/without bias = "
              f"{b['output_max_abs_diff']:.3g}; max |d loss/d bias| = {b['grad_bias_max_abs']:.3g} "
              f"vs max |d loss/d weights| = {b['grad_weights_max_abs']:.3g}"]
    return "\n".join(lines)
