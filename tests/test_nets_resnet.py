"""ResNet v1/v2 builders against the release manifests and against tf_slim's own resnet_v1.

The weights used for numerical checks are synthetic (seeded random values), not the release.
"""
import numpy as np
import pytest

from tlslim import TlslimError, nets
from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets import resnet_utils, resnet_v2
from tlslim.testing.nets import assert_logits_are_1x1_conv, assert_matches_reference, load_synthetic, n_batch_norms

RESNETS = ["resnet_v1_50", "resnet_v1_101", "resnet_v1_152", "resnet_v2_50", "resnet_v2_101", "resnet_v2_152"]


def model_shapes():
    return {v.op.name: v.shape.as_list() for v in tf.model_variables()}


def build(name, size):
    """Graph only: the inference net `name` on a [2, size, size, 3] placeholder -> logits."""
    images = tf.placeholder(tf.float32, [2, size, size, 3])
    return nets.get_network_fn(name, nets.get_info(name).num_classes)(images)[0]


@pytest.mark.parametrize("name", RESNETS)
def test_registry_info_and_blocks_partition_manifest(name):
    info = nets.get_info(name)
    v1 = name.startswith("resnet_v1")
    m = nets.manifest(name)
    assert (info.scope, info.head_scope) == (name, f"{name}/logits")
    assert info.num_classes == m["num_classes"] == (1000 if v1 else 1001)
    assert info.preprocessing == ("vgg" if v1 else "inception")
    date = "2016_08_28" if v1 else "2017_04_14"
    assert info.checkpoint_tarball == f"{name}_{date}.tar.gz"
    assert info.checkpoint_file == f"{name}.ckpt"
    assert info.checkpoint_url == f"http://download.tensorflow.org/models/{name}_{date}.tar.gz"
    expected_blocks = [f"{name}/conv1"] + [f"{name}/block{i}" for i in range(1, 5)]
    expected_blocks += ([] if v1 else [f"{name}/postnorm"]) + [f"{name}/logits"]
    assert list(info.blocks) == expected_blocks
    assert m["extra"] == {"global_step": []}
    assert m["variables"][f"{name}/logits/weights"] == [1, 1, 2048, info.num_classes]
    assert m["variables"][f"{name}/logits/biases"] == [info.num_classes]
    # Every release variable belongs to exactly one block, so `top N` and discriminative rates
    # cover the whole net.
    for var in m["variables"]:
        owners = [b for b in info.blocks if var.startswith(b + "/")]
        assert len(owners) == 1, (var, owners)


def test_manifest_spot_checks():
    v1 = nets.manifest("resnet_v1_50")["variables"]
    assert v1["resnet_v1_50/conv1/weights"] == [7, 7, 3, 64]
    for p in ("beta", "gamma", "moving_mean", "moving_variance"):
        assert v1[f"resnet_v1_50/conv1/BatchNorm/{p}"] == [64]
    unit = "resnet_v1_50/block1/unit_1/bottleneck_v1"
    assert v1[f"{unit}/shortcut/weights"] == [1, 1, 64, 256]
    assert v1[f"{unit}/conv1/BatchNorm/gamma"] == [64]
    assert "resnet_v1_50/conv1/biases" not in v1
    v2 = nets.manifest("resnet_v2_50")["variables"]
    assert v2["resnet_v2_50/conv1/biases"] == [64]
    assert v2["resnet_v2_50/block1/unit_1/bottleneck_v2/preact/gamma"] == [64]
    assert v2["resnet_v2_50/block1/unit_1/bottleneck_v2/shortcut/biases"] == [256]
    assert v2["resnet_v2_50/block4/unit_3/bottleneck_v2/conv3/biases"] == [2048]
    assert v2["resnet_v2_50/postnorm/moving_variance"] == [2048]


@pytest.mark.parametrize("size", [224, 32])
@pytest.mark.parametrize("name", ["resnet_v1_50", "resnet_v2_50"])
def test_50_layer_variables_and_outputs(graph, name, size):
    info = nets.get_info(name)
    weight_decay = 1e-4 if size == 32 else 0.0
    images = tf.placeholder(tf.float32, [2, size, size, 3])
    logits, end_points = nets.get_network_fn(name, info.num_classes, weight_decay=weight_decay)(images)
    assert model_shapes() == nets.manifest(name)["variables"]
    assert set(tf.global_variables()) == set(tf.model_variables())
    assert logits.shape.as_list() == [2, info.num_classes]
    assert end_points[nets.PENULTIMATE].shape.as_list() == [2, 1, 1, 2048]
    assert end_points[nets.PENULTIMATE] is end_points["global_pool"]
    assert end_points[f"{name}/logits"].shape.as_list() == [2, 1, 1, info.num_classes]
    assert end_points["predictions"].shape.as_list() == [2, info.num_classes]
    last_map = -(-size // 32)  # stride 32 with 'SAME'-style padding
    assert end_points[f"{name}/block4"].shape.as_list() == [2, last_map, last_map, 2048]
    # is_training=False (a Python bool): batch norm makes no update ops.
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
    # weight_decay regularizes every conv kernel (and nothing else); 0 disables it.
    n_kernels = sum(1 for v in tf.model_variables() if v.op.name.endswith("/weights"))
    assert len(tf.losses.get_regularization_losses()) == (n_kernels if weight_decay else 0)


@pytest.mark.parametrize("size", ["default", 32])
@pytest.mark.parametrize("name", ["resnet_v1_101", "resnet_v1_152", "resnet_v2_50", "resnet_v2_101", "resnet_v2_152"])
def test_variables_match_manifest_at_the_default_size_and_32(graph, name, size):
    """At the registry's default size (224 for v1; 299, the size slim's README evaluates the v2
    releases at) and at 32."""
    info = nets.get_info(name)
    assert info.default_image_size == (224 if name.startswith("resnet_v1") else 299)
    logits = build(name, info.default_image_size if size == "default" else size)
    assert model_shapes() == nets.manifest(name)["variables"]
    assert logits.shape.as_list() == [2, info.num_classes]


def test_too_small_input_is_a_user_error(graph):
    with pytest.raises(TlslimError, match="at least 32x32"):
        build("resnet_v1_50", 16)


def _tf_slim_resnet_v1_50(images, is_training):
    """tf_slim's published resnet_v1_50 under its own arg scope, with tlslim's batch_norm as the
    normalizer (slim.batch_norm no longer runs) and is_training passed to it."""
    from tf_slim.nets import resnet_utils as slim_utils, resnet_v1 as slim_v1
    with slim.arg_scope(slim_utils.resnet_arg_scope(weight_decay=0.0)):
        with slim.arg_scope([slim.conv2d], normalizer_fn=batch_norm):
            with slim.arg_scope([batch_norm], is_training=is_training):
                return slim_v1.resnet_v1_50(images, 1000, is_training=is_training)


def test_resnet_v1_50_equals_tf_slim():
    """Same synthetic weights, same 64x64 inputs: our logits equal tf_slim's resnet_v1_50's in
    inference mode (moving statistics) and in training mode (batch statistics), is_training
    being a bool tensor; our end_points hold all of tf_slim's keys with the same shapes."""
    def ours(images, train):
        return nets.get_network_fn("resnet_v1_50", 1000, is_training=train)(images)

    def theirs(images, train):
        logits, end_points = _tf_slim_resnet_v1_50(images, train)
        return tf.squeeze(logits, [1, 2]), end_points  # tf_slim's resnet_v1 does not squeeze

    # 'predictions' is unsqueezed in tf_slim's resnet_v1, squeezed in research/slim's and ours.
    assert_matches_reference(ours, theirs, 64, n_batch_norms("resnet_v1_50"), skip_keys=("predictions",))


def _bn_np(x, values, scope, eps=1e-5):
    g = values.get(f"{scope}/gamma", 1.0)
    return g * (x - values[f"{scope}/moving_mean"]) / np.sqrt(values[f"{scope}/moving_variance"] + eps) \
        + values[f"{scope}/beta"]


@pytest.mark.parametrize("depth_in,depth,stride", [(64, 256, 2), (256, 256, 2), (256, 256, 1)])
def test_resnet_v2_unit_wiring(graph, depth_in, depth, stride):
    """A v2 unit equals preact -> (projection | subsampled raw input) + conv1/conv2/conv3, written
    out with raw TF ops and the unit's own variables (inference mode)."""
    x = np.random.default_rng(1).normal(0, 1, [2, 9, 9, depth_in]).astype(np.float32)
    with slim.arg_scope(resnet_utils.resnet_arg_scope(weight_decay=0.0)):
        with slim.arg_scope([batch_norm], is_training=False):
            out = resnet_v2.bottleneck(tf.constant(x), depth, 64, stride, scope="unit")
    with tf.Session() as sess:
        values = load_synthetic(sess)

        def conv(inp, name, stride_, padding="SAME"):
            return tf.nn.conv2d(inp, values[f"unit/{name}/weights"], [1, stride_, stride_, 1], padding)

        preact = np.maximum(_bn_np(x, values, "unit/preact"), 0)
        if depth_in != depth:
            shortcut = conv(preact, "shortcut", stride) + values["unit/shortcut/biases"]
        else:
            shortcut = x[:, ::stride, ::stride, :]
        r = tf.nn.relu(_bn_np(conv(preact, "conv1", 1), values, "unit/conv1/BatchNorm"))
        if stride > 1:  # conv2d_same: pad 1 on each side, then a VALID strided conv
            r = conv(tf.pad(r, [[0, 0], [1, 1], [1, 1], [0, 0]]), "conv2", stride, "VALID")
        else:
            r = conv(r, "conv2", 1)
        r = tf.nn.relu(_bn_np(r, values, "unit/conv2/BatchNorm"))
        r = conv(r, "conv3", 1) + values["unit/conv3/biases"]
        expected, got = sess.run([shortcut + r, out])
    assert got.shape == ((2, 5, 5, depth) if stride == 2 else (2, 9, 9, depth))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_resnet_v2_prelogits_are_pooled_postnorm(graph):
    """PreLogits = spatial mean of ReLU(postnorm(block4)); logits = 1x1 conv of it (inference,
    is_training a bool tensor)."""
    images = tf.placeholder(tf.float32, [2, 64, 64, 3])
    train = tf.placeholder_with_default(False, [])
    logits, end_points = nets.get_network_fn("resnet_v2_50", 1001, is_training=train)(images)
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2 * n_batch_norms("resnet_v2_50")
    x = np.random.default_rng(2).uniform(-1, 1, [2, 64, 64, 3]).astype(np.float32)
    with tf.Session() as sess:
        values = load_synthetic(sess)
        block4, pre, out = sess.run([end_points["resnet_v2_50/block4"], end_points[nets.PENULTIMATE], logits],
                                    {images: x})
    expected = np.maximum(_bn_np(block4, values, "resnet_v2_50/postnorm"), 0).mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(pre, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    assert_logits_are_1x1_conv(out, pre, values, "resnet_v2_50/logits")
