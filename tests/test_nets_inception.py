"""Inception v1 builder against its release manifest and against tf_slim's own inception_v1.

The weights used for numerical checks are synthetic (seeded random values), not the release.
"""
import numpy as np
import pytest

from tlslim import nets
from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.testing.nets import assert_logits_are_1x1_conv, assert_matches_reference, load_synthetic, n_batch_norms

NAME = "inception_v1"


def test_registry_info_and_blocks_partition_manifest():
    info = nets.get_info(NAME)
    m = nets.manifest(NAME)
    assert (info.scope, info.head_scope) == ("InceptionV1", "InceptionV1/Logits")
    assert info.num_classes == m["num_classes"] == 1001
    assert info.preprocessing == "inception"
    assert info.checkpoint_tarball == "inception_v1_2016_08_28.tar.gz"
    assert info.checkpoint_file == "inception_v1.ckpt"
    assert info.checkpoint_url == "http://download.tensorflow.org/models/inception_v1_2016_08_28.tar.gz"
    mixed = ["3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c"]
    assert list(info.blocks) == (["InceptionV1/Conv2d_1a_7x7", "InceptionV1/Conv2d_2b_1x1",
                                  "InceptionV1/Conv2d_2c_3x3"]
                                 + [f"InceptionV1/Mixed_{m_}" for m_ in mixed] + ["InceptionV1/Logits"])
    assert m["extra"] == {"global_step": []}
    for var in m["variables"]:
        owners = [b for b in info.blocks if var.startswith(b + "/")]
        assert len(owners) == 1, (var, owners)


def test_manifest_spot_checks():
    v = nets.manifest(NAME)["variables"]
    assert v["InceptionV1/Conv2d_1a_7x7/weights"] == [7, 7, 3, 64]
    assert v["InceptionV1/Conv2d_1a_7x7/BatchNorm/beta"] == [64]
    # The release names Mixed_5b's second Branch_2 conv 0a, not 0b.
    assert v["InceptionV1/Mixed_5b/Branch_2/Conv2d_0a_3x3/weights"] == [3, 3, 32, 128]
    assert "InceptionV1/Mixed_5c/Branch_2/Conv2d_0b_3x3/weights" in v
    assert v["InceptionV1/Logits/Conv2d_0c_1x1/weights"] == [1, 1, 1024, 1001]
    assert v["InceptionV1/Logits/Conv2d_0c_1x1/biases"] == [1001]
    assert not [k for k in v if k.endswith("/gamma")]  # batch norm without scale, as released


@pytest.mark.parametrize("size", [224, 32])
def test_variables_and_outputs(graph, size):
    weight_decay = 4e-5 if size == 32 else 0.0
    images = tf.placeholder(tf.float32, [2, size, size, 3])
    logits, end_points = nets.get_network_fn(NAME, 1001, weight_decay=weight_decay)(images)
    assert {v.op.name: v.shape.as_list() for v in tf.model_variables()} == nets.manifest(NAME)["variables"]
    assert set(tf.global_variables()) == set(tf.model_variables())
    assert logits.shape.as_list() == [2, 1001]
    assert end_points["Logits"] is logits
    assert end_points[nets.PENULTIMATE].shape.as_list() == [2, 1, 1, 1024]
    # 224 gives a 7x7 Mixed_5c and slim's 7x7 average pool; 32 a 1x1 map and a global mean.
    pool_key = "AvgPool_0a_7x7" if size == 224 else "global_pool"
    assert end_points[nets.PENULTIMATE] is end_points[pool_key]
    last = 7 if size == 224 else 1
    assert end_points["Mixed_5c"].shape.as_list() == [2, last, last, 1024]
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
    assert len(tf.get_collection("moving_vars")) == 2 * n_batch_norms(NAME)
    n_kernels = sum(1 for v in tf.model_variables() if v.op.name.endswith("/weights"))
    assert len(tf.losses.get_regularization_losses()) == (n_kernels if weight_decay else 0)


def test_inception_v1_equals_tf_slim_at_224():
    """Same synthetic weights, same 224x224 inputs: our logits equal tf_slim's inception_v1's in
    inference and training mode (is_training a bool tensor; dropout off so training mode is
    deterministic); our end_points hold all of tf_slim's keys with the same shapes."""
    from tf_slim.nets import inception_v1 as slim_inception

    def ours(images, train):
        return nets.get_network_fn(NAME, 1001, is_training=train, dropout_keep_prob=1.0)(images)

    def theirs(images, train):
        with slim.arg_scope(slim_inception.inception_v1_arg_scope(weight_decay=0.0)):
            with slim.arg_scope([slim.conv2d], normalizer_fn=batch_norm):
                with slim.arg_scope([batch_norm], is_training=train):
                    return slim_inception.inception_v1(images, 1001, is_training=train, dropout_keep_prob=1.0)

    assert_matches_reference(ours, theirs, 224, n_batch_norms(NAME))


def test_small_input_pools_globally(graph):
    """At 64x64 Mixed_5c is 2x2, smaller than the 7x7 kernel: PreLogits is its spatial mean and
    the logits are the 1x1 conv of that (inference; dropout is off)."""
    images = tf.placeholder(tf.float32, [2, 64, 64, 3])
    logits, end_points = nets.get_network_fn(NAME, 1001)(images)
    assert end_points["Mixed_5c"].shape.as_list() == [2, 2, 2, 1024]
    x = np.random.default_rng(1).uniform(-1, 1, [2, 64, 64, 3]).astype(np.float32)
    with tf.Session() as sess:
        values = load_synthetic(sess)
        mixed, pre, out = sess.run([end_points["Mixed_5c"], end_points[nets.PENULTIMATE], logits], {images: x})
    np.testing.assert_allclose(pre, mixed.mean(axis=(1, 2), keepdims=True), rtol=1e-5,
                               atol=1e-6 * np.abs(pre).max())
    assert_logits_are_1x1_conv(out, pre, values, "InceptionV1/Logits/Conv2d_0c_1x1")
