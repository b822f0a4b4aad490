"""Inception v3: names and shapes against the release manifest (299, 32), one numeric comparison
with tf_slim's own inception_v3 (logits and AuxLogits), slim's API, and the two heads a fine-tune
must exclude. Weights and checkpoints here are SYNTHETIC (seeded random values, release names).
"""
import inspect

import numpy as np
import pytest

from tlslim import nets, restore, train
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError
from tlslim.layers import batch_norm
from tlslim.nets import inception_v3
from tlslim.nets.registry import classifier_input, penultimate_collection
from tlslim.testing import checkpoints
from tlslim.testing.nets import assert_matches_reference, load_synthetic, n_batch_norms

NAME = "inception_v3"
HEAD, AUX = "InceptionV3/Logits", "InceptionV3/AuxLogits"
AUX_CLASSIFIER = AUX + "/Conv2d_2b_1x1"
BASE = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_3a_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
        "MaxPool_5a_3x3", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
        "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]


@pytest.fixture(scope="module")
def built():
    """get_network_fn(NAME, 1001) at a size, inference mode, built once per module."""
    cache = {}

    def get(size):
        if size not in cache:
            graph = tf.Graph()
            with graph.as_default():
                images = tf.placeholder(tf.float32, [2, size, size, 3])
                logits, end_points = nets.get_network_fn(NAME, 1001)(images)
                cache[size] = {
                    "graph": graph, "images": images, "logits": logits, "end_points": end_points,
                    "shapes": {v.op.name: v.shape.as_list() for v in tf.model_variables()},
                    "only_model": set(tf.global_variables()) == set(tf.model_variables()),
                    "collection": tf.get_collection(penultimate_collection(NAME)),
                    "update_ops": tf.get_collection(tf.GraphKeys.UPDATE_OPS)}
        return cache[size]
    return get


def test_registry_info_and_blocks_partition_manifest():
    info = nets.get_info(NAME)
    m = nets.manifest(NAME)
    assert (info.scope, info.head_scope, info.prelogits_op) == ("InceptionV3", HEAD, "Logits/Conv2d_1c_1x1/Conv2D")
    assert info.num_classes == m["num_classes"] == 1001
    assert (info.default_image_size, info.min_image_size, info.preprocessing) == (299, 32, "inception")
    assert info.checkpoint_tarball == "inception_v3_2016_08_28.tar.gz" and info.checkpoint_file == "inception_v3.ckpt"
    assert info.checkpoint_url == "http://download.tensorflow.org/models/inception_v3_2016_08_28.tar.gz"
    convs = [n for n in BASE if not n.startswith("MaxPool")]
    expected = convs[:convs.index("Mixed_6e") + 1] + ["AuxLogits"] + ["Mixed_7a", "Mixed_7b", "Mixed_7c", "Logits"]
    assert list(info.blocks) == [f"InceptionV3/{b}" for b in expected]
    for var in m["variables"]:
        owners = [b for b in info.blocks if var.startswith(b + "/")]
        assert len(owners) == 1, (var, owners)


def test_manifest_spot_checks():
    v = nets.manifest(NAME)["variables"]
    assert len(v) == 388
    assert v["InceptionV3/Conv2d_1a_3x3/weights"] == [3, 3, 3, 32]
    assert v["InceptionV3/Mixed_5c/Branch_1/Conv_1_0c_5x5/weights"] == [5, 5, 48, 64]  # the release's odd name
    assert v["InceptionV3/Mixed_7b/Branch_1/Conv2d_0b_3x1/weights"] == [3, 1, 384, 384]
    assert v["InceptionV3/Mixed_7c/Branch_1/Conv2d_0c_3x1/weights"] == [3, 1, 384, 384]
    assert v[f"{AUX}/Conv2d_2a_5x5/weights"] == [5, 5, 128, 768]
    assert v[f"{AUX_CLASSIFIER}/weights"] == [1, 1, 768, 1001] and v[f"{AUX_CLASSIFIER}/biases"] == [1001]
    assert v[f"{HEAD}/Conv2d_1c_1x1/weights"] == [1, 1, 2048, 1001]
    assert not [k for k in v if k.endswith("/gamma")]  # batch norm without scale, as released
    # tf_slim's test: the base's model variables (moving statistics included) hold 21,802,784 values.
    base = sum(int(np.prod(s)) for k, s in v.items() if not k.startswith((AUX, HEAD)))
    assert base == 21802784


@pytest.mark.parametrize("size", [299, 32])
def test_variables_equal_manifest(built, size):
    """The release's names and shapes at 299 and at 32 (the smallest supported size): there the
    aux head's 5x5 conv runs once over the zero-padded 1x1 map instead of being cut to 1x1."""
    b = built(size)
    assert b["shapes"] == nets.manifest(NAME)["variables"]
    assert b["only_model"] and b["update_ops"] == []
    ep = b["end_points"]
    assert b["logits"].shape.as_list() == ep["AuxLogits"].shape.as_list() == [2, 1001]
    last = 8 if size == 299 else 1
    assert ep["Mixed_7c"].shape.as_list() == [2, last, last, 2048]
    assert set(ep) == set(BASE) | {"AuxLogits", "PreLogits", "Logits", "Predictions"}


def test_aux_head_at_32_centres_the_release_kernel(built):
    """At 32x32 the aux head's input is 1x1: zero-padded to 5x5, the release's 5x5 conv sees the
    pixel under its centre tap only. Checked against NumPy in inference mode."""
    b = built(32)
    x = np.random.default_rng(2).uniform(-1, 1, [2, 32, 32, 3]).astype(np.float32)
    with b["graph"].as_default(), tf.Session() as sess:
        values = load_synthetic(sess)
        aux_in = b["graph"].get_tensor_by_name(f"{AUX}/Conv2d_1b_1x1/Relu:0")
        feature, aux = sess.run([aux_in, b["end_points"]["AuxLogits"]], {b["images"]: x})
    assert feature.shape == (2, 1, 1, 128)
    conv = f"{AUX}/Conv2d_2a_5x5"
    h = feature[:, 0, 0] @ values[f"{conv}/weights"][2, 2]
    h = (h - values[f"{conv}/BatchNorm/moving_mean"]) / np.sqrt(values[f"{conv}/BatchNorm/moving_variance"] + 0.001)
    h = np.maximum(h + values[f"{conv}/BatchNorm/beta"], 0.0)
    expected = h @ values[f"{AUX_CLASSIFIER}/weights"][0, 0] + values[f"{AUX_CLASSIFIER}/biases"]
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(aux, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_penultimate_is_the_classifier_input(built):
    b = built(299)
    pre = b["end_points"][nets.PENULTIMATE]
    assert pre.shape.as_list() == [2, 1, 1, 2048]
    assert classifier_input(b["logits"], nets.get_info(NAME).prelogits_op).name == pre.name
    assert b["collection"] == [pre]


def test_registry_above_299_pools_globally(graph):
    """Above 299 slim's fixed windows leave maps larger than 1x1; the registry averages both heads."""
    images = tf.placeholder(tf.float32, [1, 400, 400, 3])
    logits, ep = nets.get_network_fn(NAME, 5)(images)
    assert logits.shape.as_list() == ep["AuxLogits"].shape.as_list() == [1, 5]
    assert "global_pool" in ep and ep["Mixed_7c"].shape.as_list() == [1, 11, 11, 2048]


def test_equals_tf_slim_at_299():
    """Same synthetic weights, same 299x299 inputs: the logits and the AuxLogits equal tf_slim's
    inception_v3's in inference and training mode (dropout off)."""
    from tf_slim.nets import inception_v3 as slim_inception

    def both(logits, end_points):
        return tf.concat([logits, end_points["AuxLogits"]], 1), end_points

    def ours(images, train):
        return both(*nets.get_network_fn(NAME, 1001, is_training=train, dropout_keep_prob=1.0)(images))

    def theirs(images, train):
        with slim.arg_scope(slim_inception.inception_v3_arg_scope(weight_decay=0.0)):
            with slim.arg_scope([slim.conv2d], normalizer_fn=batch_norm):
                with slim.arg_scope([batch_norm], is_training=train):
                    return both(*slim_inception.inception_v3(images, 1001, is_training=train, dropout_keep_prob=1.0))

    assert_matches_reference(ours, theirs, 299, n_batch_norms(NAME))


# ---------------------------------------------------------------- slim's API

def _params(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]


def test_slim_signatures():
    empty = inspect.Parameter.empty
    assert _params(inception_v3.inception_v3) == [
        ("inputs", empty), ("num_classes", 1000), ("is_training", True), ("dropout_keep_prob", 0.8),
        ("min_depth", 16), ("depth_multiplier", 1.0), ("prediction_fn", slim.softmax), ("spatial_squeeze", True),
        ("reuse", None), ("create_aux_logits", True), ("scope", "InceptionV3"), ("global_pool", False),
        ("aux_release_shapes", False)]
    assert inspect.signature(inception_v3.inception_v3).parameters["aux_release_shapes"].kind \
        == inspect.Parameter.KEYWORD_ONLY
    assert _params(inception_v3.inception_v3_base) == [
        ("inputs", empty), ("final_endpoint", "Mixed_7c"), ("min_depth", 16), ("depth_multiplier", 1.0),
        ("scope", None)]
    assert _params(inception_v3.inception_v3_arg_scope) == [
        ("weight_decay", 0.00004), ("batch_norm_var_collection", "moving_vars"), ("batch_norm_decay", 0.9997),
        ("batch_norm_epsilon", 0.001), ("updates_collections", tf.GraphKeys.UPDATE_OPS),
        ("use_fused_batchnorm", True)]
    assert inception_v3.inception_v3.default_image_size == 299


def _slim_build(module, size, *args, **kwargs):
    """module.inception_v3 under its arg scope (tlslim's batch norm for tf_slim's) in a fresh graph."""
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [2, size, size, 3])
        with slim.arg_scope(module.inception_v3_arg_scope()):
            with slim.arg_scope([slim.conv2d], normalizer_fn=batch_norm):
                logits, end_points = module.inception_v3(images, *args, **kwargs)
        return {"logits": logits, "end_points": {k: v.shape.as_list() for k, v in end_points.items()},
                "shapes": {v.op.name: v.shape.as_list() for v in tf.model_variables()},
                "updates": len(tf.get_collection(tf.GraphKeys.UPDATE_OPS))}


def test_slim_call_equals_tf_slim_at_150():
    """The plain slim call (is_training defaults to True) at 150x150, where tf_slim cuts the aux
    head's conv to 1x1: slim's meaning wins, so the variables, the end points and their shapes are
    tf_slim's (not the release's; that is the registry's aux_release_shapes)."""
    from tf_slim.nets import inception_v3 as slim_inception
    ours, theirs = _slim_build(inception_v3, 150, 10), _slim_build(slim_inception, 150, 10)
    assert ours["shapes"] == theirs["shapes"]
    assert f"{AUX}/Conv2d_2a_1x1/weights" in ours["shapes"]
    assert ours["end_points"] == theirs["end_points"]
    assert ours["updates"] == theirs["updates"] > 0


def test_slim_positional_call_and_options(graph):
    images = tf.placeholder(tf.float32, [2, 32, 32, 3])
    with slim.arg_scope(inception_v3.inception_v3_arg_scope()):
        # inputs, num_classes, is_training, dropout_keep_prob, min_depth, depth_multiplier,
        # prediction_fn, spatial_squeeze
        logits, ep = inception_v3.inception_v3(images, 7, False, 0.5, 16, 0.5, slim.softmax, False)
        assert tf.get_collection(tf.GraphKeys.UPDATE_OPS) == []
        assert logits.shape.as_list() == ep["AuxLogits"].shape.as_list() == [2, 1, 1, 7]
        assert ep["Mixed_7c"].shape.as_list() == [2, 1, 1, 1024]  # depth_multiplier 0.5
        _, ep = inception_v3.inception_v3(images, 7, is_training=False, create_aux_logits=False, scope="NoAux")
        assert "AuxLogits" not in ep
        features, ep = inception_v3.inception_v3(images, 0, is_training=False, scope="Features")
        assert features.shape.as_list() == [2, 1, 1, 2048]
        assert not {"AuxLogits", "Logits", "Predictions", "PreLogits"} & set(ep)
        pooled, ep = inception_v3.inception_v3(images, 3, is_training=False, global_pool=True, scope="Pooled")
        assert pooled.shape.as_list() == [2, 3] and "global_pool" in ep
    names = [v.op.name for v in tf.model_variables()]
    assert not [n for n in names if n.startswith("NoAux/AuxLogits")]
    assert [n for n in names if n.startswith("InceptionV3/AuxLogits")]
    assert not [n for n in names if n.startswith(("Features/AuxLogits", "Features/Logits"))]


def test_slim_base_options_and_errors(graph):
    images = tf.placeholder(tf.float32, [1, 299, 299, 3])
    net, ep = inception_v3.inception_v3_base(images, final_endpoint="Mixed_5b")
    assert list(ep) == BASE[:BASE.index("Mixed_5b") + 1]
    assert net.shape.as_list() == [1, 35, 35, 256] and net.op.name.startswith("InceptionV3/Mixed_5b")
    with pytest.raises(ValueError, match="Unknown final endpoint"):
        inception_v3.inception_v3_base(images, final_endpoint="Mixed_8a", scope="Bad")
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="depth_multiplier is not greater than zero"):
            inception_v3.inception_v3(images, depth_multiplier=bad)


# ---------------------------------------------------------------- two heads

@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A SYNTHETIC checkpoint with the release's names and shapes (1001 classes)."""
    return checkpoints.write_net_checkpoint(NAME, str(tmp_path_factory.mktemp("ckpt") / "inception_v3.ckpt"))


@pytest.fixture(scope="module")
def shapes_10():
    """{name: shape} of a 10-class inception_v3 at 32x32 (what a fine-tune plans against)."""
    return train.plan.variable_shapes(NAME, 10, 32)


def test_exclude_auto_excludes_both_heads(release, shapes_10):
    """Both classifiers have 1001 outputs in the release: auto excludes each one's last conv
    (the aux head's other convs keep their pretrained values)."""
    plan = restore.prepare_restore(release, exclude="auto", variables=shapes_10)
    assert sorted(plan.exclude) == sorted(plan.auto_excluded) == [AUX_CLASSIFIER, HEAD]
    assert plan.report.ok


def test_excluding_only_the_main_head_names_the_aux_head(release, shapes_10):
    with pytest.raises(TlslimError) as err:
        restore.prepare_restore(release, exclude=HEAD, variables=shapes_10)
    message = str(err.value)
    assert "\n" not in message
    assert f"{AUX_CLASSIFIER}/weights is [1, 1, 768, 10] in the graph but [1, 1, 768, 1001]" in message
    assert f"use --exclude {HEAD},{AUX_CLASSIFIER} " in message and "--exclude auto" in message


def _config(release, tmp_path, **kw):
    base = dict(model=NAME, checkpoint_path=release, dataset="synthetic", image_size=32, strategy="head",
                train_dir=str(tmp_path / "run"))
    base.update(kw)
    return train.check_config(train.TrainConfig(**base))


def test_head_strategy_trains_both_heads(release, tmp_path):
    plan = train.make_plan(_config(release, tmp_path, exclude="auto"), 10, 32)
    assert sorted(plan.exclude) == [AUX_CLASSIFIER, HEAD]
    assert plan.groups == [(plan.exclude, 1.0)] and plan.trainable_scopes == plan.exclude
    # slim's README spelling: both whole heads.
    plan = train.make_plan(_config(release, tmp_path, exclude=f"{HEAD},{AUX}"), 10, 32)
    assert plan.groups == [([HEAD, AUX], 1.0)] and plan.trainable_scopes == [HEAD, AUX]
    # top 1: the excluded heads and the last Mixed module.
    plan = train.make_plan(_config(release, tmp_path, exclude="auto", strategy="top", unfreeze=1), 10, 32)
    assert sorted(plan.trainable_scopes) == sorted([AUX_CLASSIFIER, HEAD, "InceptionV3/Mixed_7c"])


def test_head_training_restores_the_base_and_trains_both_classifiers(release, tmp_path):
    """Three steps of --strategy head --exclude auto at 32x32 (full graph, no feature cache): the
    base and the aux head's convs keep the release's values; both classifiers are the new 10-class
    ones, trained with the main loss and slim's 0.4-weighted auxiliary loss."""
    config = _config(release, tmp_path, exclude="auto", train_subset=2, batch_size=8, max_steps=3, eval_examples=8,
                     augment=False, cache_features=False, log_every_steps=1, save_every_steps=1000)
    result = train.train(config)
    assert result["step"] == 3 and np.isfinite(result["loss"])
    trained, released = tf.train.load_checkpoint(result["checkpoint"]), tf.train.load_checkpoint(release)
    for name in (f"{AUX}/Conv2d_2a_5x5/weights", f"{AUX}/Conv2d_1b_1x1/BatchNorm/moving_mean",
                 "InceptionV3/Mixed_7c/Branch_0/Conv2d_0a_1x1/weights"):
        np.testing.assert_array_equal(trained.get_tensor(name), released.get_tensor(name))
    for name in (f"{AUX_CLASSIFIER}/weights", f"{HEAD}/Conv2d_1c_1x1/weights"):
        assert trained.get_tensor(name).shape[-1] == 10
    assert len(result["losses"]) == 3


@pytest.mark.parametrize("weight", [0.4, 0.0])
def test_aux_loss_is_the_weighted_aux_cross_entropy(tmp_path, weight):
    """The training loss is the main cross-entropy plus `aux_loss_weight` (slim's 0.4) times the
    AuxLogits cross-entropy (no weight decay here), checked against NumPy on one batch."""
    config = train.check_config(train.TrainConfig(model=NAME, strategy="scratch", image_size=32, weight_decay=0.0,
                                                  aux_loss_weight=weight, train_dir=str(tmp_path / "run")))
    plan = train.make_plan(config, 10, 32)
    rng = np.random.default_rng(5)
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        images, labels = tf.placeholder(tf.float32, [2, 32, 32, 3]), tf.placeholder(tf.int64, [2])
        tg = train.build_towers(config, plan, 10, images, labels, images, "/device:CPU:0")
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            feed = {images: rng.uniform(-1, 1, [2, 32, 32, 3]), labels: [3, 7]}
            loss, main, aux = sess.run([tg.loss, tg.end_points["Logits"], tg.end_points["AuxLogits"]], feed)

    def cross_entropy(logits):
        logits = logits.astype(np.float64)
        log_probs = logits - logits.max(1, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
        return -np.mean(log_probs[[0, 1], [3, 7]])
    assert cross_entropy(aux) > 0.1
    assert loss == pytest.approx(cross_entropy(main) + weight * cross_entropy(aux), rel=1e-5)
