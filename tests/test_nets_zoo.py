"""The model-zoo nets: MobileNet v1 (1.0, 0.75, 0.5, 0.25) and ResNet-200 v1/v2.

Names and shapes against the release manifests at the default size and at 32x32, the registry
metadata, the penultimate tensor, research/slim's API for mobilenet_v1, and one numeric check of
a depthwise-separable layer against numpy. Weights in numeric checks are synthetic.
"""
import inspect

import numpy as np
import pytest

from tlslim import nets, restore
from tlslim.compat import slim, tf
from tlslim.nets import mobilenet_v1
from tlslim.testing.nets import assert_variables_equal_manifest, load_synthetic

MOBILENETS = {"mobilenet_v1": 1.0, "mobilenet_v1_075": 0.75, "mobilenet_v1_050": 0.5, "mobilenet_v1_025": 0.25}
RESNET_200 = ["resnet_v1_200", "resnet_v2_200"]
ZOO = list(MOBILENETS) + RESNET_200

# research/slim nets/mobilenet_v1.py: the end points of mobilenet_v1(...) with num_classes > 0,
# global_pool=False and a prediction_fn.
SLIM_MOBILENET_END_POINTS = (
    {"Conv2d_0"} | {f"Conv2d_{i}_{part}" for i in range(1, 14) for part in ("depthwise", "pointwise")}
    | {"AvgPool_1a", "Logits", "Predictions"})


@pytest.mark.parametrize("size", ["default", 32])
@pytest.mark.parametrize("name", ZOO)
def test_variables_equal_manifest(built, name, size):
    size = nets.get_info(name).default_image_size if size == "default" else size
    assert_variables_equal_manifest(built(name, size), name, size)


def test_mobilenet_manifests_by_depth_multiplier():
    for name, multiplier in MOBILENETS.items():
        m = nets.manifest(name)
        v = m["variables"]
        assert m["num_classes"] == 1001
        assert len(v) == 5 + 13 * 10 + 2
        top = max(int(1024 * multiplier), 8)
        assert v["MobilenetV1/Conv2d_0/weights"] == [3, 3, 3, max(int(32 * multiplier), 8)]
        assert v["MobilenetV1/Conv2d_13_depthwise/depthwise_weights"] == [3, 3, top, 1]
        assert v["MobilenetV1/Conv2d_13_depthwise/BatchNorm/gamma"] == [top]
        assert v["MobilenetV1/Conv2d_13_pointwise/weights"] == [1, 1, top, top]
        assert v["MobilenetV1/Logits/Conv2d_1c_1x1/weights"] == [1, 1, top, 1001]
        assert v["MobilenetV1/Logits/Conv2d_1c_1x1/biases"] == [1001]
        assert not any(k.endswith("/biases") for k in v if "/Logits/" not in k)


@pytest.mark.parametrize("name", ZOO)
def test_registry_metadata(name):
    info = nets.get_info(name)
    m = nets.manifest(name)
    assert info.num_classes == m["num_classes"]
    assert info.default_image_size == 224 and info.min_image_size == 32
    assert info.blocks[-1] == info.head_scope
    if name in MOBILENETS:
        release = {"mobilenet_v1": "mobilenet_v1_1.0_224", "mobilenet_v1_075": "mobilenet_v1_0.75_224",
                   "mobilenet_v1_050": "mobilenet_v1_0.5_224", "mobilenet_v1_025": "mobilenet_v1_0.25_224"}[name]
        assert (info.scope, info.head_scope, info.preprocessing) == ("MobilenetV1", "MobilenetV1/Logits", "inception")
        assert info.num_classes == 1001
        assert info.checkpoint_tarball == f"{release}.tgz"
        assert info.checkpoint_file == f"{release}.ckpt"
        assert info.checkpoint_url == f"http://download.tensorflow.org/models/mobilenet_v1_2018_02_22/{release}.tgz"
        assert info.blocks[:3] == ("MobilenetV1/Conv2d_0", "MobilenetV1/Conv2d_1_depthwise",
                                   "MobilenetV1/Conv2d_1_pointwise")
        assert len(info.blocks) == 1 + 26 + 1
    else:
        v1 = name.startswith("resnet_v1")
        assert (info.scope, info.head_scope) == (name, f"{name}/logits")
        assert info.num_classes == (1000 if v1 else 1001)
        assert info.preprocessing == ("vgg" if v1 else "inception")
        # research/slim's README lists no ResNet-200 checkpoint (v2: 'TBA').
        assert info.checkpoint_tarball is None and info.checkpoint_file is None and info.checkpoint_url is None
        units = {b: sum(1 for k in m["variables"] if k.startswith(f"{name}/{b}/") and k.endswith("/conv1/weights"))
                 for b in ("block1", "block2", "block3", "block4")}
        assert units == {"block1": 3, "block2": 24, "block3": 36, "block4": 3}
        assert m["extra"] == {}
    # Every release variable belongs to exactly one block (the strategies cover the whole net).
    for var in m["variables"]:
        assert len([b for b in info.blocks if var.startswith(b + "/")]) == 1, var


@pytest.mark.parametrize("name", list(MOBILENETS))
def test_mobilenet_penultimate_is_the_classifier_input(built, name):
    b = built(name, 224)
    width = max(int(1024 * MOBILENETS[name]), 8)
    pre = b["end_points"][nets.PENULTIMATE]
    assert pre.shape.as_list() == [2, 1, 1, width]
    conv = b["graph"].get_operation_by_name("MobilenetV1/Logits/Conv2d_1c_1x1/Conv2D")
    assert conv.inputs[0].name == pre.name
    assert restore.penultimate(b["end_points"]).name == pre.name
    assert restore.penultimate(b["graph"], name).name == pre.name
    # At 32x32 the final map is 1x1 and slim's pool kernel shrinks to it.
    small = built(name, 32)
    assert small["end_points"][nets.PENULTIMATE].shape.as_list() == [2, 1, 1, width]
    # In inference mode Dropout_1b is an identity of the pool.
    pre = small["end_points"][nets.PENULTIMATE]
    assert pre.op.type == "Identity" and pre.op.inputs[0].name == small["end_points"]["AvgPool_1a"].name


def test_registry_inference_mode_and_weight_decay(graph):
    """get_network_fn's defaults: inference mode (no batch-norm update ops); weight_decay
    regularizes the full convs and the classifier, not the depthwise kernels (slim's
    regularize_depthwise=False)."""
    images = tf.placeholder(tf.float32, [1, 32, 32, 3])
    nets.get_network_fn("mobilenet_v1_025", 10, weight_decay=1e-4)(images)
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
    assert len(tf.losses.get_regularization_losses()) == 1 + 13 + 1


def test_registry_pools_globally_above_224(graph):
    logits, end_points = nets.get_network_fn("mobilenet_v1_025", 5)(tf.placeholder(tf.float32, [1, 300, 300, 3]))
    assert logits.shape.as_list() == [1, 5]
    assert "global_pool" in end_points and "AvgPool_1a" not in end_points
    assert end_points[nets.PENULTIMATE].shape.as_list() == [1, 1, 1, 256]


# ---- research/slim's API ----

def _params(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]


def test_slim_signatures():
    empty = inspect.Parameter.empty
    assert _params(mobilenet_v1.mobilenet_v1) == [
        ("inputs", empty), ("num_classes", 1000), ("dropout_keep_prob", 0.999), ("is_training", True),
        ("min_depth", 8), ("depth_multiplier", 1.0), ("conv_defs", None), ("prediction_fn", slim.softmax),
        ("spatial_squeeze", True), ("reuse", None), ("scope", "MobilenetV1"), ("global_pool", False)]
    assert _params(mobilenet_v1.mobilenet_v1_base) == [
        ("inputs", empty), ("final_endpoint", "Conv2d_13_pointwise"), ("min_depth", 8), ("depth_multiplier", 1.0),
        ("conv_defs", None), ("output_stride", None), ("use_explicit_padding", False), ("scope", None)]
    assert _params(mobilenet_v1.mobilenet_v1_arg_scope) == [
        ("is_training", True), ("weight_decay", 0.00004), ("stddev", 0.09), ("regularize_depthwise", False),
        ("batch_norm_decay", 0.9997), ("batch_norm_epsilon", 0.001)]
    for fn, multiplier in ((mobilenet_v1.mobilenet_v1_075, 0.75), (mobilenet_v1.mobilenet_v1_050, 0.5),
                           (mobilenet_v1.mobilenet_v1_025, 0.25)):
        assert fn.keywords == {"depth_multiplier": multiplier} and fn.func is mobilenet_v1.mobilenet_v1
        assert fn.default_image_size == 224
    assert mobilenet_v1.mobilenet_v1.default_image_size == 224
    conv_defs = mobilenet_v1.MOBILENETV1_CONV_DEFS
    assert conv_defs[0] == mobilenet_v1.Conv(kernel=[3, 3], stride=2, depth=32)
    assert conv_defs[-1] == mobilenet_v1.DepthSepConv(kernel=[3, 3], stride=1, depth=1024)
    assert [d.stride for d in conv_defs] == [2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]


def test_slim_call_end_points_and_defaults(graph):
    """The standard slim call: end_points exactly slim's, is_training defaults to True (batch
    norm creates update ops), logits squeezed."""
    images = tf.placeholder(tf.float32, [2, 224, 224, 3])
    with slim.arg_scope(mobilenet_v1.mobilenet_v1_arg_scope()):
        logits, end_points = mobilenet_v1.mobilenet_v1_025(images, 10)
    assert set(end_points) == SLIM_MOBILENET_END_POINTS
    assert logits.shape.as_list() == [2, 10] and end_points["Logits"].name == logits.name
    assert end_points["Predictions"].shape.as_list() == [2, 10]
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2 * 27
    assert end_points["Conv2d_13_pointwise"].shape.as_list() == [2, 7, 7, 256]


def test_slim_positional_call_and_options(graph):
    images = tf.placeholder(tf.float32, [2, 224, 224, 3])
    with slim.arg_scope(mobilenet_v1.mobilenet_v1_arg_scope(is_training=None)):
        # inputs, num_classes, dropout_keep_prob, is_training, min_depth, depth_multiplier
        logits, _ = mobilenet_v1.mobilenet_v1(images, 7, 0.5, False, 8, 0.25, None, None, False)
        assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
        assert logits.shape.as_list() == [2, 1, 1, 7]  # spatial_squeeze=False
        features, end_points = mobilenet_v1.mobilenet_v1(images, None, depth_multiplier=0.25,
                                                         is_training=False, scope="Features")
        assert features.shape.as_list() == [2, 1, 1, 256] and features.name == end_points["AvgPool_1a"].name
        assert "Logits" not in end_points and "Predictions" not in end_points
        zero, _ = mobilenet_v1.mobilenet_v1(images, 0, depth_multiplier=0.25, is_training=False, scope="Zero")
        assert zero.shape.as_list() == [2, 1, 1, 256]
        assert not [v for v in tf.model_variables() if v.op.name.startswith(("Features/Logits", "Zero/Logits"))]
        # Larger than 224 without global_pool: slim's fixed 7x7 window (slim.avg_pool2d's default
        # stride 2) over the 10x10 map gives a 2x2 map of logits.
        big = tf.placeholder(tf.float32, [1, 320, 320, 3])
        dense, _ = mobilenet_v1.mobilenet_v1(big, 3, depth_multiplier=0.25, is_training=False,
                                             spatial_squeeze=False, scope="Dense")
        assert dense.shape.as_list() == [1, 2, 2, 3]
        pooled, end_points = mobilenet_v1.mobilenet_v1(big, 3, depth_multiplier=0.25, is_training=False,
                                                       global_pool=True, scope="Pooled")
        assert pooled.shape.as_list() == [1, 3] and "global_pool" in end_points and "AvgPool_1a" not in end_points


def test_slim_base_options_and_errors(graph):
    images = tf.placeholder(tf.float32, [1, 64, 64, 3])
    net, end_points = mobilenet_v1.mobilenet_v1_base(images, "Conv2d_3_depthwise", depth_multiplier=0.25)
    assert list(end_points)[-1] == "Conv2d_3_depthwise" and net.shape.as_list() == [1, 16, 16, 32]
    net, _ = mobilenet_v1.mobilenet_v1_base(images, depth_multiplier=0.25, output_stride=8, scope="OS8")
    assert net.shape.as_list() == [1, 8, 8, 256]
    net, _ = mobilenet_v1.mobilenet_v1_base(images, depth_multiplier=0.25, use_explicit_padding=True, scope="Pad")
    assert net.shape.as_list() == [1, 2, 2, 256]
    with pytest.raises(ValueError, match="final endpoint"):
        mobilenet_v1.mobilenet_v1_base(images, "Conv2d_14_pointwise", scope="A")
    with pytest.raises(ValueError, match="depth_multiplier"):
        mobilenet_v1.mobilenet_v1_base(images, depth_multiplier=0, scope="B")
    with pytest.raises(ValueError, match="output_stride"):
        mobilenet_v1.mobilenet_v1_base(images, output_stride=4, scope="C")
    with pytest.raises(ValueError, match="rank"):
        mobilenet_v1.mobilenet_v1(tf.placeholder(tf.float32, [64, 64, 3]))


def _conv_np(x, w, stride):
    """NHWC convolution with TF's 'SAME' padding, by loops; w is [kh, kw, in, out]."""
    n, h, wd, _ = x.shape
    kh, kw = w.shape[:2]
    oh, ow = -(-h // stride), -(-wd // stride)
    ph = max((oh - 1) * stride + kh - h, 0)
    pw = max((ow - 1) * stride + kw - wd, 0)
    xp = np.pad(x, [(0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)])
    out = np.zeros([n, oh, ow, w.shape[3]])
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return out


def test_depthwise_separable_layer_against_numpy(graph):
    """Conv2d_0 -> Conv2d_1_depthwise -> Conv2d_1_pointwise in inference mode equals the same
    layers written in numpy: SAME convolutions, one 3x3 filter per channel, a 1x1 conv, each
    followed by batch norm with the moving statistics (epsilon 0.001) and ReLU6."""
    x = np.random.default_rng(3).uniform(-1, 1, [2, 6, 5, 3]).astype(np.float32)
    with slim.arg_scope(mobilenet_v1.mobilenet_v1_arg_scope(is_training=False)):
        out, end_points = mobilenet_v1.mobilenet_v1_base(tf.constant(x), "Conv2d_1_pointwise", depth_multiplier=0.25)
    with tf.Session() as sess:
        values = load_synthetic(sess)
        got, depthwise = sess.run([out, end_points["Conv2d_1_depthwise"]])

    def bn_relu6(y, scope):
        p = {k: values[f"MobilenetV1/{scope}/BatchNorm/{k}"] for k in
             ("beta", "gamma", "moving_mean", "moving_variance")}
        y = p["gamma"] * (y - p["moving_mean"]) / np.sqrt(p["moving_variance"] + 0.001) + p["beta"]
        return np.clip(y, 0, 6)

    y = bn_relu6(_conv_np(x, values["MobilenetV1/Conv2d_0/weights"], 2), "Conv2d_0")
    dw = values["MobilenetV1/Conv2d_1_depthwise/depthwise_weights"]  # [3, 3, C, 1]
    y = np.stack([_conv_np(y[..., c:c + 1], dw[:, :, c:c + 1, :], 1)[..., 0] for c in range(y.shape[-1])], -1)
    y_dw = bn_relu6(y, "Conv2d_1_depthwise")
    expected = bn_relu6(_conv_np(y_dw, values["MobilenetV1/Conv2d_1_pointwise/weights"], 1), "Conv2d_1_pointwise")
    assert got.shape == (2, 3, 3, 16) and depthwise.shape == (2, 3, 3, 8)
    np.testing.assert_allclose(depthwise, y_dw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
