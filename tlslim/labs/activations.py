"""Activation functions: value and gradient (tf.gradients) at x = -10, 0, 10.

Shows that sigmoid's gradient is 0.25 at 0 but about 4.5e-5 at +-10 (a saturated unit passes
almost no gradient back), and that sigmoid's outputs are all positive, so never zero-centred:
over inputs symmetric about 0 their mean is exactly 0.5, where tanh's is 0.

Float64 throughout so the printed numbers are the functions' own, not float32 rounding.
Where a function has a kink at 0 (ReLU, Leaky ReLU, PReLU) the derivative there is undefined;
TensorFlow returns the slope of the x <= 0 piece. ELU and SELU get the x >= 0 slope.
"""
import numpy as np

from tlslim.compat import slim, tf
from tlslim.labs import common

POINTS = (-10.0, 0.0, 10.0)
LEAKY_ALPHA = 0.01
PRELU_ALPHA_INIT = 0.25  # He et al. 2015 initialise PReLU's learned slope at 0.25
# Maxout of two linear pieces, max(w1 x + b1, w2 x + b2); chosen so the pieces cross at x = 5/9.
MAXOUT_PIECES = ((1.0, 0.0), (0.1, 0.5))
GRID = np.linspace(-10.0, 10.0, 2001)  # symmetric about 0, for the zero-centredness column


def _prelu(x):
    alpha = tf.get_variable("prelu_alpha", [], x.dtype, tf.constant_initializer(PRELU_ALPHA_INIT))
    return tf.where(x > 0, x, alpha * x)


def _maxout(x):
    pieces = tf.stack([w * x + b for w, b in MAXOUT_PIECES], axis=-1)  # [N, 2]
    return tf.squeeze(slim.maxout(pieces, num_units=1), -1)


ACTIVATIONS = {
    "sigmoid": tf.sigmoid,
    "tanh": tf.tanh,
    "relu": tf.nn.relu,
    "leaky_relu": lambda x: tf.nn.leaky_relu(x, alpha=LEAKY_ALPHA),
    "prelu": _prelu,
    "elu": tf.nn.elu,  # alpha = 1
    "selu": tf.nn.selu,  # alpha = 1.6733, lambda = 1.0507 (Klambauer et al. 2017, full precision)
    "maxout": _maxout,
    "swish": lambda x: x * tf.sigmoid(x),  # beta = 1 (SiLU)
}


def run(output_dir=None):
    """{'points': [...], 'activations': {name: {'value': [..], 'grad': [..], 'grid_mean',
    'grid_min'}}, 'figures': [...]}"""
    with common.graph_session() as (graph, sess):
        x = tf.placeholder(tf.float64, [None], name="x")
        outs, grads = {}, {}
        for name, fn in ACTIVATIONS.items():
            with tf.variable_scope(name):
                y = fn(x)
            outs[name] = y
            # Each y_i depends on x_i only, so d(sum y)/dx is the elementwise derivative.
            grads[name] = tf.gradients(tf.reduce_sum(y), x)[0]
        sess.run(tf.global_variables_initializer())
        at_points = sess.run((outs, grads), {x: np.array(POINTS)})
        on_grid = sess.run((outs, grads), {x: GRID})

    result = {"points": list(POINTS), "activations": {}}
    for name in ACTIVATIONS:
        result["activations"][name] = {
            "value": [float(v) for v in at_points[0][name]],
            "grad": [float(g) for g in at_points[1][name]],
            "grid_mean": float(np.mean(on_grid[0][name])),
            "grid_min": float(np.min(on_grid[0][name])),
        }
    figure = _plot(on_grid, output_dir)
    result["figures"] = [figure] if figure else []
    return result


def _plot(on_grid, output_dir):
    if not output_dir:
        return None
    fig = common.new_figure(12, 10)
    for i, name in enumerate(ACTIVATIONS):
        ax = fig.add_subplot(3, 3, i + 1)
        ax.plot(GRID, on_grid[0][name], label="f(x)")
        ax.plot(GRID, on_grid[1][name], label="f'(x)", linestyle="--")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.set_title(name)
        ax.set_ylim(-3, 5)
        if i == 0:
            ax.legend(loc="upper left")
    return common.save_figure(fig, output_dir, "activations")


def format(result):
    headers = ["activation"] + [f"f({p:g})" for p in result["points"]] + \
              [f"f'({p:g})" for p in result["points"]] + ["mean f on [-10,10]", "min f"]
    rows = [[name] + r["value"] + r["grad"] + [r["grid_mean"], r["grid_min"]]
            for name, r in result["activations"].items()]
    s = result["activations"]["sigmoid"]
    notes = [
        "",
        f"sigmoid: gradient {s['grad'][1]:.4g} at 0 but {s['grad'][2]:.3g} at 10 "
        f"(saturated: {s['grad'][1] / s['grad'][2]:.0f}x smaller).",
        f"sigmoid outputs are all > 0 (min {s['grid_min']:.3g}); mean over inputs symmetric about 0 "
        f"is {s['grid_mean']:.4g}, not 0: never zero-centred.",
    ]
    return common.table(headers, rows) + "\n".join(notes)
