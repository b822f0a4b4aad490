"""Inception v3 (Szegedy et al. 2015, arXiv:1512.00567) with tf_slim's / research/slim's API and
the variable scopes of slim's released checkpoint (inception_v3_2016_08_28: inception_v3.ckpt,
1001 classes with class 0 = background, Inception preprocessing, evaluated at 299x299).

    with slim.arg_scope(inception_v3.inception_v3_arg_scope()):
        logits, end_points = inception_v3.inception_v3(images, 1001, is_training=False)

The base is a stem of plain convs and max pools (mostly 'VALID') and eleven Mixed modules
('SAME' inside, except the stride-2 reductions Mixed_6a and Mixed_7a). Every conv is conv -> BN
(tlslim.layers.batch_norm, where slim used slim.batch_norm; no gamma, as released) -> ReLU via the
arg scope, and its depth is max(int(d * depth_multiplier), min_depth). Two classifiers: 'Logits'
(average pool, dropout, 1x1 conv) on Mixed_7c and 'AuxLogits' (5x5/3 average pool, 1x1 conv, 5x5
conv, 1x1 conv) on Mixed_6e.

Small inputs. slim's graph needs at least 75x75 to build (Mixed_7a's 3x3 VALID reduction) and
107x107 with the auxiliary head (its 5x5 VALID pool); below 299 slim also cuts the aux head's 5x5
conv down to the map (a variable 'Conv2d_2a_<k>x<k>' the release does not have). Where slim's
graph would have no output at all (a VALID op on a map smaller than its kernel) the op runs with
'SAME' padding and the aux pool's kernel is cut to the map, so every size builds; everywhere
slim's graph is valid it is built exactly. `aux_release_shapes=True` (tlslim's argument; the
registry sets it) keeps the aux head's 5x5 conv at every size: a smaller map is zero-padded to
5x5 (the kernel applied once, centred) and a larger result is averaged, so the variables are the
release's at 32x32 as at 299.

The registry entry is at the end of this module.
"""
import functools

from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.common import global_pool_above, pad_to_kernel, reduced_kernel_size_for_small_input, trunc_normal
from tlslim.nets.inception_utils import inception_arg_scope, logits_block
from tlslim.nets.registry import NetInfo, register

__all__ = ["inception_v3_base", "inception_v3", "inception_v3_arg_scope", "END_POINTS", "trunc_normal"]



# Branch operations: ('conv', scope, depth, [kh, kw]) a stride-1 conv under the module's padding;
# ('reduce', scope, depth, [kh, kw]) a stride-2 VALID conv; ('avg', scope) a 3x3 stride-1 average
# pool; ('maxreduce', scope) a 3x3 stride-2 VALID max pool; ('split', op, op) two convs on the same
# input, concatenated.
def _c(scope, depth, kernel=(1, 1)):
    return ("conv", scope, depth, list(kernel))


def _factorized_7x7(mid):
    """Mixed_6b-6e: 1x1; 1x1 -> 1x7 -> 7x1; 1x1 -> (7x1 -> 1x7) x 2; avg pool -> 1x1."""
    return [
        [_c("Conv2d_0a_1x1", 192)],
        [_c("Conv2d_0a_1x1", mid), _c("Conv2d_0b_1x7", mid, (1, 7)), _c("Conv2d_0c_7x1", 192, (7, 1))],
        [_c("Conv2d_0a_1x1", mid), _c("Conv2d_0b_7x1", mid, (7, 1)), _c("Conv2d_0c_1x7", mid, (1, 7)),
         _c("Conv2d_0d_7x1", mid, (7, 1)), _c("Conv2d_0e_1x7", 192, (1, 7))],
        [("avg", "AvgPool_0a_3x3"), _c("Conv2d_0b_1x1", 192)],
    ]


def _expanded(branch_1_second):
    """Mixed_7b/7c: 1x1; 1x1 -> (1x3 | 3x1); 1x1 -> 3x3 -> (1x3 | 3x1); avg pool -> 1x1."""
    return [
        [_c("Conv2d_0a_1x1", 320)],
        [_c("Conv2d_0a_1x1", 384), ("split", _c("Conv2d_0b_1x3", 384, (1, 3)), _c(branch_1_second, 384, (3, 1)))],
        [_c("Conv2d_0a_1x1", 448), _c("Conv2d_0b_3x3", 384, (3, 3)),
         ("split", _c("Conv2d_0c_1x3", 384, (1, 3)), _c("Conv2d_0d_3x1", 384, (3, 1)))],
        [("avg", "AvgPool_0a_3x3"), _c("Conv2d_0b_1x1", 192)],
    ]


def _grid_35(branch_1_names, pool_depth):
    """Mixed_5b-5d: 1x1; 1x1 -> 5x5; 1x1 -> 3x3 -> 3x3; avg pool -> 1x1. The release names
    Mixed_5c's Branch_1 convs 'Conv2d_0b_1x1' and 'Conv_1_0c_5x5'; kept as released."""
    first, second = branch_1_names
    return [
        [_c("Conv2d_0a_1x1", 64)],
        [_c(first, 48), _c(second, 64, (5, 5))],
        [_c("Conv2d_0a_1x1", 64), _c("Conv2d_0b_3x3", 96, (3, 3)), _c("Conv2d_0c_3x3", 96, (3, 3))],
        [("avg", "AvgPool_0a_3x3"), _c("Conv2d_0b_1x1", pool_depth)],
    ]


MIXED = {
    "Mixed_5b": _grid_35(("Conv2d_0a_1x1", "Conv2d_0b_5x5"), 32),
    "Mixed_5c": _grid_35(("Conv2d_0b_1x1", "Conv_1_0c_5x5"), 64),
    "Mixed_5d": _grid_35(("Conv2d_0a_1x1", "Conv2d_0b_5x5"), 64),
    "Mixed_6a": [
        [("reduce", "Conv2d_1a_1x1", 384, [3, 3])],
        [_c("Conv2d_0a_1x1", 64), _c("Conv2d_0b_3x3", 96, (3, 3)), ("reduce", "Conv2d_1a_1x1", 96, [3, 3])],
        [("maxreduce", "MaxPool_1a_3x3")],
    ],
    "Mixed_6b": _factorized_7x7(128),
    "Mixed_6c": _factorized_7x7(160),
    "Mixed_6d": _factorized_7x7(160),
    "Mixed_6e": _factorized_7x7(192),
    "Mixed_7a": [
        [_c("Conv2d_0a_1x1", 192), ("reduce", "Conv2d_1a_3x3", 320, [3, 3])],
        [_c("Conv2d_0a_1x1", 192), _c("Conv2d_0b_1x7", 192, (1, 7)), _c("Conv2d_0c_7x1", 192, (7, 1)),
         ("reduce", "Conv2d_1a_3x3", 192, [3, 3])],
        [("maxreduce", "MaxPool_1a_3x3")],
    ],
    "Mixed_7b": _expanded("Conv2d_0b_3x1"),
    "Mixed_7c": _expanded("Conv2d_0c_3x1"),
}

# The stem, VALID unless said: (end point, kind, depth, kernel, stride, padding).
STEM = (
    ("Conv2d_1a_3x3", "conv", 32, 3, 2, "VALID"),
    ("Conv2d_2a_3x3", "conv", 32, 3, 1, "VALID"),
    ("Conv2d_2b_3x3", "conv", 64, 3, 1, "SAME"),
    ("MaxPool_3a_3x3", "pool", None, 3, 2, "VALID"),
    ("Conv2d_3b_1x1", "conv", 80, 1, 1, "VALID"),
    ("Conv2d_4a_3x3", "conv", 192, 3, 1, "VALID"),
    ("MaxPool_5a_3x3", "pool", None, 3, 2, "VALID"),
)

END_POINTS = tuple(name for name, *_ in STEM) + tuple(MIXED)


def _static_hw(net):
    return net.shape[1], net.shape[2]


def _padding(net, kernel, padding):
    """slim's `padding`, except 'SAME' for a VALID op on a map known to be smaller than its
    kernel: there slim's graph has no output, and SAME gives one value per stride step."""
    if padding == "VALID" and any(d is not None and d < k for d, k in zip(_static_hw(net), kernel)):
        return "SAME"
    return padding


def _branch(net, ops, depth):
    for op in ops:
        kind = op[0]
        if kind == "conv":
            _, scope, d, kernel = op
            net = slim.conv2d(net, depth(d), kernel, scope=scope)
        elif kind == "reduce":
            _, scope, d, kernel = op
            net = slim.conv2d(net, depth(d), kernel, stride=2, padding=_padding(net, kernel, "VALID"), scope=scope)
        elif kind == "avg":
            net = slim.avg_pool2d(net, [3, 3], scope=op[1])
        elif kind == "maxreduce":
            net = slim.max_pool2d(net, [3, 3], stride=2, padding=_padding(net, [3, 3], "VALID"), scope=op[1])
        else:  # split
            net = tf.concat([_branch(net, [sub], depth) for sub in op[1:]], 3)
    return net


def inception_v3_base(inputs, final_endpoint="Mixed_7c", min_depth=16, depth_multiplier=1.0, scope=None):
    """The base from `inputs` to `final_endpoint` (one of END_POINTS) -> (net, end_points).

    ValueError for an unknown endpoint or a depth_multiplier <= 0, as in slim.
    """
    if depth_multiplier <= 0:
        raise ValueError("depth_multiplier is not greater than zero.")

    def depth(d):
        return max(int(d * depth_multiplier), min_depth)

    end_points = {}
    with tf.variable_scope(scope, "InceptionV3", [inputs]):
        with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], stride=1, padding="SAME"):
            net = inputs
            for name, kind, d, k, stride, padding in STEM:
                padding = _padding(net, [k, k], padding)
                if kind == "conv":
                    net = slim.conv2d(net, depth(d), [k, k], stride=stride, padding=padding, scope=name)
                else:
                    net = slim.max_pool2d(net, [k, k], stride=stride, padding=padding, scope=name)
                end_points[name] = net
                if name == final_endpoint:
                    return net, end_points
            for name, branches in MIXED.items():
                with tf.variable_scope(name):
                    outs = []
                    for i, ops in enumerate(branches):
                        with tf.variable_scope(f"Branch_{i}"):
                            outs.append(_branch(net, ops, depth))
                    net = tf.concat(outs, 3)
                end_points[name] = net
                if name == final_endpoint:
                    return net, end_points
    raise ValueError("Unknown final endpoint %s" % final_endpoint)


def _aux_logits(net, num_classes, depth, spatial_squeeze, release_shapes):
    """The auxiliary classifier on Mixed_6e (scope 'AuxLogits'), [B, num_classes] when squeezed."""
    with tf.variable_scope("AuxLogits"):
        # slim's fixed 5x5 window; cut to the map only where slim's pool would have no output.
        window = reduced_kernel_size_for_small_input(net, [5, 5])
        net = slim.avg_pool2d(net, window, stride=3, padding="VALID", scope="AvgPool_1a_5x5")
        net = slim.conv2d(net, depth(128), [1, 1], padding="SAME", scope="Conv2d_1b_1x1")
        if release_shapes:
            kernel = [5, 5]
            net = pad_to_kernel(net, kernel)
        else:
            kernel = reduced_kernel_size_for_small_input(net, [5, 5])
        net = slim.conv2d(net, depth(768), kernel, weights_initializer=trunc_normal(0.01), padding="VALID",
                          scope="Conv2d_2a_{}x{}".format(*kernel))
        if release_shapes and _static_hw(net) != (1, 1):
            # A map larger than 1x1 (inputs of 347 and up): one value per channel, like the main head.
            net = tf.reduce_mean(net, [1, 2], keepdims=True, name="GlobalPool")
        net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                          weights_initializer=trunc_normal(0.001), padding="SAME", scope="Conv2d_2b_1x1")
        if spatial_squeeze:
            net = tf.squeeze(net, [1, 2], name="SpatialSqueeze")
    return net


def inception_v3(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.8, min_depth=16,
                 depth_multiplier=1.0, prediction_fn=slim.softmax, spatial_squeeze=True, reuse=None,
                 create_aux_logits=True, scope="InceptionV3", global_pool=False, *, aux_release_shapes=False):
    """The base, the auxiliary head 'AuxLogits' (if create_aux_logits and num_classes), an average
    pool ('AvgPool_1a_<k>x<k>', the 8x8 window cut to smaller maps; a global mean 'GlobalPool' if
    global_pool), 'Dropout_1b' and the 1x1 conv 'Logits/Conv2d_1c_1x1' -> (logits, end_points).

    logits: [B, num_classes] ([B,1,1,num_classes] if not spatial_squeeze). With num_classes 0 or
    None the pooled features are returned. end_points: the base's, 'AuxLogits', 'PreLogits' (the
    classifier's input, after dropout), 'Logits', 'Predictions' (and 'global_pool' if global_pool).
    aux_release_shapes: tlslim's; keep the aux head's 5x5 conv at every input size (see the module).
    """
    if depth_multiplier <= 0:
        raise ValueError("depth_multiplier is not greater than zero.")

    def depth(d):
        return max(int(d * depth_multiplier), min_depth)

    with tf.variable_scope(scope, "InceptionV3", [inputs], reuse=reuse) as sc:
        with slim.arg_scope([batch_norm, slim.dropout], is_training=is_training):
            net, end_points = inception_v3_base(inputs, scope=sc, min_depth=min_depth,
                                                depth_multiplier=depth_multiplier)
            if create_aux_logits and num_classes:
                end_points["AuxLogits"] = _aux_logits(end_points["Mixed_6e"], num_classes, depth,
                                                      spatial_squeeze, aux_release_shapes)
            with tf.variable_scope("Logits"):
                logits = logits_block(net, end_points, num_classes, [8, 8], global_pool, "GlobalPool",
                                      dropout_keep_prob, spatial_squeeze, prelogits=True)
            if not num_classes:
                return logits, end_points  # the pooled features
            end_points["Logits"] = logits
            end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


inception_v3.default_image_size = 299


def inception_v3_arg_scope(weight_decay=0.00004, batch_norm_var_collection="moving_vars", batch_norm_decay=0.9997,
                           batch_norm_epsilon=0.001, updates_collections=tf.GraphKeys.UPDATE_OPS,
                           use_fused_batchnorm=True):
    """tf_slim's Inception v3 arg scope with tlslim's batch_norm: conv -> BN (no gamma) -> ReLU,
    He initialization, L2 weight decay on conv and fully-connected weights (0 disables it); the
    moving statistics also go to `batch_norm_var_collection`."""
    return inception_arg_scope(weight_decay, batch_norm_decay=batch_norm_decay, batch_norm_epsilon=batch_norm_epsilon,
                               batch_norm_updates_collections=updates_collections,
                               batch_norm_var_collection=batch_norm_var_collection, fused=use_fused_batchnorm)


# ---- registry entry (tlslim's addition; the functions above are slim's API) ----

register(NetInfo(
    name="inception_v3",
    # The aux head keeps its release shapes at every input size (see the module doc).
    builder=global_pool_above(functools.partial(inception_v3, aux_release_shapes=True), 299),
    arg_scope=inception_v3_arg_scope,
    scope="InceptionV3",
    head_scope="InceptionV3/Logits",
    aux_scopes=("InceptionV3/AuxLogits",),
    # From input to head. The aux head reads Mixed_6e, so it sits after it: `top` reaches it
    # after Mixed_7a-7c and `discriminative` rates it between Mixed_7a and Mixed_6e. A fine-tune
    # to new classes excludes its last conv with the main head (`--exclude auto`), and those
    # excluded scopes are what `head` trains.
    blocks=tuple(f"InceptionV3/{name}" for name, kind, *_ in STEM if kind == "conv")
    + tuple(f"InceptionV3/{name}" for name in MIXED if name <= "Mixed_6e")
    + ("InceptionV3/AuxLogits",)
    + tuple(f"InceptionV3/{name}" for name in MIXED if name > "Mixed_6e")
    + ("InceptionV3/Logits",),
    default_image_size=299,
    min_image_size=32,
    num_classes=1001,
    preprocessing="inception",
    checkpoint_tarball="inception_v3_2016_08_28.tar.gz",
    checkpoint_file="inception_v3.ckpt",
    manifest="inception_v3.json",
    prelogits_op="Logits/Conv2d_1c_1x1/Conv2D",
))
