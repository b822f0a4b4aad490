"""NASNet-A and PNASNet-5 (mobile and large): names and shapes against the release manifests at the
default size and at 32x32, research/slim's end points and their shapes, the release parameter
counts, the registry metadata of a net without an enclosing scope, slim's API, the aux head's
release kernel at 32x32 (NumPy), drop-path, and the two heads a fine-tune must exclude. Weights
and checkpoints here are SYNTHETIC (seeded random values, release names).
"""
import copy
import inspect

import numpy as np
import pytest

from tlslim import nets, restore, train
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError
from tlslim.layers import batch_norm
from tlslim.nets.nasnet import nasnet, nasnet_utils, pnasnet
from tlslim.nets.registry import classifier_input, penultimate_collection
from tlslim.scopes import in_scope
from tlslim.testing import checkpoints
from tlslim.testing.nets import assert_variables_equal_manifest, load_synthetic

NAMES = ["nasnet_mobile", "nasnet_large", "pnasnet_mobile", "pnasnet_large"]
AUX = {"nasnet_mobile": "aux_7", "nasnet_large": "aux_11", "pnasnet_mobile": "aux_5", "pnasnet_large": "aux_7"}
RELEASES = {"nasnet_mobile": "nasnet-a_mobile_04_10_2017.tar.gz", "nasnet_large": "nasnet-a_large_04_10_2017.tar.gz",
            "pnasnet_mobile": "pnasnet-5_mobile_2017_12_13.tar.gz",
            "pnasnet_large": "pnasnet-5_large_2017_12_13.tar.gz"}


def _cells(*groups):
    """{'Cell_<i>': [h, w, c]} for consecutive groups (count, size, channels) from Cell_0."""
    out, i = {}, 0
    for count, size, channels in groups:
        for _ in range(count):
            out[f"Cell_{i}"] = [size, size, channels]
            i += 1
    return out


# research/slim's nasnet_test.py / pnasnet_test.py: the end points (training mode, 1000 classes)
# and their shapes without the batch dimension at the default size.
SLIM_END_POINTS = {
    "nasnet_mobile": {"Stem": [28, 28, 88], **_cells((4, 28, 264), (4, 14, 528), (4, 7, 1056)),
                      "Reduction_Cell_0": [14, 14, 352], "Reduction_Cell_1": [7, 7, 704], "global_pool": [1056]},
    "nasnet_large": {"Stem": [42, 42, 336], **_cells((6, 42, 1008), (6, 21, 2016), (6, 11, 4032)),
                     "Reduction_Cell_0": [21, 21, 1344], "Reduction_Cell_1": [11, 11, 2688], "global_pool": [4032]},
    "pnasnet_mobile": {"Stem": [28, 28, 135], **_cells((3, 28, 270), (3, 14, 540), (3, 7, 1080)),
                       "global_pool": [1080]},
    "pnasnet_large": {"Stem": [42, 42, 540], **_cells((4, 42, 1080), (4, 21, 2160), (4, 11, 4320)),
                      "global_pool": [4320]},
}
HEADS = ("AuxLogits", "Logits", "Predictions")


def _size(name, size):
    return nets.get_info(name).default_image_size if size == "default" else size


@pytest.mark.parametrize("size", ["default", 32])
@pytest.mark.parametrize("name", NAMES)
def test_variables_equal_manifest(built, name, size):
    """The release's names and shapes (aux head included, in inference mode too) at the release
    size and at 32x32, where the aux head's conv runs once over its zero-padded 1x1 map."""
    b = built(name, _size(name, size))
    assert_variables_equal_manifest(b, name, _size(name, size))
    ep = b["end_points"]
    assert ep["AuxLogits"].shape.as_list() == [2, 1001]
    assert set(ep) == set(SLIM_END_POINTS[name]) | set(HEADS) | {nets.PENULTIMATE}
    if size == "default":
        for key, shape in SLIM_END_POINTS[name].items():
            assert ep[key].shape.as_list() == [2] + shape, key
    else:
        last = [k for k in SLIM_END_POINTS[name] if k.startswith("Cell_")][-1]
        assert ep[last].shape.as_list()[:3] == [2, 1, 1]


def test_manifest_spot_checks():
    m = {name: nets.manifest(name)["variables"] for name in NAMES}
    assert [len(m[n]) for n in NAMES] == [1138, 1558, 945, 1191]
    assert m["nasnet_mobile"]["conv0/weights"] == [3, 3, 3, 32] and m["nasnet_large"]["conv0/weights"] == [3, 3, 3, 96]
    # The aux head's conv spans the map its 5x5/3 pool leaves: 14x14 -> 4x4 at 224, 21x21 -> 6x6 at 331.
    for name, kernel, width in (("nasnet_mobile", 4, 528), ("nasnet_large", 6, 2016), ("pnasnet_mobile", 4, 540),
                                ("pnasnet_large", 6, 2160)):
        aux = f"{AUX[name]}/aux_logits"
        assert m[name][f"{aux}/proj/weights"] == [1, 1, width, 128]
        assert m[name][f"{aux}/Conv/weights"] == [kernel, kernel, 128, 768]
        assert m[name][f"{aux}/FC/weights"] == [768, 1001]
    assert m["nasnet_mobile"]["final_layer/FC/weights"] == [1056, 1001]
    assert m["pnasnet_large"]["final_layer/FC/biases"] == [1001]
    # cell_stem_1 of PNASNet mobile is 27 wide: its factorized reduction splits 13 + 14.
    assert m["pnasnet_mobile"]["cell_stem_1/path1_conv/weights"] == [1, 1, 32, 13]
    assert m["pnasnet_mobile"]["cell_stem_1/path2_conv/weights"] == [1, 1, 32, 14]
    # A cell's input goes through a 1x1 conv to the cell's width (NASNet-A large, cell_7: 2016 -> 336).
    assert m["nasnet_large"]["cell_7/1x1/weights"] == [1, 1, 2016, 336]
    assert m["nasnet_large"]["cell_7/comb_iter_0/left/separable_5x5_1/depthwise_weights"] == [5, 5, 336, 1]
    assert m["nasnet_large"]["cell_7/comb_iter_0/left/separable_5x5_2/pointwise_weights"] == [1, 1, 336, 336]
    assert not [k for k in m["nasnet_mobile"] if k.endswith("/biases") and "/FC/" not in k]


def test_release_parameter_counts():
    """research/slim's READMEs give the releases' size in millions of parameters (NASNet-A 5.3 and
    88.9, PNASNet-5 5.1 and 86.1, without the aux head); NASNet-A's exact counts at 1000 classes,
    moving statistics included, are Keras applications' NASNetMobile and NASNetLarge (converted
    from these releases): 5,326,716 and 88,949,818."""
    for name, millions in (("nasnet_mobile", 5.3), ("nasnet_large", 88.9), ("pnasnet_mobile", 5.1),
                           ("pnasnet_large", 86.1)):
        v = nets.manifest(name)["variables"]
        count = sum(int(np.prod(s)) for k, s in v.items()
                    if not k.startswith(AUX[name]) and not k.endswith(("/moving_mean", "/moving_variance")))
        assert abs(count / 1e6 - millions) < 0.15, (name, count)
        if name.startswith("nasnet"):
            total = sum(int(np.prod(s)) for k, s in v.items() if not k.startswith(AUX[name]))
            features = v["final_layer/FC/weights"][0]
            assert total - features - 1 == {"nasnet_mobile": 5326716, "nasnet_large": 88949818}[name]


def _expected_blocks(name):
    cells, reductions, aux = {"nasnet_mobile": (12, (4, 8), 7), "nasnet_large": (18, (6, 12), 11),
                              "pnasnet_mobile": (9, (3, 6), 5), "pnasnet_large": (12, (4, 8), 7)}[name]
    blocks = ["conv0", "conv0_bn", "cell_stem_0", "cell_stem_1"]
    for i in range(cells):
        if i in reductions and name.startswith("nasnet"):
            blocks.append(f"reduction_cell_{reductions.index(i)}")
        blocks.append(f"cell_{i}")
        if i == aux:
            blocks.append(f"aux_{i}")
    return blocks + ["final_layer"]


@pytest.mark.parametrize("name", NAMES)
def test_registry_metadata_and_blocks_partition_manifest(name):
    info = nets.get_info(name)
    m = nets.manifest(name)
    large = name.endswith("large")
    # No enclosing scope: the head is 'final_layer', the aux head 'aux_<i>'.
    assert (info.scope, info.head_scope, info.aux_scopes, info.prelogits_op) == ("", "final_layer", (AUX[name],),
                                                                                 "FC/MatMul")
    assert info.num_classes == m["num_classes"] == 1001
    assert (info.default_image_size, info.min_image_size, info.preprocessing) == (331 if large else 224, 32,
                                                                                  "inception")
    assert (info.checkpoint_tarball, info.checkpoint_file) == (RELEASES[name], "model.ckpt")
    assert info.checkpoint_url == "http://download.tensorflow.org/models/" + RELEASES[name]
    assert list(info.blocks) == _expected_blocks(name) and info.blocks[-1] == info.head_scope
    for var in m["variables"]:
        owners = [b for b in info.blocks if var.startswith(b + "/")]
        assert len(owners) == 1, (var, owners)


def test_penultimate_is_the_classifier_input(built):
    b = built("nasnet_mobile", 224)
    pre = b["end_points"][nets.PENULTIMATE]
    assert pre.shape.as_list() == [2, 1056]
    assert b["graph"].get_operation_by_name("final_layer/FC/MatMul").inputs[0].name == pre.name
    assert classifier_input(b["logits"], "FC/MatMul").name == pre.name
    assert b["graph"].get_collection(penultimate_collection("nasnet_mobile")) == [pre]
    # In inference mode dropout is an identity of the global mean.
    assert pre.op.type == "Identity" and pre.op.inputs[0].name == b["end_points"]["global_pool"].name
    assert restore.penultimate(b["graph"], "nasnet_mobile").name == pre.name


def test_aux_head_at_32_centres_the_release_kernel(built):
    """At 32x32 the aux head's map is 2x2: pooled once (window cut to 2x2), projected, zero-padded
    to 4x4 (one row and column before, two after) for the release's 4x4 conv, which so sees the
    pixel under its tap [1, 1] only. Checked against NumPy in inference mode."""
    b = built("nasnet_mobile", 32)
    aux = "aux_7/aux_logits"
    x = np.random.default_rng(3).uniform(-1, 1, [2, 32, 32, 3]).astype(np.float32)
    with b["graph"].as_default(), tf.Session() as sess:
        values = load_synthetic(sess)
        cell, out = sess.run([b["end_points"]["Cell_7"], b["end_points"]["AuxLogits"]], {b["images"]: x})
    assert cell.shape == (2, 2, 2, 528)

    def bn(h, scope):
        p = {k: values[f"{aux}/{scope}/{k}"] for k in ("beta", "gamma", "moving_mean", "moving_variance")}
        return (h - p["moving_mean"]) / np.sqrt(p["moving_variance"] + 1e-3) * p["gamma"] + p["beta"]

    h = np.maximum(cell, 0).mean(axis=(1, 2))
    h = np.maximum(bn(h @ values[f"{aux}/proj/weights"][0, 0], "aux_bn0"), 0)
    h = np.maximum(bn(h @ values[f"{aux}/Conv/weights"][1, 1], "aux_bn1"), 0)
    expected = h @ values[f"{aux}/FC/weights"] + values[f"{aux}/FC/biases"]
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


# ---------------------------------------------------------------- slim's API

def _params(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]


def test_slim_signatures():
    empty = inspect.Parameter.empty
    imagenet = [("images", empty), ("num_classes", empty), ("is_training", True), ("final_endpoint", None),
                ("config", None)]
    for fn in (nasnet.build_nasnet_mobile, nasnet.build_nasnet_large):
        assert _params(fn) == imagenet + [("current_step", None), ("aux_release_shapes", False)]
    for fn in (pnasnet.build_pnasnet_mobile, pnasnet.build_pnasnet_large):
        assert _params(fn) == imagenet + [("aux_release_shapes", False)]
    for fn in (nasnet.build_nasnet_mobile, pnasnet.build_pnasnet_large):
        assert inspect.signature(fn).parameters["aux_release_shapes"].kind == inspect.Parameter.KEYWORD_ONLY
    assert _params(nasnet.build_nasnet_cifar) == [("images", empty), ("num_classes", empty), ("is_training", True),
                                                  ("config", None), ("current_step", None)]
    scopes = {nasnet.nasnet_cifar_arg_scope: (5e-4, 0.9, 1e-5), nasnet.nasnet_mobile_arg_scope: (4e-5, 0.9997, 1e-3),
              nasnet.nasnet_large_arg_scope: (5e-5, 0.9997, 1e-3),
              pnasnet.pnasnet_mobile_arg_scope: (4e-5, 0.9997, 0.001),
              pnasnet.pnasnet_large_arg_scope: (4e-5, 0.9997, 0.001)}
    for fn, defaults in scopes.items():
        assert _params(fn) == list(zip(("weight_decay", "batch_norm_decay", "batch_norm_epsilon"), defaults))
    sizes = [f.default_image_size for f in (nasnet.build_nasnet_cifar, nasnet.build_nasnet_mobile,
                                           nasnet.build_nasnet_large, pnasnet.build_pnasnet_mobile,
                                           pnasnet.build_pnasnet_large)]
    assert sizes == [32, 224, 331, 224, 331]
    assert _params(nasnet_utils.NasNetABaseCell.__call__) == [
        ("self", empty), ("net", empty), ("scope", None), ("filter_scaling", 1), ("stride", 1), ("prev_layer", None),
        ("cell_num", -1), ("current_step", None)]


def test_configs_are_slims():
    common = {"filter_scaling_rate": 2.0, "use_aux_head": 1, "num_reduction_layers": 2, "data_format": "NHWC",
              "use_bounded_activation": False}
    expected = {
        nasnet.cifar_config: dict(stem_multiplier=3.0, drop_path_keep_prob=0.6, num_cells=18, num_conv_filters=32,
                                  dense_dropout_keep_prob=1.0, skip_reduction_layer_input=0,
                                  total_training_steps=937500),
        nasnet.large_imagenet_config: dict(stem_multiplier=3.0, dense_dropout_keep_prob=0.5, num_cells=18,
                                           num_conv_filters=168, drop_path_keep_prob=0.7,
                                           skip_reduction_layer_input=1, total_training_steps=250000),
        nasnet.mobile_imagenet_config: dict(stem_multiplier=1.0, dense_dropout_keep_prob=0.5, num_cells=12,
                                            drop_path_keep_prob=1.0, num_conv_filters=44,
                                            skip_reduction_layer_input=0, total_training_steps=250000),
        pnasnet.large_imagenet_config: dict(stem_multiplier=3.0, dense_dropout_keep_prob=0.5, num_cells=12,
                                            num_conv_filters=216, drop_path_keep_prob=0.6,
                                            skip_reduction_layer_input=1, total_training_steps=250000),
        pnasnet.mobile_imagenet_config: dict(stem_multiplier=1.0, dense_dropout_keep_prob=0.5, num_cells=9,
                                             num_conv_filters=54, drop_path_keep_prob=1.0,
                                             skip_reduction_layer_input=1, total_training_steps=250000),
    }
    for fn, values in expected.items():
        assert fn().values() == {**common, **values}, fn


def test_hparams_stand_in():
    config = nasnet.mobile_imagenet_config()
    copied = copy.deepcopy(config)
    config.set_hparam("use_aux_head", int(False))
    config.set_hparam("drop_path_keep_prob", 1)  # an int into a float: allowed, made a float
    assert config.use_aux_head == 0 and copied.use_aux_head == 1
    assert isinstance(config.drop_path_keep_prob, float)
    assert "num_cells" in config and config.get("nope", 7) == 7
    with pytest.raises(KeyError):
        config.set_hparam("nope", 1)
    for name, bad in (("num_cells", 2.5), ("use_bounded_activation", 1), ("data_format", 3), ("stem_multiplier", "x")):
        with pytest.raises(ValueError, match="Could not cast hparam"):
            config.set_hparam(name, bad)
    config.add_hparam("extra", 1)
    with pytest.raises(ValueError):
        config.add_hparam("extra", 2)


def test_reduction_layers_and_channel_helpers(graph):
    assert nasnet_utils.calc_reduction_layers(18, 2) == [6, 12]
    assert nasnet_utils.calc_reduction_layers(12, 2) == [4, 8]
    assert nasnet_utils.calc_reduction_layers(9, 2) == [3, 6]
    assert [nasnet_utils.get_channel_index(f) for f in ("NHWC", "NCHW")] == [3, 1]
    assert [nasnet_utils.get_channel_dim([10, 20, 30, 40], f) for f in ("NHWC", "NCHW")] == [40, 20]
    x = tf.placeholder(tf.float32, (5, 10, 20, 10))
    assert [nasnet_utils.global_avg_pool(x, f).shape.as_list() for f in ("NHWC", "NCHW")] == [[5, 10], [5, 10]]
    with pytest.raises(ValueError, match="data_format"):
        nasnet_utils.get_channel_index()


def test_factorized_reduction_against_numpy(graph):
    """Stride 2: a 1x1 conv on the even positions and one on the odd positions (the map shifted by
    one, zero at the end), concatenated and batch-normalized; an odd width gives the shifted path
    the extra channel. Inference mode."""
    x = np.random.default_rng(4).normal(size=(2, 5, 5, 6)).astype(np.float32)
    with slim.arg_scope([slim.conv2d], activation_fn=None, biases_initializer=None):
        with slim.arg_scope([batch_norm], is_training=False):
            out = nasnet_utils.factorized_reduction(tf.constant(x), 7, 2, data_format="NHWC")
    assert out.shape.as_list() == [2, 3, 3, 7]
    with tf.Session() as sess:
        v = load_synthetic(sess)
        got = sess.run(out)
    even = x[:, ::2, ::2] @ v["path1_conv/weights"][0, 0]
    shifted = np.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:]
    odd = shifted[:, ::2, ::2] @ v["path2_conv/weights"][0, 0]
    assert v["path1_conv/weights"].shape[-1] == 3 and v["path2_conv/weights"].shape[-1] == 4
    h = np.concatenate([even, odd], -1)
    expected = (h - v["final_path_bn/moving_mean"]) / np.sqrt(v["final_path_bn/moving_variance"] + 1e-3) \
        + v["final_path_bn/beta"]  # batch_norm's default: no gamma
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_drop_path_keep_probability_and_tensor_is_training(graph):
    """Keep probability falls with depth and with training progress (v3): cell 9 of 20 at step 50
    of 100 with drop_path_keep_prob 0.7 keeps 1 - 0.5 * 0.5 * 0.3 = 0.925. A tensor is_training
    drops only where it is true."""
    cell = nasnet_utils.NasNetANormalCell(44, 0.7, total_num_cells=20, total_training_steps=100)
    cell._cell_num = 9
    x = tf.ones([400, 1, 1, 2])
    training = tf.placeholder_with_default(True, [])
    with slim.arg_scope([nasnet_utils.drop_path], is_training=training):
        dropped = cell._apply_drop_path(x, current_step=tf.constant(50))
    assert tf.global_variables() == []  # current_step given: no global step
    with tf.Session() as sess:
        on, off = sess.run(dropped), sess.run(dropped, {training: False})
    np.testing.assert_array_equal(off, np.ones([400, 1, 1, 2]))
    np.testing.assert_allclose(np.unique(on), [0.0, 1 / 0.925], rtol=1e-6)
    assert 0.85 < (on[:, 0, 0, 0] > 0).mean() < 0.99
    assert (on[:, 0, 0, 0] == on[:, 0, 0, 1]).all()  # whole examples


def test_slim_call_aux_head_and_drop_path_only_in_training(graph):
    """slim's meaning without aux_release_shapes: inference builds no aux head and no drop-path
    (so no global step); training builds the aux head (at 32x32 its pool window and conv kernel
    follow the 1x1 map) and drop-path, which creates the global step where slim does. Without
    classes the net ends at the global mean."""
    images = tf.placeholder(tf.float32, [2, 32, 32, 3])
    config = pnasnet.mobile_imagenet_config()
    config.set_hparam("drop_path_keep_prob", 0.5)
    with slim.arg_scope(pnasnet.pnasnet_mobile_arg_scope()):
        with tf.variable_scope("infer"):
            features, ep = pnasnet.build_pnasnet_mobile(images, None, is_training=False, config=config)
        assert features.op.name == "infer/final_layer/Mean" and features.shape.as_list() == [2, 1080]
        assert not {"AuxLogits", "Logits", "Predictions"} & set(ep)
        assert set(tf.global_variables()) == set(tf.model_variables())
        assert config.drop_path_keep_prob == 0.5  # the builder changed its own copy
        with tf.variable_scope("train"):
            logits, ep = pnasnet.build_pnasnet_mobile(images, 10, config=config)
    assert logits.shape.as_list() == ep["AuxLogits"].shape.as_list() == [2, 10]
    shapes = {v.op.name: v.shape.as_list() for v in tf.model_variables()}
    assert shapes["train/aux_5/aux_logits/Conv/weights"] == [1, 1, 128, 768]
    assert not [n for n in shapes if n.startswith("infer/aux_5")]
    assert {v.op.name for v in tf.global_variables()} - set(shapes) == {"train/cell_stem_0/comb_iter_0/left/global_step"}


def test_slim_final_endpoint(graph):
    images = tf.placeholder(tf.float32, [2, 32, 32, 3])
    with slim.arg_scope(nasnet.nasnet_mobile_arg_scope()):
        net, ep = nasnet.build_nasnet_mobile(images, 10, is_training=False, final_endpoint="Reduction_Cell_0")
    assert list(ep) == ["Stem", "Cell_0", "Cell_1", "Cell_2", "Cell_3", "Reduction_Cell_0"]
    assert net.shape.as_list() == [2, 2, 2, 352]
    assert not [v for v in tf.model_variables() if v.op.name.startswith("cell_4/")]


# ---------------------------------------------------------------- two heads

NAME = "nasnet_mobile"
AUX_CLASSIFIER = "aux_7/aux_logits/FC"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A SYNTHETIC checkpoint with the release's names and shapes (1001 classes)."""
    return checkpoints.write_net_checkpoint(NAME, str(tmp_path_factory.mktemp("ckpt") / "model.ckpt"))


@pytest.fixture(scope="module")
def shapes_10():
    """{name: shape} of a 10-class nasnet_mobile at 32x32 (what a fine-tune plans against)."""
    return train.plan.variable_shapes(NAME, 10, 32)


def test_exclude_auto_excludes_both_heads(release, shapes_10):
    """Both classifiers have 1001 outputs in the release: auto excludes each one's 'FC' (the aux
    head's convs keep their pretrained values)."""
    plan = restore.prepare_restore(release, exclude="auto", variables=shapes_10)
    assert sorted(plan.exclude) == sorted(plan.auto_excluded) == [AUX_CLASSIFIER, "final_layer"]
    assert plan.report.ok


def test_excluding_only_the_main_head_names_the_aux_head(release, shapes_10):
    with pytest.raises(TlslimError) as err:
        restore.prepare_restore(release, exclude="final_layer", variables=shapes_10)
    message = str(err.value)
    assert "\n" not in message
    assert f"{AUX_CLASSIFIER}/weights is [768, 10] in the graph but [768, 1001]" in message
    assert f"use --exclude final_layer,{AUX_CLASSIFIER} " in message


def test_head_and_top_strategies_use_the_blocks(release, tmp_path):
    """`top 1` trains the two excluded classifiers and the last cell (the aux head's other layers
    sit after cell_7, far below the top block)."""
    base = dict(model=NAME, checkpoint_path=release, dataset="synthetic", image_size=32, exclude="auto",
                train_dir=str(tmp_path / "run"))
    plan = train.make_plan(train.check_config(train.TrainConfig(**base, strategy="top", unfreeze=1)), 10, 32)
    assert sorted(plan.exclude) == [AUX_CLASSIFIER, "final_layer"]
    assert plan.groups == [(plan.exclude + ["cell_11"], 1.0)]


def test_all_strategy_and_identify_cover_a_net_without_a_scope(release, shapes_10, tmp_path):
    """NASNet's variables sit under top-level cell scopes, not under one net scope: `all` trains
    every one of them, and a checkpoint is recognised by those scopes."""
    info = nets.get_info(NAME)
    assert info.scope == "" and info.scopes == info.blocks
    base = dict(model=NAME, checkpoint_path=release, dataset="synthetic", image_size=32, exclude="auto",
                train_dir=str(tmp_path / "run"))
    plan = train.make_plan(train.check_config(train.TrainConfig(**base, strategy="all")), 10, 32)
    assert plan.groups == [(list(info.blocks), 1.0)]
    assert all(in_scope(v, plan.trainable_scopes) for v in shapes_10)
    assert restore.identify_net(release) == [NAME]
    with pytest.raises(TlslimError, match=f"it looks like a {NAME} checkpoint"):
        restore.verify_checkpoint(release, "vgg_16")
