"""Inception v2 / BN-Inception (Ioffe & Szegedy 2015, arXiv:1502.03167) with research/slim's API
and the variable scopes of its released checkpoint (inception_v2_2016_08_28: 1001 classes,
class 0 = background; Inception preprocessing).

    with slim.arg_scope(inception_v2.inception_v2_arg_scope()):
        logits, end_points = inception_v2.inception_v2(images, 1001, is_training=False)

The root block is a 7x7/2 depthwise-separable conv (`Conv2d_1a_7x7`: depthwise_weights,
pointwise_weights and biases, no batch norm: the arg scope only normalizes slim.conv2d), a
3x3/2 max pool, a 1x1 and a 3x3 conv and another 3x3/2 max pool; then ten Mixed modules, two of
which (4a, 5a) halve the map. Every conv is conv -> BN (no gamma) -> ReLU through the arg scope
(tlslim.layers.batch_norm where slim used slim.batch_norm), 'SAME' padding throughout, so any
input size builds (a 32x32 input reaches Mixed_5c as 1x1). Every depth is
max(int(depth * depth_multiplier), min_depth). The head averages Mixed_5c with a VALID pool
whose kernel is 7x7 reduced to the map's size (or globally with `global_pool=True`), then
dropout and the 1x1 conv `Logits/Conv2d_1c_1x1`.
"""
from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.common import global_pool_above, trunc_normal
from tlslim.nets.inception_utils import inception_arg_scope, logits_block
from tlslim.nets.registry import NetInfo, register

__all__ = ["inception_v2_base", "inception_v2", "inception_v2_arg_scope", "trunc_normal"]

# The modules that keep the map size: (Branch_0 1x1, Branch_1 1x1 -> 3x3, Branch_2 1x1 -> 3x3
# -> 3x3, Branch_3 pool kind, Branch_3 1x1) output depths.
_INCEPTION = {
    "Mixed_3b": (64, (64, 64), (64, 96), "avg", 32),
    "Mixed_3c": (64, (64, 96), (64, 96), "avg", 64),
    "Mixed_4b": (224, (64, 96), (96, 128), "avg", 128),
    "Mixed_4c": (192, (96, 128), (96, 128), "avg", 128),
    "Mixed_4d": (160, (128, 160), (128, 160), "avg", 96),
    "Mixed_4e": (96, (128, 192), (160, 192), "avg", 96),
    "Mixed_5b": (352, (192, 320), (160, 224), "avg", 128),
    "Mixed_5c": (352, (192, 320), (192, 224), "max", 128),
}
# The modules that halve it: (Branch_0 1x1 -> 3x3/2, Branch_1 1x1 -> 3x3 -> 3x3/2, Branch_2 a
# 3x3/2 max pool) depths.
_REDUCTION = {
    "Mixed_4a": ((128, 160), (64, 96)),
    "Mixed_5a": ((128, 192), (192, 256)),
}
_ROOT = ("Conv2d_1a_7x7", "MaxPool_2a_3x3", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "MaxPool_3a_3x3")
_MIXED = ("Mixed_3b", "Mixed_3c", "Mixed_4a", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
          "Mixed_5a", "Mixed_5b", "Mixed_5c")



def _inception_module(net, name, depth, concat_dim):
    d0, (d1a, d1b), (d2a, d2b), pool, d3 = _INCEPTION[name]
    with tf.variable_scope(name):
        with tf.variable_scope("Branch_0"):
            b0 = slim.conv2d(net, depth(d0), [1, 1], scope="Conv2d_0a_1x1")
        with tf.variable_scope("Branch_1"):
            b1 = slim.conv2d(net, depth(d1a), [1, 1], weights_initializer=trunc_normal(0.09),
                             scope="Conv2d_0a_1x1")
            b1 = slim.conv2d(b1, depth(d1b), [3, 3], scope="Conv2d_0b_3x3")
        with tf.variable_scope("Branch_2"):
            b2 = slim.conv2d(net, depth(d2a), [1, 1], weights_initializer=trunc_normal(0.09),
                             scope="Conv2d_0a_1x1")
            b2 = slim.conv2d(b2, depth(d2b), [3, 3], scope="Conv2d_0b_3x3")
            b2 = slim.conv2d(b2, depth(d2b), [3, 3], scope="Conv2d_0c_3x3")
        with tf.variable_scope("Branch_3"):
            if pool == "avg":
                b3 = slim.avg_pool2d(net, [3, 3], scope="AvgPool_0a_3x3")
            else:
                b3 = slim.max_pool2d(net, [3, 3], scope="MaxPool_0a_3x3")
            b3 = slim.conv2d(b3, depth(d3), [1, 1], weights_initializer=trunc_normal(0.1),
                             scope="Conv2d_0b_1x1")
        return tf.concat(axis=concat_dim, values=[b0, b1, b2, b3])


def _reduction_module(net, name, depth, concat_dim):
    (d0a, d0b), (d1a, d1b) = _REDUCTION[name]
    with tf.variable_scope(name):
        with tf.variable_scope("Branch_0"):
            b0 = slim.conv2d(net, depth(d0a), [1, 1], weights_initializer=trunc_normal(0.09),
                             scope="Conv2d_0a_1x1")
            b0 = slim.conv2d(b0, depth(d0b), [3, 3], stride=2, scope="Conv2d_1a_3x3")
        with tf.variable_scope("Branch_1"):
            b1 = slim.conv2d(net, depth(d1a), [1, 1], weights_initializer=trunc_normal(0.09),
                             scope="Conv2d_0a_1x1")
            b1 = slim.conv2d(b1, depth(d1b), [3, 3], scope="Conv2d_0b_3x3")
            b1 = slim.conv2d(b1, depth(d1b), [3, 3], stride=2, scope="Conv2d_1a_3x3")
        with tf.variable_scope("Branch_2"):
            b2 = slim.max_pool2d(net, [3, 3], stride=2, scope="MaxPool_1a_3x3")
        return tf.concat(axis=concat_dim, values=[b0, b1, b2])


def inception_v2_base(inputs, final_endpoint="Mixed_5c", min_depth=16, depth_multiplier=1.0,
                      use_separable_conv=True, data_format="NHWC", include_root_block=True, scope=None):
    """The body from `inputs` to `final_endpoint` -> (net, end_points).

    final_endpoint: a root layer ('Conv2d_1a_7x7' ... 'MaxPool_3a_3x3', only with
    include_root_block) or 'Mixed_3b' ... 'Mixed_5c'. use_separable_conv=False makes
    Conv2d_1a_7x7 a full 7x7 conv; data_format 'NCHW' needs it. ValueError for an unknown
    endpoint, depth_multiplier <= 0 or an unsupported data_format, as in slim.
    """
    if depth_multiplier <= 0:
        raise ValueError("depth_multiplier is not greater than zero.")
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError("data_format must be either NHWC or NCHW.")
    if data_format == "NCHW" and use_separable_conv:
        raise ValueError("separable convolution only supports NHWC layout. NCHW data format can only be "
                         "used when use_separable_conv is False.")

    def depth(d):
        return max(int(d * depth_multiplier), min_depth)

    concat_dim = 3 if data_format == "NHWC" else 1
    end_points = {}
    with tf.variable_scope(scope, "InceptionV2", [inputs]):
        with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], stride=1, padding="SAME",
                            data_format=data_format):
            net = inputs
            layers = (_ROOT if include_root_block else ()) + _MIXED
            for name in layers:
                if name == "Conv2d_1a_7x7":
                    if use_separable_conv:
                        # The depthwise step makes min(depth(64) // 3, 8) maps per input channel,
                        # so it never has more outputs than the pointwise step that follows.
                        net = slim.separable_conv2d(inputs, depth(64), [7, 7],
                                                    depth_multiplier=min(int(depth(64) / 3), 8), stride=2,
                                                    padding="SAME", weights_initializer=trunc_normal(1.0),
                                                    scope=name)
                    else:
                        net = slim.conv2d(inputs, depth(64), [7, 7], stride=2,
                                          weights_initializer=trunc_normal(1.0), scope=name)
                elif name.startswith("MaxPool"):
                    net = slim.max_pool2d(net, [3, 3], stride=2, scope=name)
                elif name == "Conv2d_2b_1x1":
                    net = slim.conv2d(net, depth(64), [1, 1], weights_initializer=trunc_normal(0.1), scope=name)
                elif name == "Conv2d_2c_3x3":
                    net = slim.conv2d(net, depth(192), [3, 3], scope=name)
                elif name in _REDUCTION:
                    net = _reduction_module(net, name, depth, concat_dim)
                else:
                    net = _inception_module(net, name, depth, concat_dim)
                end_points[name] = net
                if name == final_endpoint:
                    return net, end_points
    raise ValueError("Unknown final endpoint %s" % final_endpoint)


def inception_v2(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.8, min_depth=16,
                 depth_multiplier=1.0, prediction_fn=slim.softmax, spatial_squeeze=True, reuse=None,
                 scope="InceptionV2", global_pool=False):
    """The body, an average pool ('AvgPool_1a_<k>x<k>', or 'global_pool' if global_pool),
    'Dropout_1b' and the 1x1 conv 'Logits/Conv2d_1c_1x1' -> (logits, end_points).

    logits: [B, num_classes] ([B,1,1,num_classes] if not spatial_squeeze). With num_classes 0 or
    None the pooled features (before dropout) are returned instead. end_points: each body layer,
    'global_pool' (only with global_pool), 'Logits' and 'Predictions' (when prediction_fn is given).
    """
    if depth_multiplier <= 0:
        raise ValueError("depth_multiplier is not greater than zero.")
    with tf.variable_scope(scope, "InceptionV2", [inputs], reuse=reuse) as sc:
        with slim.arg_scope([batch_norm, slim.dropout], is_training=is_training):
            net, end_points = inception_v2_base(inputs, scope=sc, min_depth=min_depth,
                                                depth_multiplier=depth_multiplier)
            with tf.variable_scope("Logits"):
                logits = logits_block(net, end_points, num_classes, [7, 7], global_pool, "global_pool",
                                      dropout_keep_prob, spatial_squeeze)
            if not num_classes:
                return logits, end_points  # the pooled features
            end_points["Logits"] = logits
            if prediction_fn:  # slim would fail on None; here it just leaves Predictions out
                end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


inception_v2.default_image_size = 224


def inception_v2_arg_scope(weight_decay=0.00004, batch_norm_var_collection="moving_vars", use_batch_norm=True,
                           batch_norm_decay=0.9997, batch_norm_epsilon=0.001, activation_fn=tf.nn.relu,
                           batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS, batch_norm_scale=False):
    """slim's Inception v2 arg scope with tlslim's batch_norm: conv -> BN (no gamma unless
    batch_norm_scale) -> ReLU, He initialization, L2 weight decay (0 disables it); the moving
    statistics also go to `batch_norm_var_collection`. The first two parameters are tf_slim's;
    the rest are research/slim's inception_arg_scope's, by keyword."""
    return inception_arg_scope(weight_decay, use_batch_norm, batch_norm_decay, batch_norm_epsilon, activation_fn,
                               batch_norm_updates_collections, batch_norm_scale, batch_norm_var_collection)


# ---- registry entry (tlslim's addition; the functions above are slim's API) ----

register(NetInfo(
    name="inception_v2",
    builder=global_pool_above(inception_v2, 224),
    arg_scope=inception_v2_arg_scope,
    scope="InceptionV2",
    head_scope="InceptionV2/Logits",
    blocks=tuple(f"InceptionV2/{name}" for name in _ROOT + _MIXED if not name.startswith("MaxPool"))
    + ("InceptionV2/Logits",),
    default_image_size=224,
    min_image_size=32,
    num_classes=1001,
    preprocessing="inception",
    checkpoint_tarball="inception_v2_2016_08_28.tar.gz",
    checkpoint_file="inception_v2.ckpt",
    manifest="inception_v2.json",
    prelogits_op="Logits/Conv2d_1c_1x1/Conv2D",
))
