"""Inception v1 / GoogLeNet (Szegedy et al. 2014, arXiv:1409.4842) with batch norm, under the
scopes of slim's released checkpoint (inception_v1_2016_08_28: 1001 classes, class 0 =
background; Inception preprocessing).

    with slim.arg_scope(inception_v1.inception_v1_arg_scope()):
        logits, end_points = inception_v1.inception_v1(images, 1001, is_training=False)

Every conv is conv -> BN (no gamma, as in the release) -> ReLU via the arg scope, 'SAME'
padding throughout the base. Small inputs: the stride-2 stem and pools use 'SAME' padding,
so every map stays at least 1x1 (a 32x32 input reaches Mixed_5c as 1x1). The classifier's
7x7 average pool needs at least a 7x7 map (224x224 inputs give exactly 7x7); on a smaller map
the features are averaged globally instead (at 7x7 the two are the same number). The
registry's builder also averages globally above 224, so its logits are always [B, C]. At 224
the graph is slim's.
"""
from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.inception_utils import inception_arg_scope
from tlslim.nets.common import global_pool_above, spatial_size, trunc_normal
from tlslim.nets.registry import NetInfo, register

__all__ = ["inception_v1_base", "inception_v1", "inception_v1_arg_scope", "MIXED", "trunc_normal"]

# Output depths of each Mixed module's branches: (Branch_0 1x1, Branch_1 1x1 -> 3x3,
# Branch_2 1x1 -> 3x3, Branch_3 max pool -> 1x1), as in the paper's Table 1.
MIXED = {
    "Mixed_3b": (64, (96, 128), (16, 32), 32),
    "Mixed_3c": (128, (128, 192), (32, 96), 64),
    "Mixed_4b": (192, (96, 208), (16, 48), 64),
    "Mixed_4c": (160, (112, 224), (24, 64), 64),
    "Mixed_4d": (128, (128, 256), (24, 64), 64),
    "Mixed_4e": (112, (144, 288), (32, 64), 64),
    "Mixed_4f": (256, (160, 320), (32, 128), 128),
    "Mixed_5b": (256, (160, 320), (32, 128), 128),
    "Mixed_5c": (384, (192, 384), (48, 128), 128),
}

# The base, in order: (end point, kind, args). 'conv': (depth, kernel, stride); 'pool': (kernel, stride).
LAYERS = (
    ("Conv2d_1a_7x7", "conv", (64, 7, 2)),
    ("MaxPool_2a_3x3", "pool", (3, 2)),
    ("Conv2d_2b_1x1", "conv", (64, 1, 1)),
    ("Conv2d_2c_3x3", "conv", (192, 3, 1)),
    ("MaxPool_3a_3x3", "pool", (3, 2)),
    ("Mixed_3b", "mixed", None),
    ("Mixed_3c", "mixed", None),
    ("MaxPool_4a_3x3", "pool", (3, 2)),
    ("Mixed_4b", "mixed", None),
    ("Mixed_4c", "mixed", None),
    ("Mixed_4d", "mixed", None),
    ("Mixed_4e", "mixed", None),
    ("Mixed_4f", "mixed", None),
    ("MaxPool_5a_2x2", "pool", (2, 2)),
    ("Mixed_5b", "mixed", None),
    ("Mixed_5c", "mixed", None),
)


def _mixed(net, name):
    d0, (d1a, d1b), (d2a, d2b), d3 = MIXED[name]
    # The release names Mixed_5b's second Branch_2 conv 'Conv2d_0a_3x3' (not 0b); keep it.
    b2_second = "Conv2d_0a_3x3" if name == "Mixed_5b" else "Conv2d_0b_3x3"
    with tf.variable_scope(name):
        with tf.variable_scope("Branch_0"):
            branch_0 = slim.conv2d(net, d0, [1, 1], scope="Conv2d_0a_1x1")
        with tf.variable_scope("Branch_1"):
            branch_1 = slim.conv2d(net, d1a, [1, 1], scope="Conv2d_0a_1x1")
            branch_1 = slim.conv2d(branch_1, d1b, [3, 3], scope="Conv2d_0b_3x3")
        with tf.variable_scope("Branch_2"):
            branch_2 = slim.conv2d(net, d2a, [1, 1], scope="Conv2d_0a_1x1")
            branch_2 = slim.conv2d(branch_2, d2b, [3, 3], scope=b2_second)
        with tf.variable_scope("Branch_3"):
            branch_3 = slim.max_pool2d(net, [3, 3], scope="MaxPool_0a_3x3")
            branch_3 = slim.conv2d(branch_3, d3, [1, 1], scope="Conv2d_0b_1x1")
        return tf.concat([branch_0, branch_1, branch_2, branch_3], 3)


def inception_v1_base(inputs, final_endpoint="Mixed_5c", scope="InceptionV1"):
    """The convolutional base up to `final_endpoint` (a LAYERS name) -> (net, end_points)."""
    if final_endpoint not in [name for name, _, _ in LAYERS]:
        raise ValueError(f"Unknown final endpoint {final_endpoint}")
    end_points = {}
    with tf.variable_scope(scope, "InceptionV1", [inputs]):
        with slim.arg_scope([slim.conv2d, slim.fully_connected],
                            weights_initializer=trunc_normal(0.01)):
            with slim.arg_scope([slim.conv2d, slim.max_pool2d], stride=1, padding="SAME"):
                net = inputs
                for name, kind, args in LAYERS:
                    if kind == "conv":
                        depth, kernel, stride = args
                        net = slim.conv2d(net, depth, [kernel, kernel], stride=stride, scope=name)
                    elif kind == "pool":
                        kernel, stride = args
                        net = slim.max_pool2d(net, [kernel, kernel], stride=stride, scope=name)
                    else:
                        net = _mixed(net, name)
                    end_points[name] = net
                    if name == final_endpoint:
                        return net, end_points


def inception_v1(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.8,
                 prediction_fn=slim.softmax, spatial_squeeze=True, reuse=None, scope="InceptionV1",
                 global_pool=False):
    """Base, average pool, dropout, 1x1 conv 'Logits/Conv2d_0c_1x1' -> (logits, end_points).

    logits: [B, num_classes] ([B,h,w,num_classes] if not spatial_squeeze; the pooled features
    if num_classes is None or 0). Pooling is slim's 7x7 'AvgPool_0a_7x7' unless global_pool,
    or the final map is smaller than 7x7 (where slim's pool cannot run): then a global mean
    ('global_pool'). end_points: slim's.
    """
    with tf.variable_scope(scope, "InceptionV1", [inputs], reuse=reuse) as sc:
        with slim.arg_scope([batch_norm, slim.dropout], is_training=is_training):
            net, end_points = inception_v1_base(inputs, scope=sc)
            with tf.variable_scope("Logits"):
                size = spatial_size(net)
                if not global_pool and (size is None or min(size) >= 7):
                    net = slim.avg_pool2d(net, [7, 7], stride=1, scope="AvgPool_0a_7x7")
                    end_points["AvgPool_0a_7x7"] = net
                else:
                    net = tf.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                    end_points["global_pool"] = net
                if not num_classes:
                    return net, end_points
                net = slim.dropout(net, dropout_keep_prob, scope="Dropout_0b")
                logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                                     scope="Conv2d_0c_1x1")
                if spatial_squeeze:
                    logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
                end_points["Logits"] = logits
                end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


inception_v1.default_image_size = 224


def inception_v1_arg_scope(weight_decay=0.00004, use_batch_norm=True, batch_norm_var_collection="moving_vars",
                           batch_norm_decay=0.9997, batch_norm_epsilon=0.001, batch_norm_scale=False):
    """slim's Inception arg scope with tlslim's batch_norm: conv -> BN -> ReLU, He initialization
    (the base overrides it with a truncated normal), L2 weight decay (0 disables it). The moving
    statistics also go to the `batch_norm_var_collection` collection."""
    return inception_arg_scope(weight_decay, use_batch_norm, batch_norm_decay, batch_norm_epsilon,
                               batch_norm_scale=batch_norm_scale, batch_norm_var_collection=batch_norm_var_collection)


register(NetInfo(
    name="inception_v1",
    builder=global_pool_above(inception_v1, 224),
    arg_scope=inception_v1_arg_scope,
    scope="InceptionV1",
    head_scope="InceptionV1/Logits",
    blocks=tuple(f"InceptionV1/{name}" for name, kind, _ in LAYERS if kind != "pool") + ("InceptionV1/Logits",),
    default_image_size=224,
    min_image_size=32,
    num_classes=1001,
    preprocessing="inception",
    checkpoint_tarball="inception_v1_2016_08_28.tar.gz",
    checkpoint_file="inception_v1.ckpt",
    manifest="inception_v1.json",
    prelogits_end_points=("AvgPool_0a_7x7", "global_pool"),  # before the head's Dropout_0b
))
