"""Weight initialization: activation statistics through a 6-layer net of width 4096.

The lecture's experiment: a batch of 16 inputs x ~ N(0, 1) through dims [4096] * 7, each layer
h = f(h W) with W ~ N(0, std^2) and no bias. Per layer it records the mean and std of the
activations, and for tanh the fraction of saturated units (|h| > 0.9, where tanh's local
gradient 1 - h^2 is below 0.19).

Why: with W of std s, a pre-activation is a sum of Din terms, so its variance is
Din * s^2 * E[h^2]. Din * s^2 is the per-layer gain: 0.41 for s = 0.01 (tanh shrinks towards
0 by ~0.64 in std per layer), 10.2 for s = 0.05 (tanh pushed into saturation), 1 for
Xavier s = 1/sqrt(Din). ReLU zeroes half its inputs, halving E[h^2], so it needs gain 2:
Kaiming s = sqrt(2/Din).
"""
import numpy as np

from tlslim.compat import tf
from tlslim.labs import common

DIMS = [4096] * 7
BATCH = 16
SATURATED = 0.9

# name -> (nonlinearity, weight std as a function of Din)
CONFIGS = {
    "tanh, std 0.01": ("tanh", lambda din: 0.01),
    "tanh, std 0.05": ("tanh", lambda din: 0.05),
    "tanh, Xavier 1/sqrt(Din)": ("tanh", lambda din: 1.0 / np.sqrt(din)),
    "relu, Xavier 1/sqrt(Din)": ("relu", lambda din: 1.0 / np.sqrt(din)),
    "relu, Kaiming sqrt(2/Din)": ("relu", lambda din: np.sqrt(2.0 / din)),
}
NONLINEARITY = {"tanh": tf.tanh, "relu": tf.nn.relu}


def forward(configs=CONFIGS, seed=0, dims=DIMS, batch=BATCH):
    """{config name: [activations of each layer, numpy [batch, Dout]]} of the lecture's net.

    One unit-normal draw per layer is shared by every configuration (W = std * N(0, 1)), so
    they differ only in the scale and the nonlinearity, and the draws are made once.
    """
    inputs = np.random.RandomState(seed).randn(batch, dims[0]).astype(np.float32)
    with common.graph_session(seed) as (_, sess):
        unit_weights = [tf.random_normal([din, dout], seed=seed + i, name=f"N{i + 1}")
                        for i, (din, dout) in enumerate(zip(dims[:-1], dims[1:]))]
        layers = {}
        for name, (nonlinearity, weight_std) in configs.items():
            h, layers[name] = tf.constant(inputs), []
            for z in unit_weights:
                h = NONLINEARITY[nonlinearity](tf.matmul(h, z * weight_std(int(z.shape[0]))))
                layers[name].append(h)
        return sess.run(layers)  # one run: each random op is sampled once


def run(output_dir=None):
    """{'configs': {name: {'nonlinearity', 'weight_std', 'mean': [6], 'std': [6],
    'saturated': [6]}}, 'figures': [...]}"""
    result = {"dims": DIMS, "batch": BATCH, "saturated_threshold": SATURATED, "configs": {}}
    activations = forward()
    for name, (nonlinearity, weight_std) in CONFIGS.items():
        layers = activations[name]
        result["configs"][name] = {
            "nonlinearity": nonlinearity,
            "weight_std": float(weight_std(DIMS[0])),
            "mean": [float(h.mean()) for h in layers],
            "std": [float(h.std()) for h in layers],
            "saturated": [float(np.mean(np.abs(h) > SATURATED)) for h in layers],
        }
    figure = _plot(activations, output_dir)
    result["figures"] = [figure] if figure else []
    return result


def _plot(activations, output_dir):
    if not output_dir:
        return None
    n_layers = len(DIMS) - 1
    fig = common.new_figure(2.2 * n_layers, 2.0 * len(activations))
    for r, (name, layers) in enumerate(activations.items()):
        for c, h in enumerate(layers):
            ax = fig.add_subplot(len(activations), n_layers, r * n_layers + c + 1)
            lo = -1.0 if CONFIGS[name][0] == "tanh" else 0.0
            hi = 1.0 if CONFIGS[name][0] == "tanh" else 3.0
            values = h.ravel() if CONFIGS[name][0] == "tanh" else h[h > 0]  # ReLU: the nonzero half
            ax.hist(values, bins=50, range=(lo, hi))
            ax.set_yticks([])
            ax.set_title(f"layer {c + 1}: std {h.std():.3g}", fontsize=8)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    return common.save_figure(fig, output_dir, "weight_init")


def format(result):
    n = len(result["dims"]) - 1
    headers = ["init", "stat"] + [f"layer {i + 1}" for i in range(n)]
    rows = []
    for name, r in result["configs"].items():
        rows.append([name, "mean"] + r["mean"])
        rows.append(["", "std"] + r["std"])
        if r["nonlinearity"] == "tanh":
            rows.append(["", f"|h|>{result['saturated_threshold']:g}"] + r["saturated"])
    return common.table(headers, rows, spec=".3g")
