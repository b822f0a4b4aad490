"""MobileNet v2 (1.0, 1.4, 0.35) and v3 (large, small) as research/slim's nets/mobilenet package.

Names and shapes against the release manifests at 224 and at 32x32, the manifests against the
parameter counts of slim's README and layer tables, the registry metadata and penultimate tensor,
slim's end points and API (signatures, num_classes=None/0, conv_defs, depth_multiplier, finegrain
mode, output stride, v3's variants), an inverted residual block and v3's squeeze-excite and
hard-swish against NumPy. Weights in numeric checks are synthetic.
"""
import copy
import inspect

import numpy as np
import pytest

from tlslim import nets, restore
from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.mobilenet import conv_blocks, mobilenet_v2, mobilenet_v3
from tlslim.nets.mobilenet import mobilenet as lib
from tlslim.testing.nets import assert_variables_equal_manifest, load_synthetic

# Registry name -> (depth multiplier, width of Conv_1 = the classifier's input, release name).
V2 = {"mobilenet_v2": (1.0, 1280, "mobilenet_v2_1.0_224"), "mobilenet_v2_140": (1.4, 1792, "mobilenet_v2_1.4_224"),
      "mobilenet_v2_035": (0.35, 1280, "mobilenet_v2_0.35_224")}
# research/slim nets/mobilenet/README.md: millions of parameters of each release.
README_PARAMS = {"mobilenet_v2": 3.47, "mobilenet_v2_140": 6.06, "mobilenet_v2_035": 1.66}
LAYERS = ["Conv", "expanded_conv"] + [f"expanded_conv_{i}" for i in range(1, 17)] + ["Conv_1"]


def block_end_points(n_blocks, n_layers):
    """slim's end points of a MobileNet with classes: 'layer_<i>' for each layer, the inverted
    residual blocks' named tensors (the first block, layer_2, has no expansion), the head."""
    return ({f"layer_{i}" for i in range(1, n_layers + 1)} | {"layer_2/depthwise_output", "layer_2/output"}
            | {f"layer_{i}/{t}" for i in range(3, n_blocks + 2)
               for t in ("expansion_output", "depthwise_output", "output")}
            | {"global_pool", "Logits", "Predictions"})


V2_END_POINTS = block_end_points(17, 19)  # 17 blocks; 19 layers with Conv and Conv_1

# v3: registry name -> (blocks, Conv_1 and Conv_2 widths, release name, checkpoint prefix in the tarball).
V3 = {"mobilenet_v3_large": (15, 960, 1280, "v3-large_224_1.0_float", "ema/model-540000"),
      "mobilenet_v3_small": (11, 576, 1024, "v3-small_224_1.0_float", "ema/model-388500")}


def conv_depths(graph):
    """The output depths of the graph's Conv2D ops (slim's tests' measure of the architecture)."""
    return {op.outputs[0].shape.as_list()[-1] for op in graph.get_operations() if op.type == "Conv2D"}


# ---- the registry nets against their releases ----

@pytest.mark.parametrize("size", [224, 32])
@pytest.mark.parametrize("name", list(V2) + list(V3))
def test_variables_equal_manifest(built, name, size):
    assert_variables_equal_manifest(built(name, size), name, size)


@pytest.mark.parametrize("name", list(V2))
def test_manifest_spot_checks(name):
    multiplier, width, _ = V2[name]
    m = nets.manifest(name)
    v = m["variables"]
    assert m["num_classes"] == 1001
    # Conv and Conv_1, 17 blocks of which the first has no expand conv, 5 variables a conv + BN.
    assert len(v) == 5 * (2 + 17 * 3 - 1) + 2
    weights = sum(int(np.prod(s)) for k, s in v.items() if k.endswith(("weights", "biases")))
    assert round(weights / 1e6, 2) == README_PARAMS[name]
    first = {1.0: 32, 1.4: 48, 0.35: 16}[multiplier]
    assert v["MobilenetV2/Conv/weights"] == [3, 3, 3, first]
    assert "MobilenetV2/expanded_conv/expand/weights" not in v
    assert v["MobilenetV2/expanded_conv/depthwise/depthwise_weights"] == [3, 3, first, 1]
    last_in = {1.0: 320, 1.4: 448, 0.35: 112}[multiplier]
    assert v["MobilenetV2/expanded_conv_16/project/weights"] == [1, 1, 6 * {1.0: 160, 1.4: 224, 0.35: 56}[multiplier],
                                                                 last_in]
    assert v["MobilenetV2/Conv_1/weights"] == [1, 1, last_in, width]
    assert v["MobilenetV2/Conv_1/BatchNorm/gamma"] == [width]
    assert v["MobilenetV2/Logits/Conv2d_1c_1x1/weights"] == [1, 1, width, 1001]
    assert [k for k in v if k.endswith("/biases")] == ["MobilenetV2/Logits/Conv2d_1c_1x1/biases"]
    if name == "mobilenet_v2":
        assert v["MobilenetV2/expanded_conv_1/expand/weights"] == [1, 1, 16, 96]
        assert v["MobilenetV2/expanded_conv_1/depthwise/depthwise_weights"] == [3, 3, 96, 1]
        assert v["MobilenetV2/expanded_conv_16/depthwise/BatchNorm/moving_variance"] == [960]


@pytest.mark.parametrize("name", list(V2))
def test_registry_metadata(name):
    info = nets.get_info(name)
    release = V2[name][2]
    assert (info.scope, info.head_scope, info.preprocessing) == ("MobilenetV2", "MobilenetV2/Logits", "inception")
    assert (info.default_image_size, info.min_image_size, info.num_classes) == (224, 32, 1001)
    assert info.prelogits_op == "Logits/Conv2d_1c_1x1/Conv2D"
    assert info.checkpoint_tarball == f"{release}.tgz" and info.checkpoint_file == f"{release}.ckpt"
    assert info.checkpoint_url == f"https://storage.googleapis.com/mobilenet_v2/checkpoints/{release}.tgz"
    assert info.manifest == f"{name}.json" and info.arg_scope is mobilenet_v2.training_scope
    assert info.blocks == tuple(f"MobilenetV2/{s}" for s in LAYERS) + ("MobilenetV2/Logits",)
    # Every release variable belongs to exactly one block (the strategies cover the whole net).
    for var in nets.manifest(name)["variables"]:
        assert len([b for b in info.blocks if var.startswith(b + "/")]) == 1, var


@pytest.mark.parametrize("name", list(V2))
def test_end_points_and_penultimate(built, name):
    """slim's end points (plus the registry's PreLogits), and PreLogits is the classifier's input:
    the global pool through Dropout's inference-mode identity, at 224 and at 32."""
    width = V2[name][1]
    for size, final in ((224, 7), (32, 1)):
        b = built(name, size)
        ep = b["end_points"]
        assert set(ep) == V2_END_POINTS | {nets.PENULTIMATE}
        assert ep["layer_19"].shape.as_list() == [2, final, final, width]
        assert ep["global_pool"].shape.as_list() == [2, 1, 1, width]
        pre = ep[nets.PENULTIMATE]
        conv = b["graph"].get_operation_by_name("MobilenetV2/Logits/Conv2d_1c_1x1/Conv2D")
        assert conv.inputs[0].name == pre.name
        assert pre.op.type == "Identity" and pre.op.inputs[0].name == ep["global_pool"].name
        assert restore.penultimate(b["graph"], name).name == pre.name
        assert ep["Logits"].name == b["logits"].name


def test_registry_modes_and_weight_decay(graph):
    """get_network_fn: inference mode by default (no batch-norm updates); weight_decay regularizes
    the full convs and the classifier, not the depthwise kernels; is_training=True trains."""
    images = tf.placeholder(tf.float32, [2, 32, 32, 3])
    nets.get_network_fn("mobilenet_v2_035", 10, weight_decay=1e-4)(images)
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
    # Conv, 16 expand and 17 project convs, Conv_1, the classifier.
    assert len(tf.losses.get_regularization_losses()) == 1 + 16 + 17 + 1 + 1
    with tf.Graph().as_default():
        logits, _ = nets.get_network_fn("mobilenet_v2_035", 10, is_training=True)(
            tf.placeholder(tf.float32, [2, 32, 32, 3]))
        assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2 * 52
        assert logits.shape.as_list() == [2, 10]


# ---- research/slim's API ----

def _params(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]


def test_slim_signatures_and_conv_defs():
    empty = inspect.Parameter.empty
    assert _params(mobilenet_v2.mobilenet) == [
        ("input_tensor", empty), ("num_classes", 1001), ("depth_multiplier", 1.0), ("scope", "MobilenetV2"),
        ("conv_defs", None), ("finegrain_classification_mode", False), ("min_depth", None), ("divisible_by", None),
        ("activation_fn", None), ("kwargs", empty)]
    assert _params(mobilenet_v2.mobilenet_base) == [("input_tensor", empty), ("depth_multiplier", 1.0),
                                                    ("kwargs", empty)]
    assert _params(mobilenet_v2.training_scope) == [("kwargs", empty)]
    assert _params(lib.mobilenet) == [
        ("inputs", empty), ("num_classes", 1001), ("prediction_fn", slim.softmax), ("reuse", None),
        ("scope", "Mobilenet"), ("base_only", False), ("use_reduce_mean_for_pooling", False),
        ("mobilenet_args", empty)]
    assert _params(lib.mobilenet_base) == [
        ("inputs", empty), ("conv_defs", empty), ("multiplier", 1.0), ("final_endpoint", None),
        ("output_stride", None), ("use_explicit_padding", False), ("scope", None), ("is_training", False)]
    assert _params(lib.training_scope) == [("is_training", True), ("weight_decay", 0.00004), ("stddev", 0.09),
                                           ("dropout_keep_prob", 0.8), ("bn_decay", 0.997)]
    assert _params(lib.depth_multiplier) == [("output_params", empty), ("multiplier", empty), ("divisible_by", 8),
                                             ("min_depth", 8), ("unused_kwargs", empty)]
    assert [p for p, _ in _params(conv_blocks.expanded_conv)][:8] == [
        "input_tensor", "num_outputs", "expansion_size", "stride", "rate", "kernel_size", "residual", "normalizer_fn"]
    fine = {"finegrain_classification_mode": True}
    for fn, keywords in ((mobilenet_v2.mobilenet_v2_140, {"depth_multiplier": 1.4}),
                         (mobilenet_v2.mobilenet_v2_050, {"depth_multiplier": 0.5, **fine}),
                         (mobilenet_v2.mobilenet_v2_035, {"depth_multiplier": 0.35, **fine})):
        assert fn.func is mobilenet_v2.mobilenet and fn.keywords == keywords and fn.default_image_size == 224
    assert mobilenet_v2.mobilenet.default_image_size == 224
    assert mobilenet_v2.__all__ == ["training_scope", "mobilenet_base", "mobilenet", "V2_DEF"]
    spec = mobilenet_v2.V2_DEF["spec"]
    assert len(spec) == 19 and spec[0].op is slim.conv2d and spec[-1].op is slim.conv2d
    assert all(s.op is conv_blocks.expanded_conv for s in spec[1:-1])
    assert [s.params.get("stride", 1) for s in spec] == [2, 1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]
    assert [s.params["num_outputs"] for s in spec] == [32, 16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160,
                                                       160, 160, 320, 1280]
    assert mobilenet_v2.V2_DEF["defaults"][(batch_norm,)] == {"center": True, "scale": True}
    # The op helper and the depth rule.
    o = lib.op(slim.conv2d, num_outputs=10, multiplier_transform=None)
    assert o.multiplier_func is None and o.params == {"num_outputs": 10}
    params = {"num_outputs": 24}
    lib.depth_multiplier(params, 0.35)
    assert params == {"num_outputs": 8}
    assert conv_blocks.expand_input_by_factor(6)(num_inputs=24) == 144


def test_slim_call_defaults_and_training_scope(graph):
    """mobilenet() builds in inference mode by default (slim's), under training_scope() in training
    mode (52 batch norms: 2 update ops each); end points exactly slim's."""
    images = tf.placeholder(tf.float32, [2, 32, 32, 3])
    logits, end_points = mobilenet_v2.mobilenet(images, depth_multiplier=0.35)
    assert logits.shape.as_list() == [2, 1001] and set(end_points) == V2_END_POINTS
    assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
    assert end_points["Predictions"].shape.as_list() == [2, 1001]
    with slim.arg_scope(mobilenet_v2.training_scope()):
        mobilenet_v2.mobilenet_v2_035(images, 5, scope="Train")
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2 * 52
    with pytest.raises(ValueError, match="depth_multiplier"):
        mobilenet_v2.mobilenet(images, multiplier=0.5)
    with pytest.raises(ValueError, match="rank 4"):
        mobilenet_v2.mobilenet(tf.placeholder(tf.float32, [32, 32, 3]))


def test_slim_features_without_classes(graph):
    """num_classes None or 0: the pooled features (before dropout), no Logits variables."""
    images = tf.placeholder(tf.float32, [2, 64, 64, 3])
    features, end_points = mobilenet_v2.mobilenet(images, None, depth_multiplier=0.35, scope="Features")
    assert features.shape.as_list() == [2, 1, 1, 448] and features is end_points["global_pool"]
    assert features.op.type == "AvgPool" and "Logits" not in end_points and "Predictions" not in end_points
    # 0, and the pool as tf.reduce_mean.
    pooled, end_points = mobilenet_v2.mobilenet(images, 0, depth_multiplier=0.35, use_reduce_mean_for_pooling=True,
                                                scope="Mean")
    assert pooled.op.type == "Mean" and pooled.shape.as_list() == [2, 1, 1, 448] and "Logits" not in end_points
    assert not [v for v in tf.global_variables() if "/Logits/" in v.op.name]
    net, end_points = mobilenet_v2.mobilenet_base(images, depth_multiplier=0.35, scope="Base")
    assert net.shape.as_list() == [2, 2, 2, 448] and "global_pool" not in end_points


def test_slim_depth_options():
    """depth_multiplier, finegrain_classification_mode, min_depth / divisible_by and conv_defs,
    measured as slim's tests do, by the depths the convolutions produce."""
    def depths(**kwargs):
        with tf.Graph().as_default() as g:
            mobilenet_v2.mobilenet(tf.placeholder(tf.float32, [1, 32, 32, 3]), **kwargs)
            return conv_depths(g)

    # (1.4 and 0.35 in fine-grain mode: the registry's mobilenet_v2_140 and _035; 0.35 without it below.)
    # slim's testFineGrained: at 0.01 every layer is 8 wide (48 expanded) except the last.
    assert depths(depth_multiplier=0.01, finegrain_classification_mode=True) == {8, 48, 1001, 1280}
    # slim's testDivisibleBy.
    assert depths(divisible_by=16, min_depth=32) == {32, 64, 96, 160, 192, 320, 384, 576, 960, 1280, 1001}
    with slim.arg_scope((lib.depth_multiplier,), min_depth=32):
        assert depths(depth_multiplier=0.1) == {32, 192, 128, 1001}
    conv_defs = copy.deepcopy(mobilenet_v2.V2_DEF)
    conv_defs["spec"] = conv_defs["spec"][:4] + [lib.op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=64)]
    with tf.Graph().as_default():
        _, end_points = mobilenet_v2.mobilenet(tf.placeholder(tf.float32, [1, 32, 32, 3]), 7, conv_defs=conv_defs,
                                               activation_fn=tf.nn.relu)
        assert end_points["layer_5"].shape.as_list() == [1, 8, 8, 64] and "layer_6" not in end_points
        assert end_points["layer_5"].op.type == "Relu" and end_points["Logits"].shape.as_list() == [1, 7]
    assert conv_defs["spec"][0].op is slim.conv2d and mobilenet_v2.V2_DEF["defaults"][
        (slim.conv2d, slim.fully_connected, slim.separable_conv2d)]["activation_fn"] is tf.nn.relu6


def test_slim_base_options_and_errors(graph):
    images = tf.placeholder(tf.float32, [1, 224, 224, 3])
    kwargs = {"conv_defs": mobilenet_v2.V2_DEF, "multiplier": 0.35}
    for stride, explicit in ((16, False), (8, True)):
        out, _ = lib.mobilenet_base(images, output_stride=stride, use_explicit_padding=explicit, **kwargs)
        assert out.shape.as_list()[1:3] == [224 // stride] * 2
    out, end_points = lib.mobilenet_base(images, final_endpoint="layer_3", scope="Short", **kwargs)
    assert out.shape.as_list() == [1, 56, 56, 8] and "layer_4" not in end_points
    assert set(end_points) == {"layer_1", "layer_2", "layer_3", "layer_2/depthwise_output", "layer_2/output",
                               "layer_3/expansion_output", "layer_3/depthwise_output", "layer_3/output"}
    with pytest.raises(ValueError, match="multiplier"):
        lib.mobilenet_base(images, conv_defs=mobilenet_v2.V2_DEF, multiplier=0)
    with pytest.raises(ValueError, match="Output stride"):
        lib.mobilenet_base(images, conv_defs=mobilenet_v2.V2_DEF, output_stride=3)
    net, _ = mobilenet_v2.mobilenet_base_group_norm(tf.placeholder(tf.float32, [1, 32, 32, 3]), 0.35)
    names = [v.op.name for v in tf.global_variables() if v.op.name.startswith("MobilenetV2/")]
    assert net.shape.as_list() == [1, 1, 1, 448]
    assert any("/GroupNorm/" in n for n in names) and not any("/BatchNorm/" in n for n in names)


# ---- numbers ----

def _conv_np(x, w, stride, depthwise=False):
    """NHWC convolution with TF's 'SAME' padding, by loops; w is [kh, kw, in, out], or
    [kh, kw, C, 1] one filter per channel when depthwise."""
    n, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    oh, ow = -(-h // stride), -(-wd // stride)
    ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - wd, 0)
    xp = np.pad(x, [(0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)])
    out = np.zeros([n, oh, ow, c if depthwise else w.shape[3]])
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            if depthwise:
                out[:, i, j, :] = np.einsum("nhwc,hwc->nc", patch, w[..., 0])
            else:
                out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return out


def test_inverted_residual_blocks_against_numpy(graph):
    """Conv -> layer_2 (no expansion) -> layer_3 (expand, depthwise stride 2, project) -> layer_4
    (the same at stride 1, plus the residual) in inference mode equal NumPy: SAME convolutions,
    batch norm with the moving statistics (epsilon 0.001), ReLU6 except after the projections."""
    x = np.random.default_rng(3).uniform(-1, 1, [2, 12, 10, 3]).astype(np.float32)
    with slim.arg_scope(mobilenet_v2.training_scope(is_training=False)):
        _, end_points = mobilenet_v2.mobilenet_base(tf.constant(x), depth_multiplier=0.35, final_endpoint="layer_4")
    with tf.Session() as sess:
        values = load_synthetic(sess)
        got = sess.run(end_points)

    def conv_bn(y, scope, stride=1, relu6=True):
        depthwise = scope.endswith("depthwise")
        w = values[f"MobilenetV2/{scope}/" + ("depthwise_weights" if depthwise else "weights")]
        y = _conv_np(y, w, stride, depthwise)
        p = {k: values[f"MobilenetV2/{scope}/BatchNorm/{k}"]
             for k in ("beta", "gamma", "moving_mean", "moving_variance")}
        y = p["gamma"] * (y - p["moving_mean"]) / np.sqrt(p["moving_variance"] + 0.001) + p["beta"]
        return np.clip(y, 0, 6) if relu6 else y

    y = conv_bn(x, "Conv", 2)
    y = conv_bn(conv_bn(y, "expanded_conv/depthwise"), "expanded_conv/project", relu6=False)
    np.testing.assert_allclose(got["layer_2"], y, rtol=1e-4, atol=1e-4)
    expanded = conv_bn(y, "expanded_conv_1/expand")
    y = conv_bn(conv_bn(expanded, "expanded_conv_1/depthwise", 2), "expanded_conv_1/project", relu6=False)
    np.testing.assert_allclose(got["layer_3/expansion_output"], expanded, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got["layer_3"], y, rtol=1e-4, atol=1e-4)
    block = conv_bn(conv_bn(conv_bn(y, "expanded_conv_2/expand"), "expanded_conv_2/depthwise"),
                    "expanded_conv_2/project", relu6=False)
    assert got["layer_4"].shape == (2, 3, 3, 8) and got["layer_3/expansion_output"].shape == (2, 6, 5, 48)
    np.testing.assert_allclose(got["layer_4"], y + block, rtol=1e-4, atol=1e-4)
    assert np.abs(block).max() > 0.1 and np.abs(y).max() > 0.1  # both terms of the sum matter


# ---- MobileNet v3 ----

def test_v3_manifest_spot_checks():
    """Shapes and totals against the layer tables of slim's mobilenet_v3.py (ConvParameters) and
    its README (Large: 5.4 M parameters)."""
    large = nets.manifest("mobilenet_v3_large")["variables"]
    small = nets.manifest("mobilenet_v3_small")["variables"]
    for v in (large, small):
        assert v["MobilenetV3/Conv/weights"] == [3, 3, 3, 16]
        assert "MobilenetV3/expanded_conv/expand/weights" not in v
        assert v["MobilenetV3/expanded_conv/project/weights"] == [1, 1, 16, 16]
    assert large["MobilenetV3/expanded_conv_1/expand/weights"] == [1, 1, 16, 64]
    assert large["MobilenetV3/expanded_conv_3/depthwise/depthwise_weights"] == [5, 5, 72, 1]
    assert large["MobilenetV3/expanded_conv_3/squeeze_excite/Conv/weights"] == [1, 1, 72, 24]
    assert large["MobilenetV3/expanded_conv_3/squeeze_excite/Conv_1/biases"] == [72]
    assert large["MobilenetV3/expanded_conv_8/expand/weights"] == [1, 1, 80, 184]
    assert large["MobilenetV3/expanded_conv_13/squeeze_excite/Conv/weights"] == [1, 1, 960, 240]
    assert "MobilenetV3/expanded_conv_6/squeeze_excite/Conv/weights" not in large
    assert large["MobilenetV3/Conv_1/weights"] == [1, 1, 160, 960] and "MobilenetV3/Conv_1/biases" not in large
    assert large["MobilenetV3/Conv_2/weights"] == [1, 1, 960, 1280] and large["MobilenetV3/Conv_2/biases"] == [1280]
    assert "MobilenetV3/Conv_2/BatchNorm/gamma" not in large
    assert large["MobilenetV3/Logits/Conv2d_1c_1x1/weights"] == [1, 1, 1280, 1001]
    assert small["MobilenetV3/expanded_conv/squeeze_excite/Conv/weights"] == [1, 1, 16, 8]
    assert small["MobilenetV3/expanded_conv_2/expand/weights"] == [1, 1, 24, 88]
    assert small["MobilenetV3/expanded_conv_10/depthwise/depthwise_weights"] == [5, 5, 576, 1]
    assert small["MobilenetV3/Conv_2/weights"] == [1, 1, 576, 1024]
    assert small["MobilenetV3/Logits/Conv2d_1c_1x1/weights"] == [1, 1, 1024, 1001]
    kernels = {n: sum(int(np.prod(s)) for k, s in v.items() if k.endswith("weights")) for n, v in
               (("large", large), ("small", small))}
    assert round(kernels["small"] / 1e6, 2) == 2.53  # the V3 SMALL table's total
    assert int(kernels["large"] / 1e5) == 54  # README: 5.4 M
    assert (len(large), len(small)) == (266, 210)


@pytest.mark.parametrize("name", list(V3))
def test_v3_registry_metadata_end_points_and_penultimate(built, name):
    n_blocks, conv1, conv2, release, ckpt = V3[name]
    info = nets.get_info(name)
    assert (info.scope, info.head_scope, info.preprocessing) == ("MobilenetV3", "MobilenetV3/Logits", "inception")
    assert (info.default_image_size, info.min_image_size, info.num_classes) == (224, 32, 1001)
    assert info.prelogits_op == "Logits/Conv2d_1c_1x1/Conv2D" and info.arg_scope is mobilenet_v3.training_scope
    assert info.checkpoint_tarball == f"{release}.tgz" and info.checkpoint_file == ckpt
    assert info.checkpoint_url == f"https://storage.googleapis.com/mobilenet_v3/checkpoints/{release}.tgz"
    layers = ["Conv", "expanded_conv"] + [f"expanded_conv_{i}" for i in range(1, n_blocks)] + ["Conv_1", "Conv_2"]
    assert info.blocks == tuple(f"MobilenetV3/{s}" for s in layers) + ("MobilenetV3/Logits",)
    for var in nets.manifest(name)["variables"]:
        assert len([b for b in info.blocks if var.startswith(b + "/")]) == 1, var
    n_layers = n_blocks + 4  # Conv, the blocks, Conv_1, AvgPool2D, Conv_2
    for size, final in ((224, 7), (32, 1)):
        b = built(name, size)
        ep = b["end_points"]
        assert set(ep) == block_end_points(n_blocks, n_layers) | {nets.PENULTIMATE}
        assert ep[f"layer_{n_layers - 2}"].shape.as_list() == [2, final, final, conv1]
        assert ep[f"layer_{n_layers}"].shape.as_list() == [2, 1, 1, conv2]
        pre = ep[nets.PENULTIMATE]
        conv = b["graph"].get_operation_by_name("MobilenetV3/Logits/Conv2d_1c_1x1/Conv2D")
        assert conv.inputs[0].name == pre.name and pre.shape.as_list() == [2, 1, 1, conv2]
        assert pre.op.type == "Identity" and pre.op.inputs[0].name == ep["global_pool"].name


def test_v3_slim_api(graph):
    """slim's signatures and variants; base_only with a final endpoint and unknown sizes, group
    norm and reduce-mean pooling (slim's mobilenet_v3_test), EdgeTPU's default and given scope."""
    empty = inspect.Parameter.empty
    assert _params(mobilenet_v3.mobilenet) == [
        ("input_tensor", empty), ("num_classes", 1001), ("depth_multiplier", 1.0), ("scope", "MobilenetV3"),
        ("conv_defs", None), ("finegrain_classification_mode", False), ("use_groupnorm", False), ("kwargs", empty)]
    assert mobilenet_v3.training_scope is lib.training_scope and mobilenet_v3.mobilenet.default_image_size == 224
    assert mobilenet_v3.large.keywords == {"conv_defs": mobilenet_v3.V3_LARGE}
    assert mobilenet_v3.small.keywords == {"conv_defs": mobilenet_v3.V3_SMALL}
    assert mobilenet_v3.edge_tpu_075.keywords == {"conv_defs": mobilenet_v3.V3_EDGETPU, "depth_multiplier": 0.75,
                                                  "finegrain_classification_mode": True}
    assert "Inference mode is created by default" in mobilenet_v3.edge_tpu.__doc__
    defs = (mobilenet_v3.V3_LARGE, mobilenet_v3.V3_SMALL, mobilenet_v3.V3_LARGE_MINIMALISTIC,
            mobilenet_v3.V3_SMALL_MINIMALISTIC, mobilenet_v3.V3_EDGETPU)
    assert [len(d["spec"]) for d in defs] == [19, 15, 19, 15, 24]
    assert [d.params["num_outputs"] for d in mobilenet_v3.V3_LARGE_DETECTION["spec"][13:17]] == [80, 80, 80, 480]
    assert mobilenet_v3.__all__ == ["training_scope", "mobilenet", "V3_LARGE", "V3_SMALL", "large", "small",
                                    "V3_LARGE_DETECTION", "V3_SMALL_DETECTION"]

    net, end_points = mobilenet_v3.mobilenet(tf.placeholder(tf.float32, (None, None, None, 3)), base_only=True,
                                             final_endpoint="layer_17", scope="Variable")
    assert net is end_points["layer_17"] and net.shape.as_list() == [None, None, None, 960]
    images = tf.placeholder(tf.float32, (1, 64, 64, 3))
    logits, end_points = mobilenet_v3.mobilenet(images, conv_defs=mobilenet_v3.V3_SMALL, use_groupnorm=True,
                                                use_reduce_mean_for_pooling=True, scope="GroupNorm")
    assert logits.shape.as_list() == [1, 1001] and end_points["global_pool"].op.type == "Mean"
    names = [v.op.name for v in tf.global_variables() if v.op.name.startswith("GroupNorm/")]
    assert any("/GroupNorm/" in n for n in names) and not any("/BatchNorm/" in n for n in names)
    _, end_points = mobilenet_v3.edge_tpu(images, base_only=True, final_endpoint="layer_2")
    assert end_points["layer_2"].name.startswith("MobilenetEdgeTPU/")
    assert end_points["layer_2"].shape.as_list() == [1, 32, 32, 16]
    _, end_points = mobilenet_v3.edge_tpu(images, base_only=True, final_endpoint="layer_2", scope="Scope")
    assert end_points["layer_2"].name.startswith("Scope/")
    with pytest.raises(ValueError, match="depth_multiplier"):
        mobilenet_v3.mobilenet(images, multiplier=0.5)


def test_v3_squeeze_excite_and_hard_swish_against_numpy(graph):
    """MobileNet v3's squeeze-excite (global mean, 1x1 conv + ReLU to _make_divisible(C/4, 8),
    1x1 conv + hard sigmoid relu6(x+3)*0.16667, times the input) and hard-swish x*relu6(x+3)/6."""
    x = np.random.default_rng(5).uniform(-4, 4, [2, 5, 4, 40]).astype(np.float32)
    out = mobilenet_v3.squeeze_excite(tf.constant(x))
    swish = mobilenet_v3.hard_swish(tf.constant(x))
    with tf.Session() as sess:
        values = load_synthetic(sess)
        got, got_swish = sess.run([out, swish])
    w1, b1 = values["squeeze_excite/Conv/weights"], values["squeeze_excite/Conv/biases"]
    w2, b2 = values["squeeze_excite/Conv_1/weights"], values["squeeze_excite/Conv_1/biases"]
    assert w1.shape == (1, 1, 40, 16) and w2.shape == (1, 1, 16, 40)
    squeezed = np.maximum(x.mean(axis=(1, 2)) @ w1[0, 0] + b1, 0)
    gate = np.clip(squeezed @ w2[0, 0] + b2 + 3, 0, 6) * 0.16667
    np.testing.assert_allclose(got, x * gate[:, None, None, :], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_swish, x * np.clip(x + 3, 0, 6) / 6, rtol=1e-6, atol=1e-6)
