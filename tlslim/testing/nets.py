"""Numerical checks of tlslim's nets on SYNTHETIC weights (seeded random values, not a release),
against tf_slim's own builders or against NumPy, for tests.

    values = load_synthetic(sess)                  # every variable set; {name: value}
    assert_matches_reference(build, build_tf_slim, 224, n_batch_norms('inception_v1'))
"""
import zlib

import numpy as np

from tlslim import nets
from tlslim.compat import tf


def synthetic_value(name, shape):
    """Seeded random value for a variable: He-scaled weights, BN statistics away from 0/1."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    leaf = name.rsplit("/", 1)[-1]
    if leaf == "weights":
        return rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
    if leaf in ("gamma", "moving_variance"):
        return rng.uniform(0.5, 1.5, shape)
    return rng.normal(0.0, 0.1, shape)  # biases, beta, moving_mean


def load_synthetic(sess):
    """Set every variable to its synthetic value in one run (feeding the initializers' inputs);
    returns {name: value}."""
    variables = tf.global_variables()
    feed = {v.initializer.inputs[1]: synthetic_value(v.op.name, v.shape.as_list()).astype(np.float32)
            for v in variables}
    sess.run([v.initializer for v in variables], feed)
    return {v.op.name: feed[v.initializer.inputs[1]] for v in variables}


def n_batch_norms(name):
    """How many batch norms net `name`'s release has (one moving_mean each)."""
    return sum(1 for v in nets.manifest(name)["variables"] if v.endswith("/moving_mean"))


def _run(build, x):
    with tf.Graph().as_default():
        train = tf.placeholder_with_default(False, [])
        images = tf.placeholder(tf.float32, x.shape)
        logits, end_points = build(images, train)
        n_updates = len(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
        with tf.Session() as sess:
            load_synthetic(sess)
            values = {t: sess.run(logits, {images: x, train: t}) for t in (False, True)}
    return values, {k: v.shape.as_list() for k, v in end_points.items()}, n_updates


def assert_matches_reference(build, build_reference, size, n_batch_norms, skip_keys=()):
    """Assert that `build` computes what `build_reference` does on the same synthetic weights.

    Each is `fn(images, is_training) -> (logits [2, classes], end_points)`, built in a graph of its
    own on the same [2, size, size, 3] inputs, is_training a bool tensor, and run in inference
    (moving statistics) and training (batch statistics) mode. Asserts: in both modes the logits
    are non-degenerate and equal to rounding; training mode changes them; each graph makes
    2 * n_batch_norms update ops; `build`'s end_points hold all of the reference's keys with
    the same shapes (`skip_keys` only as keys).
    """
    x = np.random.default_rng(0).uniform(-1, 1, [2, size, size, 3]).astype(np.float32)
    ours, our_points, our_updates = _run(build, x)
    theirs, their_points, their_updates = _run(build_reference, x)
    for t in (False, True):
        scale = np.abs(theirs[t]).max()
        assert scale > 0.1, f"degenerate reference logits (is_training={t}): max |logit| {scale}"
        # Both graphs run the same float32 ops in the same order; allow only rounding-level
        # differences (float32 eps ~1e-7 relative per op, accumulated over tens of layers).
        np.testing.assert_allclose(ours[t], theirs[t], rtol=0, atol=1e-5 * scale)
    # Training mode really uses batch statistics: the outputs differ.
    change = np.abs(ours[True] - ours[False]).max()
    assert change > 1e-3 * np.abs(ours[False]).max(), f"training mode does not change the logits ({change})"
    # A tensor is_training makes the moving-average updates (mean and variance per BN).
    assert our_updates == their_updates == 2 * n_batch_norms, (our_updates, their_updates, n_batch_norms)
    missing = set(their_points) - set(our_points)
    assert not missing, f"end_points missing: {sorted(missing)}"
    for key, shape in their_points.items():
        if key not in skip_keys:
            assert our_points[key] == shape, (key, our_points[key], shape)


def assert_logits_are_1x1_conv(logits, prelogits, values, scope):
    """Assert logits == prelogits [B,1,1,C] through the 1x1 conv `scope` whose variables are in `values`."""
    w, b = values[f"{scope}/weights"][0, 0], values[f"{scope}/biases"]
    np.testing.assert_allclose(logits, prelogits[:, 0, 0] @ w + b, rtol=1e-4, atol=1e-4 * np.abs(logits).max())


def registry_build(name, size, batch=2):
    """Net `name` through get_network_fn in a fresh graph, inference mode, release num_classes ->
    {'graph', 'images', 'logits', 'end_points', 'shapes' ({name: shape} of the model variables),
    'only_model_variables' (no other variable was made)}."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [batch, size, size, 3])
        logits, end_points = nets.get_network_fn(name, nets.get_info(name).num_classes)(images)
        shapes = {v.op.name: v.shape.as_list() for v in tf.model_variables()}
        only_model = set(tf.global_variables()) == set(tf.model_variables())
    return {"graph": graph, "images": images, "logits": logits, "end_points": end_points, "shapes": shapes,
            "only_model_variables": only_model}


def assert_variables_equal_manifest(build, name, size):
    """The registry net `name` built at `size` (a registry_build result) has exactly its manifest's
    variables, no others, and [batch, release classes] logits."""
    assert build["shapes"] == nets.manifest(name)["variables"]
    assert build["only_model_variables"]
    assert build["logits"].shape.as_list() == [2, nets.get_info(name).num_classes]
