"""tlslim.layers.batch_norm against a direct NumPy computation of slim's semantics.

Inputs are synthetic random arrays. Tolerances: float32 arithmetic on values of order 1,
a few operations deep, so 1e-5 absolute is ~100 float32 ulps; any real error (wrong variance,
epsilon, decay or statistics) is orders of magnitude larger.
"""
import numpy as np
import pytest

from tlslim.compat import slim, tf
from tlslim.layers import batch_norm, batch_norm_train_only

EPS = 1e-3
DECAY = 0.9
C = 3
RNG = np.random.default_rng(0)
GAMMA = np.array([0.5, 1.5, 2.0], np.float32)
BETA = np.array([0.1, -0.2, 0.3], np.float32)
MEAN0 = np.array([0.2, -0.1, 0.5], np.float32)
VAR0 = np.array([0.8, 1.3, 2.0], np.float32)
INIT = {name: tf.constant_initializer(value)
        for name, value in (("gamma", GAMMA), ("beta", BETA), ("moving_mean", MEAN0), ("moving_variance", VAR0))}
X4 = RNG.normal(1.0, 2.0, [2, 3, 3, C]).astype(np.float32)  # n = 18 values per channel
X2 = RNG.normal(1.0, 2.0, [5, C]).astype(np.float32)  # n = 5


def normalize(x, mean, var):
    return GAMMA * (x - mean) / np.sqrt(var + EPS) + BETA


def batch_stats(x):
    axes = tuple(range(x.ndim - 1))
    return x.mean(axis=axes), x.var(axis=axes)  # biased variance


def bn(x, **kw):
    kw.setdefault("scale", True)
    return batch_norm(x, decay=DECAY, epsilon=EPS, param_initializers=INIT, **kw)


def moving(sess, scope="BatchNorm"):
    """Current [moving_mean, moving_variance] of the batch norm under `scope`."""
    by_name = {v.op.name: v for v in tf.global_variables()}
    return sess.run([by_name[f"{scope}/moving_mean"], by_name[f"{scope}/moving_variance"]])


def test_variables_names_trainable_and_collections(graph):
    x = tf.placeholder(tf.float32, [None, 4, 4, C])
    bn(x, scope="net/bn", variables_collections={"moving_mean": ["stats"], "moving_variance": ["stats"]})
    names = ["net/bn/beta", "net/bn/gamma", "net/bn/moving_mean", "net/bn/moving_variance"]
    assert [v.op.name for v in tf.global_variables()] == names
    assert [v.op.name for v in tf.model_variables()] == names
    assert [v.op.name for v in tf.trainable_variables()] == names[:2]
    assert [v.op.name for v in tf.get_collection("stats")] == names[2:]
    assert all(v.shape.as_list() == [C] for v in tf.global_variables())
    # Defaults: scope 'BatchNorm', center without scale; trainable=False freezes beta too.
    bn(x, scale=False, trainable=False)
    assert [v.op.name for v in tf.global_variables()][4:] == [
        "BatchNorm/beta", "BatchNorm/moving_mean", "BatchNorm/moving_variance"]
    assert len(tf.trainable_variables()) == 2
    # reuse shares the variables instead of making new ones.
    bn(x, scope="net/bn", reuse=True)
    assert len(tf.global_variables()) == 7


@pytest.mark.parametrize("x", [X4, X2], ids=["4d_fused", "2d"])
def test_training_output_and_moving_average_updates(graph, x):
    inp = tf.constant(x)
    out = bn(inp, is_training=True, activation_fn=tf.nn.relu, outputs_collections="bn_out")
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(updates) == 2
    assert tf.get_collection("bn_out") == [out] and out.aliases == ["BatchNorm"]
    mean, var = batch_stats(x)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        got = sess.run(out)
        assert np.allclose(moving(sess), [MEAN0, VAR0])  # nothing moves without UPDATE_OPS
        sess.run(updates)
        mm, mv = moving(sess)
    np.testing.assert_allclose(got, np.maximum(normalize(x, mean, var), 0), atol=1e-5)
    n = x.size // C
    # The fused 4-D kernel hands the moving average the unbiased (n-1) variance, as slim's did.
    var_for_update = var * n / (n - 1) if x.ndim == 4 else var
    np.testing.assert_allclose(mm, MEAN0 - (MEAN0 - mean) * (1 - DECAY), atol=1e-5)
    np.testing.assert_allclose(mv, VAR0 - (VAR0 - var_for_update) * (1 - DECAY), atol=1e-5)


@pytest.mark.parametrize("x", [X4, X2], ids=["4d_fused", "2d"])
def test_inference_uses_moving_statistics(graph, x):
    out = bn(tf.constant(x), is_training=False)
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(out), normalize(x, MEAN0, VAR0), atol=1e-5)


@pytest.mark.parametrize("x", [X4, X2], ids=["4d_fused", "2d"])
def test_bool_tensor_is_training_switches_output_and_updates(graph, x):
    training = tf.placeholder(tf.bool, [])
    inp = tf.placeholder(tf.float32, x.shape)
    out = bn(inp, is_training=training)
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(updates) == 2
    mean, var = batch_stats(x)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        infer = sess.run([out] + updates, {inp: x, training: False})[0]
        np.testing.assert_allclose(infer, normalize(x, MEAN0, VAR0), atol=1e-5)
        np.testing.assert_allclose(moving(sess), [MEAN0, VAR0], atol=0)  # False: no update
        train = sess.run([out] + updates, {inp: x, training: True})[0]
        np.testing.assert_allclose(train, normalize(x, mean, var), atol=1e-5)
        np.testing.assert_allclose(moving(sess)[0], MEAN0 - (MEAN0 - mean) * (1 - DECAY), atol=1e-5)


@pytest.mark.parametrize("is_training", [True, "tensor"])
def test_updates_collections_none_updates_in_place(graph, is_training):
    flag = tf.placeholder_with_default(True, []) if is_training == "tensor" else True
    out = bn(tf.constant(X4), is_training=flag, updates_collections=None)
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
    mean, _ = batch_stats(X4)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(out), normalize(X4, *batch_stats(X4)), atol=1e-5)
        np.testing.assert_allclose(moving(sess)[0], MEAN0 - (MEAN0 - mean) * (1 - DECAY), atol=1e-5)
        if is_training == "tensor":
            before = moving(sess)
            np.testing.assert_allclose(sess.run(out, {flag: False}), normalize(X4, *before), atol=1e-5)
            np.testing.assert_allclose(moving(sess), before, atol=0)  # False: no update


def test_batch_norm_train_only_freezes_batch_norm_outside_scopes(graph):
    x = tf.constant(X4)
    with slim.arg_scope([batch_norm], is_training=True):
        with batch_norm_train_only(["net/a"]):
            trained = bn(x, scope="net/a")
            frozen = bn(x, scope="net/ab")  # 'net/a' is a scope prefix, not a string prefix
            frozen_too = bn(x, scope="net/b")
        outside = bn(x, scope="net/c")  # the context has ended: trains again
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert sorted({op.name.split("/")[1] for op in updates}) == ["a", "c"]
    assert len(updates) == 4
    mean, var = batch_stats(X4)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, ab, b, c = sess.run([trained, frozen, frozen_too, outside])
    np.testing.assert_allclose(a, normalize(X4, mean, var), atol=1e-5)
    np.testing.assert_allclose(c, a, atol=0)
    for out in (ab, b):
        np.testing.assert_allclose(out, normalize(X4, MEAN0, VAR0), atol=1e-5)
