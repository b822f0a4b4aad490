"""alexnet_v2, cifarnet and lenet: release variable names/shapes at several sizes, slim's
numerics (alexnet_v2 vs tf_slim), the adaptive pool, PreLogits, dropout, weight decay."""
import numpy as np
import pytest

from tlslim import nets
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError
from tlslim.nets.common import adaptive_avg_pool


def variable_shapes(variables):
    return {v.op.name: v.shape.as_list() for v in variables}


@pytest.mark.parametrize("name,size,channels", [
    ("alexnet_v2", 224, 3), ("alexnet_v2", 32, 3), ("alexnet_v2", 100, 3),
    ("cifarnet", 32, 3), ("cifarnet", 96, 3), ("cifarnet", 20, 3),
    ("lenet", 28, 1), ("lenet", 32, 1), ("lenet", 20, 1),
])
def test_variables_equal_manifest(graph, name, size, channels):
    release = nets.manifest(name)
    images = tf.placeholder(tf.float32, [2, size, size, channels])
    logits, end_points = nets.get_network_fn(name, release["num_classes"])(images)
    assert variable_shapes(tf.global_variables()) == release["variables"]
    assert set(tf.global_variables()) == set(tf.model_variables())
    assert logits.shape.as_list() == [2, release["num_classes"]]
    default = nets.get_info(name).default_image_size
    # Flatten nets pool adaptively only away from their default size (slim's graph there).
    assert ("AdaptivePool" in end_points) == (name != "alexnet_v2" and size != default)


def test_lenet_takes_rgb_like_slim(graph):
    """slim's lenet convolves whatever channels it is given: RGB changes conv1 only."""
    nets.get_network_fn("lenet", 10)(tf.placeholder(tf.float32, [1, 32, 32, 3]))
    expected = dict(nets.manifest("lenet")["variables"])
    expected["LeNet/conv1/weights"] = [5, 5, 3, 32]
    assert variable_shapes(tf.global_variables()) == expected


@pytest.mark.parametrize("name,scope,head,blocks,size,min_size,classes,style", [
    ("alexnet_v2", "alexnet_v2", "alexnet_v2/fc8",
     ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"), 224, 11, 1000,
     "inception"),
    ("cifarnet", "CifarNet", "CifarNet/logits",
     ("conv1", "conv2", "fc3", "fc4", "logits"), 32, 4, 10, "cifarnet"),
    ("lenet", "LeNet", "LeNet/fc4", ("conv1", "conv2", "fc3", "fc4"), 28, 4, 10, "cifarnet"),
])
def test_registry_info(name, scope, head, blocks, size, min_size, classes, style):
    info = nets.get_info(name)
    assert (info.scope, info.head_scope, info.default_image_size, info.min_image_size,
            info.num_classes, info.preprocessing) == (scope, head, size, min_size, classes, style)
    assert info.blocks == tuple(f"{scope}/{b}" for b in blocks)
    assert info.checkpoint_url is None and info.checkpoint_file is None
    assert nets.manifest(name)["extra"] == {}
    for var in nets.manifest(name)["variables"]:
        assert sum(var.startswith(block + "/") for block in info.blocks) == 1, var


def test_alexnet_v2_equals_tf_slim_at_224(graph):
    """Same weights and input: our logits equal tf_slim.nets.alexnet.alexnet_v2's (ours reuses
    the reference's variables, so names and shapes must match exactly). Identical float32 op
    sequences: tolerance 1e-5 of the logit scale (~100 epsilons)."""
    from tf_slim.nets import alexnet as slim_alexnet

    tf.set_random_seed(0)
    images = tf.placeholder(tf.float32, [1, 224, 224, 3])
    with slim.arg_scope(slim_alexnet.alexnet_v2_arg_scope()):
        ref, ref_points = slim_alexnet.alexnet_v2(images, num_classes=1000, is_training=False)
    reference_variables = tf.global_variables()
    with tf.variable_scope(tf.get_variable_scope(), reuse=True):
        logits, points = nets.get_network_fn("alexnet_v2", 1000)(images)
    assert tf.global_variables() == reference_variables
    ours = {k.replace("alexnet_v2_1/", "alexnet_v2/"): v for k, v in points.items()}
    assert set(ours) - {nets.PENULTIMATE} == set(ref_points)
    for key, tensor in ref_points.items():
        assert ours[key].shape.as_list() == tensor.shape.as_list(), key
    x = np.random.RandomState(0).uniform(-1, 1, [1, 224, 224, 3]).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        a, b = sess.run([logits, ref], {images: x})
    assert np.abs(b).max() > 0
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())


def test_alexnet_v2_small_images_adapt(graph):
    _, points = nets.get_network_fn("alexnet_v2", 10)(tf.placeholder(tf.float32, [1, 32, 32, 3]))
    shapes = {k.split("/")[-1]: v.shape.as_list()[1:3] for k, v in points.items()}
    # conv1 11x11/4 VALID: 32 -> 6; pool1 VALID 6 -> 2; pool2 and pool5 SAME (map < 3x3) -> 1.
    assert [shapes[k] for k in ("conv1", "pool1", "pool2", "pool5", "fc6", "fc7")] == [
        [6, 6], [2, 2], [1, 1], [1, 1], [1, 1], [1, 1]]


def torchvision_adaptive_avg_pool(x, out_h, out_w):
    """Reference: each output cell averages its 2-D input window directly (no separability)."""
    n, h, w, c = x.shape
    out = np.zeros([n, out_h, out_w, c], np.float64)
    for i in range(out_h):
        for j in range(out_w):
            r0, r1 = (i * h) // out_h, -((-(i + 1) * h) // out_h)
            c0, c1 = (j * w) // out_w, -((-(j + 1) * w) // out_w)
            out[:, i, j] = x[:, r0:r1, c0:c1].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("in_size,out_size", [((8, 8), (7, 7)), ((16, 12), (8, 8)),
                                              ((3, 5), (7, 7)), ((56, 56), (8, 8))])
def test_adaptive_avg_pool_matches_torchvision_rule(graph, in_size, out_size):
    x = np.random.RandomState(0).normal(size=(2,) + in_size + (3,)).astype(np.float32)
    pooled = adaptive_avg_pool(tf.constant(x), out_size)
    assert pooled.shape.as_list() == [2, *out_size, 3]
    with tf.Session() as sess:
        got = sess.run(pooled)
    # float32 means of at most 8x8 unit-scale values: 1e-6 is a few epsilons.
    np.testing.assert_allclose(got, torchvision_adaptive_avg_pool(x, *out_size), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name,size,channels,pre_key,head,width", [
    ("cifarnet", 32, 3, "fc4", "CifarNet/logits", 192),
    ("cifarnet", 48, 3, "fc4", "CifarNet/logits", 192),
    ("lenet", 28, 1, "fc3", "LeNet/fc4", 1024),
    ("lenet", 32, 1, "fc3", "LeNet/fc4", 1024),
])
def test_prelogits_feed_the_classifier_and_dropout(graph, name, size, channels, pre_key, head,
                                                    width):
    """logits = PreLogits @ W + b; PreLogits is the activated `pre_key` output (after dropout
    for lenet, whose dropout, driven by an is_training tensor, zeroes or scales by 1/keep_prob)."""
    tf.set_random_seed(0)
    images = tf.placeholder(tf.float32, [4, size, size, channels])
    is_training = tf.placeholder(tf.bool, [])
    logits, points = nets.get_network_fn(name, 6, is_training=is_training)(images)
    pre = points[nets.PENULTIMATE]
    assert pre.shape.as_list() == [4, width]
    var = {v.op.name: v for v in tf.global_variables()}
    x = np.random.RandomState(0).normal(size=[4, size, size, channels]).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        out, p, layer, w, b = sess.run([logits, pre, points[pre_key], var[head + "/weights"],
                                        var[head + "/biases"]], {images: x, is_training: False})
        p_train, layer_train = sess.run([pre, points[pre_key]], {images: x, is_training: True})
    assert np.abs(p).max() > 0 and (p >= 0).all()  # ReLU-activated
    np.testing.assert_array_equal(p, layer)
    np.testing.assert_allclose(out, p @ w + b, rtol=0, atol=1e-5 * np.abs(out).max())
    if name == "lenet":
        kept = p_train != 0
        np.testing.assert_allclose(p_train[kept], 2 * layer_train[kept], rtol=1e-6)
        assert 0.3 < 1 - kept.sum() / (layer_train != 0).sum() < 0.7
    else:  # cifarnet's dropout3 sits before fc4: training changes PreLogits, which is fc4
        np.testing.assert_array_equal(p_train, layer_train)
        assert np.abs(p_train - p).max() > 1e-3 * np.abs(p).max()


@pytest.mark.parametrize("name,regularized", [
    ("cifarnet", ["CifarNet/fc3/weights", "CifarNet/fc4/weights"]),  # slim: fc layers, not logits
    ("lenet", ["LeNet/conv1/weights", "LeNet/conv2/weights", "LeNet/fc3/weights",
               "LeNet/fc4/weights"]),
    ("alexnet_v2", [f"alexnet_v2/{s}/weights" for s in
                    ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")]),
])
def test_weight_decay(graph, name, regularized):
    """slim's l2_regularizer(wd)(w) = wd * sum(w**2) / 2 for exactly the layers slim regularizes."""
    size = nets.get_info(name).default_image_size
    channels = 1 if name == "lenet" else 3
    nets.get_network_fn(name, 10, weight_decay=0.01)(
        tf.placeholder(tf.float32, [1, size, size, channels]))
    losses = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    assert len(losses) == len(regularized)
    if name == "alexnet_v2":
        return  # the value check below is the same code path; skip initializing 50M weights
    var = {v.op.name: v for v in tf.global_variables()}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        total, weights = sess.run([tf.add_n(losses), [var[n] for n in regularized]])
    expected = sum(0.01 * np.sum(w.astype(np.float64) ** 2) / 2 for w in weights)
    np.testing.assert_allclose(total, expected, rtol=1e-5)


def test_flatten_nets_need_a_static_size(graph):
    with pytest.raises(TlslimError, match="static height and width"):
        nets.get_network_fn("cifarnet", 10)(tf.placeholder(tf.float32, [None, None, None, 3]))
