"""VGG builders: release variable names/shapes, slim's numerics at 224, the small-image path."""
import numpy as np
import pytest

from tlslim import nets
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError

VGG = ("vgg_a", "vgg_16", "vgg_19")


def variable_shapes(variables):
    return {v.op.name: v.shape.as_list() for v in variables}


@pytest.mark.parametrize("size", [224, 32])
@pytest.mark.parametrize("name", VGG)
def test_variables_equal_manifest(graph, name, size):
    images = tf.placeholder(tf.float32, [2, size, size, 3])
    logits, end_points = nets.get_network_fn(name, 1000)(images)
    assert variable_shapes(tf.global_variables()) == nets.manifest(name)["variables"]
    # Only model variables: nothing a release checkpoint lacks (no global_step).
    assert set(tf.global_variables()) == set(tf.model_variables())
    assert logits.shape.as_list() == [2, 1000]
    assert end_points[nets.PENULTIMATE].shape.as_list() == [2, 1, 1, 4096]


def test_new_head_changes_only_fc8_shapes(graph):
    nets.get_network_fn("vgg_16", 10)(tf.placeholder(tf.float32, [1, 32, 32, 3]))
    expected = dict(nets.manifest("vgg_16")["variables"])
    expected["vgg_16/fc8/weights"] = [1, 1, 4096, 10]
    expected["vgg_16/fc8/biases"] = [10]
    assert variable_shapes(tf.global_variables()) == expected


@pytest.mark.parametrize("name", VGG)
def test_registry_info(name):
    info = nets.get_info(name)
    assert (info.scope, info.head_scope, info.num_classes, info.preprocessing) == (
        name, f"{name}/fc8", 1000, "vgg")
    assert info.blocks == tuple(f"{name}/conv{i}" for i in range(1, 6)) + (
        f"{name}/fc6", f"{name}/fc7", f"{name}/fc8")
    assert (info.default_image_size, info.min_image_size) == (224, 32)
    if name == "vgg_a":
        assert info.checkpoint_url is None and info.checkpoint_file is None
    else:
        assert info.checkpoint_url == (
            f"http://download.tensorflow.org/models/{name}_2016_08_28.tar.gz")
        assert info.checkpoint_file == f"{name}.ckpt"
        assert nets.manifest(name)["extra"] == {"global_step": [], f"{name}/mean_rgb": [3]}
    # The blocks partition the release variables, each variable in exactly one block.
    for var in nets.manifest(name)["variables"]:
        assert sum(var.startswith(block + "/") for block in info.blocks) == 1, var


@pytest.mark.parametrize("name", [
    "vgg_16",
    pytest.param("vgg_a", marks=pytest.mark.slow),  # ~5 s each; vgg_16 covers the shared code
    pytest.param("vgg_19", marks=pytest.mark.slow),
])
def test_equals_tf_slim_at_224(graph, name):
    """Same weights, same input: our logits and fc7 equal tf_slim.nets.vgg's.

    Ours is built with reuse=True on the reference's variables, so it must ask for exactly
    slim's names and shapes (reuse fails otherwise) and creates nothing new. Both graphs run the
    same float32 kernels in the same order, so the results agree to rounding: the tolerance,
    1e-5 of the logit scale, is ~100 float32 epsilons.
    """
    from tf_slim.nets import vgg as slim_vgg

    tf.set_random_seed(0)
    images = tf.placeholder(tf.float32, [1, 224, 224, 3])
    with slim.arg_scope(slim_vgg.vgg_arg_scope()):
        ref_logits, ref_points = getattr(slim_vgg, name)(images, num_classes=1000,
                                                         is_training=False)
    reference_variables = tf.global_variables()
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
        logits, end_points = nets.get_network_fn(name, 1000)(images)
    assert tf.global_variables() == reference_variables

    # slim's end points, same keys and shapes, plus PreLogits (no global_pool at 224). Pool
    # keys come from name scopes, which the second build gets as e.g. 'vgg_16_1/'.
    ours = {k.replace(f"{name}_1/", f"{name}/"): v for k, v in end_points.items()}
    assert set(ours) - {nets.PENULTIMATE} == set(ref_points)
    for key, tensor in ref_points.items():
        assert ours[key].shape.as_list() == tensor.shape.as_list(), key

    # Random (non-zero) biases so they are exercised too.
    biases = [v for v in reference_variables if v.op.name.endswith("/biases")]
    randomize = [tf.assign(b, tf.random.normal(b.shape, stddev=0.1)) for b in biases]
    x = np.random.RandomState(0).uniform(-120, 120, [1, 224, 224, 3]).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(randomize)
        ours, ours_fc7, ref, ref_fc7 = sess.run(
            [logits, end_points[nets.PENULTIMATE], ref_logits, ref_points[f"{name}/fc7"]],
            {images: x})
    assert np.abs(ref).max() > 0 and np.abs(ref_fc7).max() > 0
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5 * np.abs(ref).max())
    np.testing.assert_allclose(ours_fc7, ref_fc7, rtol=0, atol=1e-5 * np.abs(ref_fc7).max())


def test_small_image_path_and_dropout(graph):
    """At 32x32 pool5 is 1x1: fc6 (SAME) applies the centre tap of its 7x7 kernel; the logits
    read PreLogits; dropout follows an is_training tensor."""
    tf.set_random_seed(0)
    images = tf.placeholder(tf.float32, [2, 32, 32, 3])
    is_training = tf.placeholder(tf.bool, [])
    logits, points = nets.get_network_fn("vgg_a", 5, is_training=is_training)(images)
    assert "global_pool" not in points  # fc7 is already 1x1
    assert points["vgg_a/pool5"].shape.as_list() == [2, 1, 1, 512]
    assert points["vgg_a/fc6"].shape.as_list() == [2, 1, 1, 4096]
    var = {v.op.name: v for v in tf.global_variables()}
    x = np.random.RandomState(1).uniform(-120, 120, [2, 32, 32, 3]).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        fetch = [points["vgg_a/pool5"], points["vgg_a/fc6"], points["vgg_a/fc7"],
                 points[nets.PENULTIMATE], logits]
        pool5, fc6, fc7, pre, out = sess.run(fetch, {images: x, is_training: False})
        w6, b6, w8, b8 = sess.run([var["vgg_a/fc6/weights"], var["vgg_a/fc6/biases"],
                                   var["vgg_a/fc8/weights"], var["vgg_a/fc8/biases"]])
        fc7_train, pre_train = sess.run([points["vgg_a/fc7"], points[nets.PENULTIMATE]],
                                        {images: x, is_training: True})
    scale = np.abs(fc6).max()
    assert scale > 0
    centre = np.maximum(pool5[:, 0, 0] @ w6[3, 3] + b6, 0)
    np.testing.assert_allclose(fc6[:, 0, 0], centre, rtol=0, atol=1e-5 * scale)
    np.testing.assert_array_equal(pre, fc7)  # inference: dropout is the identity
    np.testing.assert_allclose(out, pre[:, 0, 0] @ w8[0, 0] + b8, rtol=0,
                               atol=1e-5 * np.abs(out).max())
    # Training: each unit is dropped (0) or kept and scaled by 1/keep_prob (0.5).
    nonzero = fc7_train != 0
    dropped = nonzero & (pre_train == 0)
    assert 0.3 < dropped.sum() / nonzero.sum() < 0.7
    np.testing.assert_allclose(pre_train[nonzero & ~dropped], 2 * fc7_train[nonzero & ~dropped],
                               rtol=1e-6)


def test_fc_head_mode_follows_static_shape(graph):
    # 64x64: pool5 is 2x2 -> fc6 SAME keeps 2x2, then a global average pool to 1x1.
    logits, points = nets.get_network_fn("vgg_16", 3)(tf.placeholder(tf.float32, [1, 64, 64, 3]))
    assert points["vgg_16/fc6"].shape.as_list() == [1, 2, 2, 4096]
    assert points["global_pool"].shape.as_list() == [1, 1, 1, 4096]
    assert logits.shape.as_list() == [1, 3]


def test_fc_head_overrides(graph):
    fn = nets.get_network_fn("vgg_16", 3, fc_conv_padding="SAME", global_pool=True)
    _, points = fn(tf.placeholder(tf.float32, [1, 224, 224, 3]))
    assert points["vgg_16/fc6"].shape.as_list() == [1, 7, 7, 4096]
    assert points[nets.PENULTIMATE].shape.as_list() == [1, 1, 1, 4096]


def test_bad_fc_conv_padding(graph):
    fn = nets.get_network_fn("vgg_16", 3, fc_conv_padding="FULL")
    with pytest.raises(TlslimError, match="must be 'SAME' or 'VALID'") as err:
        fn(tf.placeholder(tf.float32, [1, 32, 32, 3]))
    assert "\n" not in str(err.value)


def test_valid_fc6_on_a_map_smaller_than_its_kernel_becomes_same(graph):
    """slim's default fc_conv_padding='VALID' cannot fit a 7x7 fc6 on 32x32's 1x1 pool5 map: there
    (and only there) fc6 is SAME, the graph the registry builds."""
    from tlslim.nets import vgg
    with slim.arg_scope(vgg.vgg_arg_scope()):
        logits, points = vgg.vgg_16(tf.placeholder(tf.float32, [1, 32, 32, 3]), 3, fc_conv_padding="VALID")
    assert graph.get_operation_by_name("vgg_16/fc6/Conv2D").get_attr("padding") == b"SAME"
    assert points["vgg_16/fc6"].shape.as_list() == [1, 1, 1, 4096] and logits.shape.as_list() == [1, 3]


@pytest.mark.parametrize("weight_decay,expected", [(0.0, 0), (5e-4, 16)])
def test_weight_decay_regularizes_every_weight(graph, weight_decay, expected):
    nets.get_network_fn("vgg_16", 10, weight_decay=weight_decay)(
        tf.placeholder(tf.float32, [1, 32, 32, 3]))
    losses = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    assert len(losses) == expected
    weights = sorted(v.op.name for v in tf.global_variables() if v.op.name.endswith("/weights"))
    if expected:
        assert sorted(loss.op.name.split("/Regularizer")[0].replace("/kernel", "/weights")
                      for loss in losses) == weights


def test_unknown_image_size_builds_slims_head_plus_global_pool(graph):
    # Without a static size the head is slim's (fc6 VALID) with a global pool, so any size from
    # 224 up works at run time.
    images = tf.placeholder(tf.float32, [None, None, None, 3])
    logits, points = nets.get_network_fn("vgg_16", 4)(images)
    fc6_conv = graph.get_operation_by_name("vgg_16/fc6/Conv2D")
    assert fc6_conv.get_attr("padding") == b"VALID"
    assert "global_pool" in points
    assert logits.shape.as_list() == [None, 4]


@pytest.mark.parametrize("size,kernel", [((1, 1), 7), ((2, 2), 7), ((3, 5), 7), ((6, 6), 7), ((2, 3), 5),
                                         ((7, 7), 7)])
def test_fc_conv2d_equals_the_full_same_convolution(graph, size, kernel):
    """Outputs and gradients (weights, biases, input) of fc_conv2d equal slim.conv2d's full SAME
    convolution on the same variables; only the live taps enter the Conv2D op."""
    from tlslim.nets.common import fc_conv2d

    x = tf.constant(np.random.RandomState(0).standard_normal([2, size[0], size[1], 8]).astype(np.float32))
    with slim.arg_scope([slim.conv2d], weights_regularizer=slim.l2_regularizer(0.1),
                        biases_initializer=tf.constant_initializer(0.3)):
        ours = fc_conv2d(x, 16, [kernel, kernel], padding="SAME", scope="ours")
        ref = slim.conv2d(x, 16, [kernel, kernel], padding="SAME", scope="ref")
    var = {v.op.name: v for v in tf.global_variables()}
    assert {n: v.shape.as_list() for n, v in var.items() if n.startswith("ours/")} == {
        "ours/weights": [kernel, kernel, 8, 16], "ours/biases": [16]}
    assert set(tf.model_variables()) == set(var.values())
    assert len(tf.losses.get_regularization_losses()) == 2  # the arg scope's regularizer reached both
    live = graph.get_operation_by_name("ours/Conv2D").inputs[1].shape.as_list()[:2]
    assert live == [min(kernel, 2 * s - 1) for s in size]
    copy = [tf.assign(var["ours/weights"], var["ref/weights"]), tf.assign(var["ours/biases"], var["ref/biases"])]
    probe = tf.constant(np.random.RandomState(1).standard_normal(ref.shape.as_list()).astype(np.float32))
    grads = [tf.gradients(tf.reduce_sum(t * probe), [var[f"{s}/weights"], var[f"{s}/biases"], x])
             for s, t in (("ours", ours), ("ref", ref))]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(copy)
        (a, ga), (b, gb) = sess.run([(ours, grads[0]), (ref, grads[1])])
    assert a.shape == b.shape and np.abs(b).max() > 0
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())
    for g_ours, g_ref in zip(ga, gb):
        np.testing.assert_allclose(g_ours, g_ref, rtol=0, atol=1e-5 * np.abs(g_ref).max())


def test_fc6_at_32_convolves_one_tap(graph):
    nets.get_network_fn("vgg_16", 10)(tf.placeholder(tf.float32, [1, 32, 32, 3]))
    assert graph.get_operation_by_name("vgg_16/fc6/Conv2D").inputs[1].shape.as_list() == [1, 1, 512, 4096]
    assert tf.model_variables()[-6].op.name == "vgg_16/fc6/weights"
