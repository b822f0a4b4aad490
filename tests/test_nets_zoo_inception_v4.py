"""Inception v4 and Inception-ResNet-v2: names and shapes against the release manifests (299, 32),
registry metadata, slim's end points and API, the aux head's release kernel at 32x32 against
NumPy, and the two heads a fine-tune must exclude. research/slim's numbers quoted here come from
its nets/inception_v4_test.py and inception_resnet_v2_test.py. Weights and checkpoints here are
SYNTHETIC (seeded random values, release names).
"""
import inspect

import numpy as np
import pytest

from tlslim import nets, restore
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError
from tlslim.nets import inception_resnet_v2, inception_v4
from tlslim.nets.registry import classifier_input, penultimate_collection
from tlslim.testing import checkpoints
from tlslim.testing.nets import assert_variables_equal_manifest, load_synthetic

V4, IRV2 = "inception_v4", "inception_resnet_v2"
NETS = [V4, IRV2]
SCOPE = {V4: "InceptionV4", IRV2: "InceptionResnetV2"}
MODULE = {V4: inception_v4, IRV2: inception_resnet_v2}
BUILD = {V4: inception_v4.inception_v4, IRV2: inception_resnet_v2.inception_resnet_v2}
ARG_SCOPE = {V4: inception_v4.inception_v4_arg_scope, IRV2: inception_resnet_v2.inception_resnet_v2_arg_scope}
# The fully connected classifiers (main, aux) and the aux head's release-kernel conv.
CLASSIFIERS = {V4: ("InceptionV4/Logits/Logits", "InceptionV4/AuxLogits/Aux_logits"),
               IRV2: ("InceptionResnetV2/Logits/Logits", "InceptionResnetV2/AuxLogits/Logits")}
AUX_CONV = {V4: "InceptionV4/AuxLogits/Conv2d_2a", IRV2: "InceptionResnetV2/AuxLogits/Conv2d_2a_5x5"}

# research/slim's end point shapes at 299 (batch 2 here): inception_v4_test.py's
# testAllEndPointsShapes; inception_resnet_v2_test.py's testBuildAndCheckAllEndPointsUptoPreAuxLogits
# and testBuildEndPoints (Conv2d_7b_1x1), Mixed_7a from the source's '8 x 8 x 2080'.
V4_BASE_SHAPES = {
    "Conv2d_1a_3x3": [149, 149, 32], "Conv2d_2a_3x3": [147, 147, 32], "Conv2d_2b_3x3": [147, 147, 64],
    "Mixed_3a": [73, 73, 160], "Mixed_4a": [71, 71, 192], "Mixed_5a": [35, 35, 384],
    **{f"Mixed_5{c}": [35, 35, 384] for c in "bcde"}, "Mixed_6a": [17, 17, 1024],
    **{f"Mixed_6{c}": [17, 17, 1024] for c in "bcdefgh"}, "Mixed_7a": [8, 8, 1536],
    **{f"Mixed_7{c}": [8, 8, 1536] for c in "bcd"}}
IRV2_BASE_SHAPES = {
    "Conv2d_1a_3x3": [149, 149, 32], "Conv2d_2a_3x3": [147, 147, 32], "Conv2d_2b_3x3": [147, 147, 64],
    "MaxPool_3a_3x3": [73, 73, 64], "Conv2d_3b_1x1": [73, 73, 80], "Conv2d_4a_3x3": [71, 71, 192],
    "MaxPool_5a_3x3": [35, 35, 192], "Mixed_5b": [35, 35, 320], "Mixed_6a": [17, 17, 1088],
    "PreAuxLogits": [17, 17, 1088], "Mixed_7a": [8, 8, 2080], "Conv2d_7b_1x1": [8, 8, 1536]}
BASE_SHAPES = {V4: V4_BASE_SHAPES, IRV2: IRV2_BASE_SHAPES}
HEAD_END_POINTS = {"AuxLogits", "global_pool", "PreLogitsFlatten", "Logits", "Predictions"}


def test_registry_metadata_and_blocks_partition_manifest():
    release = {V4: ("inception_v4_2016_09_09.tar.gz", "inception_v4.ckpt"),
               IRV2: ("inception_resnet_v2_2016_08_30.tar.gz", "inception_resnet_v2_2016_08_30.ckpt")}
    for name in NETS:
        info, m, s = nets.get_info(name), nets.manifest(name), SCOPE[name]
        assert (info.scope, info.head_scope, info.aux_scopes) == (s, f"{s}/Logits", (f"{s}/AuxLogits",))
        assert info.prelogits_op == "Logits/Logits/MatMul"
        assert info.num_classes == m["num_classes"] == 1001
        assert (info.default_image_size, info.min_image_size, info.preprocessing) == (299, 32, "inception")
        assert (info.checkpoint_tarball, info.checkpoint_file) == release[name]
        assert info.checkpoint_url == "http://download.tensorflow.org/models/" + release[name][0]
        assert info.manifest == f"{name}.json" and info.blocks[-1] == info.head_scope
        for var in m["variables"]:
            owners = [b for b in info.blocks if var.startswith(b + "/")]
            assert len(owners) == 1, (var, owners)
    # From input to head, the aux head right after the module it reads.
    v4 = nets.get_info(V4).blocks
    expected = [n for n in V4_BASE_SHAPES if n <= "Mixed_6h"] + ["AuxLogits"] + [
        n for n in V4_BASE_SHAPES if n > "Mixed_6h"] + ["Logits"]
    assert list(v4) == [f"InceptionV4/{b}" for b in expected]
    assert nets.get_info(IRV2).blocks == tuple(f"InceptionResnetV2/{b}" for b in (
        "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "Mixed_5b", "Repeat",
        "Mixed_6a", "Repeat_1", "AuxLogits", "Mixed_7a", "Repeat_2", "Block8", "Conv2d_7b_1x1", "Logits"))


def _params(variables, prefix):
    return sum(int(np.prod(s)) for k, s in variables.items() if k.startswith(prefix))


def test_manifest_spot_checks():
    """Input depths follow research/slim's end point shapes; the trainable parameters without the
    aux head are the sizes usually quoted for these nets (about 42.7M and 55.8M)."""
    v = nets.manifest(V4)["variables"]
    assert len(v) == 608 and not [k for k in v if k.endswith("/gamma")]  # no gamma, as released
    assert v["InceptionV4/Conv2d_1a_3x3/weights"] == [3, 3, 3, 32]
    assert v["InceptionV4/Mixed_4a/Branch_0/Conv2d_0a_1x1/weights"] == [1, 1, 160, 64]  # Mixed_3a: 160
    assert v["InceptionV4/Mixed_5b/Branch_0/Conv2d_0a_1x1/weights"] == [1, 1, 384, 96]  # Mixed_5a: 384
    assert v["InceptionV4/Mixed_6b/Branch_2/Conv2d_0e_1x7/weights"] == [1, 7, 224, 256]  # Mixed_6a: 1024
    assert v["InceptionV4/Mixed_6b/Branch_0/Conv2d_0a_1x1/weights"] == [1, 1, 1024, 384]
    assert v["InceptionV4/Mixed_7d/Branch_2/Conv2d_0e_3x1/weights"] == [3, 1, 512, 256]
    assert v["InceptionV4/Mixed_7b/Branch_3/Conv2d_0b_1x1/weights"] == [1, 1, 1536, 256]  # Mixed_7a: 1536
    assert v["InceptionV4/AuxLogits/Conv2d_1b_1x1/weights"] == [1, 1, 1024, 128]  # Mixed_6h: 1024
    assert v["InceptionV4/AuxLogits/Conv2d_2a/weights"] == [5, 5, 128, 768]
    assert v["InceptionV4/AuxLogits/Aux_logits/weights"] == [768, 1001]
    assert v["InceptionV4/Logits/Logits/weights"] == [1536, 1001] and v["InceptionV4/Logits/Logits/biases"] == [1001]
    trainable = {k: s for k, s in v.items() if not k.endswith(("/moving_mean", "/moving_variance"))}
    assert abs(_params(trainable, "InceptionV4/") - _params(trainable, "InceptionV4/AuxLogits") - 42.7e6) < 0.1e6

    v = nets.manifest(IRV2)["variables"]
    assert len(v) == 908 and not [k for k in v if k.endswith("/gamma")]
    assert v["InceptionResnetV2/Conv2d_4a_3x3/weights"] == [3, 3, 80, 192]
    assert v["InceptionResnetV2/Mixed_5b/Branch_1/Conv2d_0b_5x5/weights"] == [5, 5, 48, 64]
    # The residual 1x1 back to the block's input depth (Mixed_5b 320, Mixed_6a 1088, Mixed_7a 2080):
    # linear, so biases and no batch norm.
    for unit, depth_in, depth in (("Repeat/block35_1", 128, 320), ("Repeat/block35_10", 128, 320),
                                  ("Repeat_1/block17_20", 384, 1088), ("Repeat_2/block8_9", 448, 2080),
                                  ("Block8", 448, 2080)):
        assert v[f"InceptionResnetV2/{unit}/Conv2d_1x1/weights"] == [1, 1, depth_in, depth]
        assert v[f"InceptionResnetV2/{unit}/Conv2d_1x1/biases"] == [depth]
        assert f"InceptionResnetV2/{unit}/Conv2d_1x1/BatchNorm/beta" not in v
        assert f"InceptionResnetV2/{unit}/Branch_0/Conv2d_1x1/BatchNorm/beta" in v  # the branches' convs: BN
    assert "InceptionResnetV2/Repeat/block35_11/Conv2d_1x1/weights" not in v
    assert "InceptionResnetV2/Repeat_1/block17_21/Conv2d_1x1/weights" not in v
    assert "InceptionResnetV2/Repeat_2/block8_10/Conv2d_1x1/weights" not in v
    assert v["InceptionResnetV2/Conv2d_7b_1x1/weights"] == [1, 1, 2080, 1536]
    assert v["InceptionResnetV2/AuxLogits/Conv2d_1b_1x1/weights"] == [1, 1, 1088, 128]  # PreAuxLogits: 1088
    assert v["InceptionResnetV2/AuxLogits/Conv2d_2a_5x5/weights"] == [5, 5, 128, 768]
    assert v["InceptionResnetV2/AuxLogits/Logits/weights"] == [768, 1001]
    assert v["InceptionResnetV2/Logits/Logits/weights"] == [1536, 1001]
    trainable = {k: s for k, s in v.items() if not k.endswith(("/moving_mean", "/moving_variance"))}
    main = _params(trainable, "InceptionResnetV2/") - _params(trainable, "InceptionResnetV2/AuxLogits")
    assert abs(main - 55.8e6) < 0.1e6


@pytest.mark.parametrize("size", [299, 32])
@pytest.mark.parametrize("name", NETS)
def test_variables_equal_manifest(built, name, size):
    """The release's names and shapes at 299 and at 32 (the smallest supported size): there the
    aux head's 5x5 conv runs once over the zero-padded 1x1 map instead of being cut to 1x1."""
    b = built(name, size)
    assert_variables_equal_manifest(b, name, size)
    assert b["end_points"]["AuxLogits"].shape.as_list() == [2, 1001]


@pytest.mark.parametrize("name", NETS)
def test_end_points_are_slims(built, name):
    """slim's end points and research/slim's shapes at 299, plus the registry's PreLogits."""
    ep = built(name, 299)["end_points"]
    assert set(ep) == set(BASE_SHAPES[name]) | HEAD_END_POINTS | {nets.PENULTIMATE}
    for key, shape in BASE_SHAPES[name].items():
        assert ep[key].shape.as_list() == [2] + shape, key
    assert ep["global_pool"].shape.as_list() == [2, 1, 1, 1536]
    assert ep["PreLogitsFlatten"].shape.as_list() == [2, 1536]
    for key in ("AuxLogits", "Logits", "Predictions"):
        assert ep[key].shape.as_list() == [2, 1001], key
    assert ep["Predictions"].op.name == f"{SCOPE[name]}/Logits/Predictions"
    last = "Mixed_7d" if name == V4 else "Conv2d_7b_1x1"
    assert built(name, 32)["end_points"][last].shape.as_list() == [2, 1, 1, 1536]


@pytest.mark.parametrize("size", [299, 32])
@pytest.mark.parametrize("name", NETS)
def test_penultimate_is_the_classifier_input(built, name, size):
    """The fully connected classifier's input: slim's PreLogitsFlatten (after dropout)."""
    b = built(name, size)
    pre = b["end_points"][nets.PENULTIMATE]
    assert pre.shape.as_list() == [2, 1536]
    assert pre.name == b["end_points"]["PreLogitsFlatten"].name
    main = CLASSIFIERS[name][0]
    assert b["graph"].get_operation_by_name(f"{main}/MatMul").inputs[0].name == pre.name
    assert classifier_input(b["logits"], nets.get_info(name).prelogits_op).name == pre.name
    assert b["graph"].get_collection(penultimate_collection(name)) == [pre]
    assert restore.penultimate(b["graph"], name).name == pre.name


@pytest.mark.parametrize("name", NETS)
def test_aux_head_at_32_centres_the_release_kernel(built, name):
    """At 32x32 the aux head's input is 1x1: zero-padded to 5x5, the release's 5x5 conv sees the
    pixel under its centre tap only. Checked against NumPy in inference mode."""
    b = built(name, 32)
    aux, conv, fc = f"{SCOPE[name]}/AuxLogits", AUX_CONV[name], CLASSIFIERS[name][1]
    x = np.random.default_rng(2).uniform(-1, 1, [2, 32, 32, 3]).astype(np.float32)
    with b["graph"].as_default(), tf.Session() as sess:
        values = load_synthetic(sess)
        aux_in = b["graph"].get_tensor_by_name(f"{aux}/Conv2d_1b_1x1/Relu:0")
        feature, logits = sess.run([aux_in, b["end_points"]["AuxLogits"]], {b["images"]: x})
    assert feature.shape == (2, 1, 1, 128)
    h = feature[:, 0, 0] @ values[f"{conv}/weights"][2, 2]
    h = (h - values[f"{conv}/BatchNorm/moving_mean"]) / np.sqrt(values[f"{conv}/BatchNorm/moving_variance"] + 0.001)
    h = np.maximum(h + values[f"{conv}/BatchNorm/beta"], 0.0)
    expected = h @ values[f"{fc}/weights"] + values[f"{fc}/biases"]
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.fixture(scope="module")
def unknown_10():
    """Each net through the registry with 10 classes on images of unknown size, in inference mode:
    {'graph', 'logits', 'end_points', 'shapes'}. Its variables are those of a 10-class fine-tune at
    any size (the aux head keeps its release shapes), so the head tests below plan against them."""
    out = {}
    for name in NETS:
        graph = tf.Graph()
        with graph.as_default():
            logits, ep = nets.get_network_fn(name, 10)(tf.placeholder(tf.float32, [None, None, None, 3]))
            out[name] = {"graph": graph, "logits": logits, "end_points": ep,
                         "shapes": {v.op.name: v.shape.as_list() for v in tf.model_variables()}}
    return out


@pytest.mark.parametrize("name", NETS)
def test_registry_unknown_image_size_pools_both_heads(unknown_10, name):
    """With an unknown image size slim's main head averages globally ('global_pool'); the
    registry's aux head keeps its 5x5 conv and averages its output, so both give [B, C]; the
    variables are the release's with 10-class classifiers."""
    b, s = unknown_10[name], SCOPE[name]
    assert b["logits"].shape.as_list() == b["end_points"]["AuxLogits"].shape.as_list() == [None, 10]
    assert b["end_points"]["global_pool"].op.name == f"{s}/Logits/global_pool"
    assert f"{s}/AuxLogits/GlobalPool" in [op.name for op in b["graph"].get_operations()]
    expected = dict(nets.manifest(name)["variables"])
    for fc in CLASSIFIERS[name]:
        expected[f"{fc}/weights"] = expected[f"{fc}/weights"][:1] + [10]
        expected[f"{fc}/biases"] = [10]
    assert b["shapes"] == expected


# ---------------------------------------------------------------- slim's API

def _params_of(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]


def test_slim_signatures():
    empty, updates = inspect.Parameter.empty, tf.GraphKeys.UPDATE_OPS
    assert _params_of(inception_v4.inception_v4) == [
        ("inputs", empty), ("num_classes", 1001), ("is_training", True), ("dropout_keep_prob", 0.8), ("reuse", None),
        ("scope", "InceptionV4"), ("create_aux_logits", True), ("aux_release_shapes", False)]
    assert _params_of(inception_v4.inception_v4_base) == [
        ("inputs", empty), ("final_endpoint", "Mixed_7d"), ("scope", None)]
    for block in ("block_inception_a", "block_reduction_a", "block_inception_b", "block_reduction_b",
                  "block_inception_c"):
        assert _params_of(getattr(inception_v4, block)) == [("inputs", empty), ("scope", None), ("reuse", None)]
    # slim's inception_utils.inception_arg_scope (tlslim's adds two keyword options at the end).
    assert _params_of(inception_v4.inception_v4_arg_scope)[:7] == [
        ("weight_decay", 0.00004), ("use_batch_norm", True), ("batch_norm_decay", 0.9997),
        ("batch_norm_epsilon", 0.001), ("activation_fn", tf.nn.relu), ("batch_norm_updates_collections", updates),
        ("batch_norm_scale", False)]

    assert _params_of(inception_resnet_v2.inception_resnet_v2) == [
        ("inputs", empty), ("num_classes", 1001), ("is_training", True), ("dropout_keep_prob", 0.8), ("reuse", None),
        ("scope", "InceptionResnetV2"), ("create_aux_logits", True), ("activation_fn", tf.nn.relu),
        ("aux_release_shapes", False)]
    assert _params_of(inception_resnet_v2.inception_resnet_v2_base) == [
        ("inputs", empty), ("final_endpoint", "Conv2d_7b_1x1"), ("output_stride", 16), ("align_feature_maps", False),
        ("scope", None), ("activation_fn", tf.nn.relu)]
    assert _params_of(inception_resnet_v2.inception_resnet_v2_arg_scope) == [
        ("weight_decay", 0.00004), ("batch_norm_decay", 0.9997), ("batch_norm_epsilon", 0.001),
        ("activation_fn", tf.nn.relu), ("batch_norm_updates_collections", updates), ("batch_norm_scale", False)]
    for block in ("block35", "block17", "block8"):
        assert _params_of(getattr(inception_resnet_v2, block)) == [
            ("net", empty), ("scale", 1.0), ("activation_fn", tf.nn.relu), ("scope", None), ("reuse", None)]
    for fn in (inception_v4.inception_v4, inception_resnet_v2.inception_resnet_v2):
        assert inspect.signature(fn).parameters["aux_release_shapes"].kind == inspect.Parameter.KEYWORD_ONLY
        assert fn.default_image_size == 299


@pytest.mark.parametrize("name", NETS)
def test_slim_positional_call_and_options(graph, name):
    """slim's own call at 32x32: positional arguments in slim's order; the aux conv takes the whole
    (1x1) map as slim's does (not the release's 5x5: that is the registry's aux_release_shapes).
    Then, reusing those variables: num_classes None returns the pooled features without either
    classifier, and is_training (default True) makes every batch norm's updates;
    create_aux_logits=False drops the aux head."""
    images = tf.placeholder(tf.float32, [2, 32, 32, 3])
    s, build = SCOPE[name], BUILD[name]
    with slim.arg_scope(ARG_SCOPE[name]()):
        # inputs, num_classes, is_training, dropout_keep_prob, reuse, scope, create_aux_logits
        logits, ep = build(images, 7, False, 0.5, None, "Pos", True)
        assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []  # inference-mode batch norm
        assert logits.shape.as_list() == ep["AuxLogits"].shape.as_list() == [2, 7]
        assert set(ep) == set(BASE_SHAPES[name]) | HEAD_END_POINTS
        shapes = {v.op.name: v.shape.as_list() for v in tf.model_variables()}
        assert shapes[AUX_CONV[name].replace(s, "Pos") + "/weights"] == [1, 1, 128, 768]
        assert shapes[CLASSIFIERS[name][0].replace(s, "Pos") + "/weights"] == [1536, 7]

        features, ep = build(images, None, reuse=True, scope="Pos")
        assert features.shape.as_list() == [2, 1, 1, 1536] and "/Logits/AvgPool" in features.op.name
        assert set(ep) == set(BASE_SHAPES[name]) | {"global_pool"}
        n_bn = len([n for n in shapes if n.endswith("/moving_mean") and "/AuxLogits/" not in n])
        assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2 * n_bn

        if name == V4:  # the same switch in both nets; one more build of Inception-ResNet-v2 costs 5 s
            logits, ep = build(images, 7, is_training=False, reuse=True, scope="Pos", create_aux_logits=False)
            assert logits.shape.as_list() == [2, 7]
            assert set(ep) == set(BASE_SHAPES[name]) | HEAD_END_POINTS - {"AuxLogits"}
    assert len(tf.model_variables()) == len(shapes)  # reused, none added


def test_v4_base_options_and_errors(graph):
    images = tf.placeholder(tf.float32, [1, 299, 299, 3])
    with pytest.raises(ValueError, match="Unknown final endpoint Mixed_8a"):
        inception_v4.inception_v4_base(images, final_endpoint="Mixed_8a")
    net, ep = inception_v4.inception_v4_base(images, final_endpoint="Mixed_4a")
    assert list(ep) == list(V4_BASE_SHAPES)[:5]
    assert net.shape.as_list() == [1, 71, 71, 192] and net.op.name.startswith("InceptionV4/Mixed_4a")
    net = inception_v4.block_inception_a(tf.placeholder(tf.float32, [1, 35, 35, 384]))
    assert net.shape.as_list() == [1, 35, 35, 384] and net.op.name.startswith("BlockInceptionA/")


def test_irv2_base_options_and_errors(graph):
    images = tf.placeholder(tf.float32, [1, 299, 299, 3])
    base = inception_resnet_v2.inception_resnet_v2_base
    with pytest.raises(ValueError, match="output_stride must be 8 or 16"):
        base(images, output_stride=32)
    with pytest.raises(ValueError, match="not recognized"):
        base(images, final_endpoint="Mixed_8a")
    with pytest.raises(ValueError, match="output_stride==8 is only supported up to the PreAuxlogits"):
        base(images, final_endpoint="Mixed_7a", output_stride=8)
    net, ep = base(images, final_endpoint="Mixed_5b")
    assert list(ep) == list(IRV2_BASE_SHAPES)[:8] and net.shape.as_list() == [1, 35, 35, 320]
    # research/slim's shapes with aligned feature maps and with output_stride 8.
    _, ep = base(images, final_endpoint="Mixed_5b", align_feature_maps=True, scope="Aligned")
    assert ep["MaxPool_5a_3x3"].shape.as_list() == [1, 38, 38, 192] and ep["Mixed_5b"].shape.as_list()[1] == 38
    net, _ = base(images, final_endpoint="Mixed_6a", output_stride=8, scope="OS8")
    assert net.shape.as_list() == [1, 33, 33, 1088]


def test_irv2_blocks_and_relu6_clip(graph):
    """slim's residual rule: net + scale * linear 1x1 of the branches, then the activation; with
    relu6 the scaled residual is clipped to [-6, 6] first."""
    net = tf.placeholder(tf.float32, [1, 8, 8, 2080])
    out = inception_resnet_v2.block8(net, scale=0.2, activation_fn=tf.nn.relu6)
    assert out.shape.as_list() == [1, 8, 8, 2080] and out.op.type == "Relu6"
    add = out.op.inputs[0].op
    assert [t.op.name for t in add.inputs] == ["Placeholder", "Block8/clip_by_value"]
    out = inception_resnet_v2.block35(tf.placeholder(tf.float32, [1, 5, 5, 320]), activation_fn=None)
    assert out.op.type in ("AddV2", "Add") and out.op.name.startswith("Block35/")
    assert {v.op.name: v.shape.as_list() for v in tf.model_variables()}["Block35/Conv2d_1x1/biases"] == [320]


# ---------------------------------------------------------------- two heads

@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """SYNTHETIC checkpoints with the releases' names and shapes (1001 classes); TF's V2 format,
    quicker to write at this size than the releases' V1 (the format plays no part here)."""
    d = tmp_path_factory.mktemp("ckpt")
    return {name: checkpoints.write_net_checkpoint(name, str(d / nets.get_info(name).checkpoint_file), version=2)
            for name in NETS}


@pytest.mark.parametrize("name", NETS)
def test_exclude_auto_excludes_both_heads(release, unknown_10, name):
    """Both classifiers have 1001 outputs in the release: auto excludes the main head (its only
    variables are the fully connected layer's) and the aux head's fully connected layer (its
    convs keep their pretrained values)."""
    plan = restore.prepare_restore(release[name], exclude="auto", variables=unknown_10[name]["shapes"])
    expected = [f"{SCOPE[name]}/Logits", CLASSIFIERS[name][1]]
    assert sorted(plan.exclude) == sorted(plan.auto_excluded) == sorted(expected)
    assert plan.report.ok


@pytest.mark.parametrize("name", NETS)
def test_excluding_only_the_main_head_names_the_aux_head(release, unknown_10, name):
    aux = CLASSIFIERS[name][1]
    with pytest.raises(TlslimError) as err:
        restore.prepare_restore(release[name], exclude=f"{SCOPE[name]}/Logits", variables=unknown_10[name]["shapes"])
    message = str(err.value)
    assert "\n" not in message
    assert f"{aux}/weights is [768, 10] in the graph but [768, 1001]" in message
    assert f"use --exclude {SCOPE[name]}/Logits,{aux} " in message and "--exclude auto" in message
