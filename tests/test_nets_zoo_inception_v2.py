"""OverFeat and Inception v2: release manifests at the default size and at 32x32, registry
metadata, logits equal to tf_slim's own builders on the same synthetic weights (seeded random
values, not a release) and slim's API (tf_slim's own test files run in test_nets_slim_api.py).
"""
import inspect

import numpy as np
import pytest

from tlslim import nets, restore
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError
from tlslim.layers import batch_norm
from tlslim.nets import inception_v2, overfeat
from tlslim.testing.nets import assert_variables_equal_manifest, assert_matches_reference, load_synthetic, n_batch_norms

NETS = ["overfeat", "inception_v2"]
# The classifier conv of each net, relative to its scope.
CLASSIFIER = {"overfeat": "overfeat/fc8/Conv2D", "inception_v2": "InceptionV2/Logits/Conv2d_1c_1x1/Conv2D"}
PRELOGITS_DEPTH = {"overfeat": 4096, "inception_v2": 1024}

INCEPTION_V2_BASE = ("Conv2d_1a_7x7", "MaxPool_2a_3x3", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "MaxPool_3a_3x3",
                     "Mixed_3b", "Mixed_3c", "Mixed_4a", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
                     "Mixed_5a", "Mixed_5b", "Mixed_5c")


@pytest.mark.parametrize("size", ["default", 32])
@pytest.mark.parametrize("name", NETS)
def test_variables_equal_manifest(built, name, size):
    size = nets.get_info(name).default_image_size if size == "default" else size
    assert_variables_equal_manifest(built(name, size), name, size)


@pytest.mark.parametrize("size", ["default", 32])
@pytest.mark.parametrize("name", NETS)
def test_penultimate_is_the_classifier_input(built, name, size):
    info = nets.get_info(name)
    b = built(name, info.default_image_size if size == "default" else size)
    pre = b["end_points"][nets.PENULTIMATE]
    assert pre.shape.as_list() == [2, 1, 1, PRELOGITS_DEPTH[name]]
    assert b["graph"].get_operation_by_name(CLASSIFIER[name]).inputs[0].name == pre.name
    assert restore.penultimate(b["end_points"]).name == pre.name
    assert restore.penultimate(b["graph"], name).name == pre.name
    if size == "default":  # slim's graph: its fixed pool or fc6 already leaves 1x1
        assert "global_pool" not in b["end_points"]


def test_registry_metadata():
    o, i = nets.get_info("overfeat"), nets.get_info("inception_v2")
    assert (o.scope, o.head_scope, o.default_image_size, o.min_image_size) == ("overfeat", "overfeat/fc8", 231, 11)
    assert (o.num_classes, o.preprocessing, o.prelogits_op) == (1000, "vgg", "fc8/Conv2D")
    # research/slim's table of pre-trained models lists no OverFeat checkpoint.
    assert o.checkpoint_tarball is None and o.checkpoint_file is None and o.checkpoint_url is None
    assert o.blocks == ("overfeat/conv1", "overfeat/conv2", "overfeat/conv3", "overfeat/conv4", "overfeat/conv5",
                        "overfeat/fc6", "overfeat/fc7", "overfeat/fc8")
    assert (i.scope, i.head_scope, i.default_image_size, i.min_image_size) == (
        "InceptionV2", "InceptionV2/Logits", 224, 32)
    assert (i.num_classes, i.preprocessing, i.prelogits_op) == (1001, "inception", "Logits/Conv2d_1c_1x1/Conv2D")
    assert i.checkpoint_tarball == "inception_v2_2016_08_28.tar.gz" and i.checkpoint_file == "inception_v2.ckpt"
    assert i.checkpoint_url == "http://download.tensorflow.org/models/inception_v2_2016_08_28.tar.gz"
    assert i.blocks == tuple(f"InceptionV2/{n}" for n in INCEPTION_V2_BASE if not n.startswith("MaxPool")) + (
        "InceptionV2/Logits",)
    for name in NETS:
        info, m = nets.get_info(name), nets.manifest(name)
        assert m["num_classes"] == info.num_classes and info.blocks[-1] == info.head_scope
        for var in m["variables"]:
            assert len([blk for blk in info.blocks if var.startswith(blk + "/")]) == 1, var


def test_manifest_spot_checks():
    v = nets.manifest("overfeat")["variables"]
    assert len(v) == 16
    assert v["overfeat/conv1/weights"] == [11, 11, 3, 64] and v["overfeat/fc6/weights"] == [6, 6, 1024, 3072]
    assert v["overfeat/fc8/weights"] == [1, 1, 4096, 1000]
    v = nets.manifest("inception_v2")["variables"]
    assert v["InceptionV2/Conv2d_1a_7x7/depthwise_weights"] == [7, 7, 3, 8]
    assert v["InceptionV2/Conv2d_1a_7x7/pointwise_weights"] == [1, 1, 24, 64]
    assert v["InceptionV2/Mixed_5c/Branch_3/Conv2d_0b_1x1/weights"] == [1, 1, 1024, 128]
    assert v["InceptionV2/Logits/Conv2d_1c_1x1/weights"] == [1, 1, 1024, 1001]
    assert not [k for k in v if k.endswith("/gamma")]  # batch norm without scale
    # slim's own parameter count of inception_v2_base with its arg scope.
    base = sum(int(np.prod(s)) for k, s in v.items() if "/Logits/" not in k)
    assert base == 10173112


def test_registry_rejects_too_small_and_builds_large(graph):
    with pytest.raises(TlslimError, match="at least 11x11"):
        nets.get_network_fn("overfeat", 5)(tf.placeholder(tf.float32, [1, 10, 10, 3]))
    logits, end_points = nets.get_network_fn("overfeat", 5)(tf.placeholder(tf.float32, [1, 281, 281, 3]))
    assert logits.shape.as_list() == [1, 5] and "global_pool" in end_points
    logits, end_points = nets.get_network_fn("inception_v2", 5)(tf.placeholder(tf.float32, [1, 320, 320, 3]))
    assert logits.shape.as_list() == [1, 5] and "global_pool" in end_points


# ---- the same numbers as tf_slim's builders ----

def test_inception_v2_equals_tf_slim_at_224():
    """Same synthetic weights and inputs: our logits equal tf_slim's inception_v2's in inference
    and training mode (dropout off so training mode is deterministic)."""
    from tf_slim.nets import inception_v2 as slim_inception_v2

    def ours(images, train):
        return nets.get_network_fn("inception_v2", 1001, is_training=train, dropout_keep_prob=1.0)(images)

    def theirs(images, train):
        with slim.arg_scope(slim_inception_v2.inception_v2_arg_scope(weight_decay=0.0)):
            with slim.arg_scope([slim.conv2d], normalizer_fn=batch_norm):
                with slim.arg_scope([batch_norm], is_training=train):
                    return slim_inception_v2.inception_v2(images, 1001, is_training=train, dropout_keep_prob=1.0)

    assert_matches_reference(ours, theirs, 224, n_batch_norms("inception_v2"))


def _logits_on_synthetic_weights(build, x):
    with tf.Graph().as_default():
        logits, end_points = build(tf.constant(x))
        with tf.Session() as sess:
            load_synthetic(sess)
            return sess.run(logits), {k: v.shape.as_list() for k, v in end_points.items()}


def test_overfeat_equals_tf_slim_at_231():
    """OverFeat has no batch norm, so inference mode is the whole comparison."""
    from tf_slim.nets import overfeat as slim_overfeat
    x = np.random.default_rng(0).uniform(-1, 1, [2, 231, 231, 3]).astype(np.float32)

    def ours(images):
        with slim.arg_scope(overfeat.overfeat_arg_scope()):
            return overfeat.overfeat(images, 1000, is_training=False)

    def theirs(images):
        with slim.arg_scope(slim_overfeat.overfeat_arg_scope()):
            return slim_overfeat.overfeat(images, 1000, is_training=False)

    got, our_points = _logits_on_synthetic_weights(ours, x)
    want, their_points = _logits_on_synthetic_weights(theirs, x)
    scale = np.abs(want).max()
    assert scale > 0.1
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * scale)
    assert our_points == their_points


# ---- slim's API ----

def _params(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]


def test_slim_signatures():
    empty = inspect.Parameter.empty
    assert _params(overfeat.overfeat) == [
        ("inputs", empty), ("num_classes", 1000), ("is_training", True), ("dropout_keep_prob", 0.5),
        ("spatial_squeeze", True), ("scope", "overfeat"), ("global_pool", False)]
    assert _params(overfeat.overfeat_arg_scope) == [("weight_decay", 0.0005)]
    assert overfeat.overfeat.default_image_size == 231
    assert _params(inception_v2.inception_v2) == [
        ("inputs", empty), ("num_classes", 1000), ("is_training", True), ("dropout_keep_prob", 0.8),
        ("min_depth", 16), ("depth_multiplier", 1.0), ("prediction_fn", slim.softmax), ("spatial_squeeze", True),
        ("reuse", None), ("scope", "InceptionV2"), ("global_pool", False)]
    assert _params(inception_v2.inception_v2_base) == [
        ("inputs", empty), ("final_endpoint", "Mixed_5c"), ("min_depth", 16), ("depth_multiplier", 1.0),
        ("use_separable_conv", True), ("data_format", "NHWC"), ("include_root_block", True), ("scope", None)]
    assert _params(inception_v2.inception_v2_arg_scope)[:2] == [
        ("weight_decay", 0.00004), ("batch_norm_var_collection", "moving_vars")]
    assert inception_v2.inception_v2.default_image_size == 224


def _tf_slim_build(module, fn, images, *args, **kwargs):
    """tf_slim's builder under its arg scope, with tlslim's batch norm where it uses one."""
    from tf_slim import nets as slim_nets
    mod = getattr(slim_nets, module)
    with slim.arg_scope(getattr(mod, f"{module}_arg_scope")()):
        with slim.arg_scope([slim.conv2d], normalizer_fn=batch_norm if module == "inception_v2" else None):
            with slim.arg_scope([batch_norm], is_training=kwargs.get("is_training", True)):
                return getattr(mod, fn)(images, *args, **kwargs)


def test_overfeat_slim_calls(graph):
    images = tf.placeholder(tf.float32, [2, 231, 231, 3])
    with slim.arg_scope(overfeat.overfeat_arg_scope()):
        logits, end_points = overfeat.overfeat(images, 10)
        assert logits.op.name == "overfeat/fc8/squeezed" and logits.shape.as_list() == [2, 10]
        # is_training defaults to True: the dropouts draw random masks.
        assert [op for op in graph.get_operations() if op.name.startswith("overfeat/dropout6/")
                and op.type == "RandomUniform"]
        _, theirs = _tf_slim_build("overfeat", "overfeat", images, 10, scope="theirs")
        assert set(end_points) == {k.replace("theirs/", "overfeat/") for k in theirs}
        assert {k: v.shape.as_list() for k, v in end_points.items()} == {
            k.replace("theirs/", "overfeat/"): v.shape.as_list() for k, v in theirs.items()}
        # inputs, num_classes, is_training, dropout_keep_prob, spatial_squeeze, scope
        big = tf.placeholder(tf.float32, [1, 281, 281, 3])
        dense, _ = overfeat.overfeat(big, 7, False, 0.5, False, "dense")
        assert dense.op.name == "dense/fc8/BiasAdd" and dense.shape.as_list() == [1, 2, 2, 7]
        assert not [op for op in graph.get_operations() if op.name.startswith("dense/dropout")
                    and op.type == "RandomUniform"]
        pooled, pooled_points = overfeat.overfeat(big, 7, False, scope="pooled", global_pool=True)
        assert pooled.shape.as_list() == [1, 7] and "global_pool" in pooled_points
        features, feature_points = overfeat.overfeat(images, 0, False, scope="features")
        assert features.shape.as_list() == [2, 1, 1, 4096] and "features/fc8" not in feature_points
        assert features.name == feature_points["features/fc7"].name
        assert not [v for v in tf.model_variables() if v.op.name.startswith("features/fc8")]
        # 32x32 builds with the release shapes (conv2, pool5 and fc6 fall back to SAME).
        small, _ = overfeat.overfeat(tf.placeholder(tf.float32, [2, 32, 32, 3]), 1000, False, scope="small")
        assert small.shape.as_list() == [2, 1000]
    shapes = {v.op.name: v.shape.as_list() for v in tf.model_variables() if v.op.name.startswith("small/")}
    assert shapes == {k.replace("overfeat/", "small/"): s for k, s in nets.manifest("overfeat")["variables"].items()}


def test_inception_v2_slim_calls(graph):
    images = tf.placeholder(tf.float32, [2, 224, 224, 3])
    with slim.arg_scope(inception_v2.inception_v2_arg_scope()):
        logits, end_points = inception_v2.inception_v2(images, 10)
        assert logits.op.name == "InceptionV2/Logits/SpatialSqueeze" and logits.shape.as_list() == [2, 10]
        # is_training defaults to True: batch norm makes its moving-average updates.
        assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2 * n_batch_norms("inception_v2")
        _, theirs = _tf_slim_build("inception_v2", "inception_v2", images, 10, scope="Theirs")
        assert set(end_points) == set(theirs) == set(INCEPTION_V2_BASE) | {"Logits", "Predictions"}
        assert {k: v.shape.as_list() for k, v in end_points.items()} == {
            k: v.shape.as_list() for k, v in theirs.items()}
    with slim.arg_scope(inception_v2.inception_v2_arg_scope()):
        n_updates = len(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
        # inputs, num_classes, is_training, dropout_keep_prob, min_depth, depth_multiplier,
        # prediction_fn, spatial_squeeze
        big = tf.placeholder(tf.float32, [1, 320, 320, 3])
        dense, _ = inception_v2.inception_v2(big, 7, False, 0.8, 16, 0.5, None, False, scope="Dense")
        assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == n_updates
        assert dense.shape.as_list() == [1, 2, 2, 7]  # slim's fixed 7x7/2 window over a 10x10 map
        pooled, pooled_points = inception_v2.inception_v2(big, 7, False, depth_multiplier=0.5, scope="Pooled",
                                                          global_pool=True)
        assert pooled.shape.as_list() == [1, 7] and "global_pool" in pooled_points
        features, feature_points = inception_v2.inception_v2(images, None, False, scope="Features")
        assert features.shape.as_list() == [2, 1, 1, 1024] and features.op.name.startswith("Features/Logits/AvgPool")
        assert "Logits" not in feature_points and "Predictions" not in feature_points
        zero, _ = inception_v2.inception_v2(images, 0, False, depth_multiplier=0.5, scope="Zero")
        assert zero.shape.as_list() == [2, 1, 1, 512]
        assert not [v for v in tf.model_variables() if v.op.name.startswith(("Features/Logits", "Zero/Logits"))]
        small, small_points = inception_v2.inception_v2(tf.placeholder(tf.float32, [2, 32, 32, 3]), 1001, False,
                                                        scope="Small")
        assert small.shape.as_list() == [2, 1001] and small_points["Mixed_5c"].shape.as_list() == [2, 1, 1, 1024]
        assert graph.get_operation_by_name("Small/Logits/AvgPool_1a_1x1/AvgPool")


def test_inception_v2_base_options_and_errors(graph):
    images = tf.placeholder(tf.float32, [1, 64, 64, 3])
    net, end_points = inception_v2.inception_v2_base(images, "Mixed_3c")
    assert list(end_points) == list(INCEPTION_V2_BASE[:7]) and net.shape.as_list() == [1, 8, 8, 320]
    net, _ = inception_v2.inception_v2_base(images, use_separable_conv=False, scope="Full")
    assert net.shape.as_list() == [1, 2, 2, 1024]
    full = {v.op.name: v.shape.as_list() for v in tf.model_variables() if v.op.name.startswith("Full/Conv2d_1a")}
    assert full["Full/Conv2d_1a_7x7/weights"] == [7, 7, 3, 64] and "Full/Conv2d_1a_7x7/BatchNorm/beta" not in full
    net, end_points = inception_v2.inception_v2_base(tf.placeholder(tf.float32, [1, 28, 28, 192]),
                                                     include_root_block=False, scope="NoRoot")
    assert list(end_points)[0] == "Mixed_3b" and net.shape.as_list() == [1, 7, 7, 1024]
    net, _ = inception_v2.inception_v2_base(tf.placeholder(tf.float32, [1, 3, 64, 64]), use_separable_conv=False,
                                            data_format="NCHW", scope="NCHW")
    assert net.shape.as_list() == [1, 1024, 2, 2]
    with pytest.raises(ValueError, match="final endpoint"):
        inception_v2.inception_v2_base(images, "Mixed_6a", scope="A")
    with pytest.raises(ValueError, match="depth_multiplier"):
        inception_v2.inception_v2(images, depth_multiplier=0.0, scope="B")
    with pytest.raises(ValueError, match="data_format"):
        inception_v2.inception_v2_base(images, data_format="NCWH", scope="C")
    with pytest.raises(ValueError, match="NHWC"):
        inception_v2.inception_v2_base(images, data_format="NCHW", scope="D")
