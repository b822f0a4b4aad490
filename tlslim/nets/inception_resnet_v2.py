"""Inception-ResNet-v2 (Szegedy et al. 2016, arXiv:1602.07261) with research/slim's API and the
variable scopes of slim's released checkpoint (inception_resnet_v2_2016_08_30:
inception_resnet_v2_2016_08_30.ckpt, 1001 classes with class 0 = background, Inception
preprocessing, evaluated at 299x299).

    with slim.arg_scope(inception_resnet_v2.inception_resnet_v2_arg_scope()):
        logits, end_points = inception_resnet_v2.inception_resnet_v2(images, 1001, is_training=False)

The base is a stem of convs and max pools (mostly 'VALID'; all 'SAME' with align_feature_maps),
Mixed_5b (35x35x320 at 299), ten residual Inception blocks `block35` ('Repeat/block35_<i>',
residuals scaled by 0.17), the reduction Mixed_6a (17x17x1088), twenty `block17`
('Repeat_1/block17_<i>', scale 0.1; output end point 'PreAuxLogits'), the reduction Mixed_7a
(8x8x2080), nine `block8` ('Repeat_2/block8_<i>', scale 0.2), a last block8 without activation
('Block8') and the 1x1 conv 'Conv2d_7b_1x1' (1536). Each block adds a linear 1x1 conv of its
branches (weights and biases, no batch norm) to its input. Every other conv is conv -> BN
(tlslim.layers.batch_norm where slim uses slim.batch_norm; no gamma, as released) -> activation
via the arg scope. Two fully connected classifiers: 'Logits' (average pool over the whole map,
flatten, dropout 'Dropout', 'Logits/Logits') and 'AuxLogits' on PreAuxLogits (5x5/3 average pool
oddly scoped 'Conv2d_1a_3x3', 1x1 conv, a VALID conv 'Conv2d_2a_5x5' as large as the map left,
flatten, 'Logits').

Small inputs. slim's graph needs at least 75x75 to build (Mixed_7a's 3x3 VALID reductions) and
107x107 with the auxiliary head (its 5x5 VALID pool); and only inputs that leave the aux head a
5x5 map (299 among them) give its 'Conv2d_2a_5x5' the release's 5x5 kernel. Where slim's graph
would have no output at all (a VALID op on a map smaller than its kernel) the op runs with
'SAME' padding and the aux pool's window is cut to the map, so every size builds; everywhere
slim's graph is valid it is built exactly. `aux_release_shapes=True` (tlslim's argument; the
registry sets it) keeps 'Conv2d_2a_5x5' at 5x5 at every size: a smaller map is zero-padded to
5x5 (the kernel applied once, centred) and a larger result is averaged, so the variables are the
release's at 32x32 as at 299. The main head averages whatever map it gets, so its logits are
[B, C] at every size (a global mean 'global_pool' when the size is unknown, as in slim).

The registry entry is at the end of this module.
"""
import functools

from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.common import valid_or_same
from tlslim.nets.inception_utils import fc_aux_logits, pool_whole_map
from tlslim.nets.registry import NetInfo, register

__all__ = ["inception_resnet_v2_base", "inception_resnet_v2", "inception_resnet_v2_arg_scope", "block35",
           "block17", "block8", "END_POINTS"]

END_POINTS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_3a_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
              "MaxPool_5a_3x3", "Mixed_5b", "Mixed_6a", "PreAuxLogits", "Mixed_7a", "Conv2d_7b_1x1")


# A module is a list of branches ('Branch_0', 'Branch_1', ...), each a list of ops applied in
# turn, the branches' outputs concatenated on channels. Ops:
#   ('conv', scope, depth, kernel, stride, padding)
#   ('max' | 'avg', scope, stride, padding)   a 3x3 pool
def _conv(scope, depth, kernel=1, stride=1, padding="SAME"):
    return ("conv", scope, depth, kernel, stride, padding)


def _pool(kind, scope, stride, padding):
    return (kind, scope, stride, padding)


def _fit(net, kernel, padding):
    # 'SAME' only where slim's VALID op would have no output (a map smaller than the kernel).
    size = max(kernel) if isinstance(kernel, (list, tuple)) else kernel
    return valid_or_same(net, size) if padding == "VALID" else padding


def _op(net, op):
    kind, scope = op[0], op[1]
    if kind == "conv":
        _, _, depth, kernel, stride, padding = op
        return slim.conv2d(net, depth, kernel, stride=stride, padding=_fit(net, kernel, padding), scope=scope)
    _, _, stride, padding = op
    pool = slim.max_pool2d if kind == "max" else slim.avg_pool2d
    return pool(net, 3, stride=stride, padding=_fit(net, 3, padding), scope=scope)


def _module(net, branches):
    outputs = []
    for i, ops in enumerate(branches):
        with tf.variable_scope(f"Branch_{i}"):
            branch = net
            for op in ops:
                branch = _op(branch, op)
            outputs.append(branch)
    return tf.concat(outputs, 3)


def _stem(padding):
    """The stem ops in order; `padding` is slim's for its VALID ops ('SAME' with align_feature_maps)."""
    return [
        _conv("Conv2d_1a_3x3", 32, 3, 2, padding),
        _conv("Conv2d_2a_3x3", 32, 3, 1, padding),
        _conv("Conv2d_2b_3x3", 64, 3),
        _pool("max", "MaxPool_3a_3x3", 2, padding),
        _conv("Conv2d_3b_1x1", 80, 1, 1, padding),
        _conv("Conv2d_4a_3x3", 192, 3, 1, padding),
        _pool("max", "MaxPool_5a_3x3", 2, padding),
    ]


MIXED_5B = [
    [_conv("Conv2d_1x1", 96)],
    [_conv("Conv2d_0a_1x1", 48), _conv("Conv2d_0b_5x5", 64, 5)],
    [_conv("Conv2d_0a_1x1", 64), _conv("Conv2d_0b_3x3", 96, 3), _conv("Conv2d_0c_3x3", 96, 3)],
    [_pool("avg", "AvgPool_0a_3x3", 1, "SAME"), _conv("Conv2d_0b_1x1", 64)],
]


def _mixed_6a(stride, padding):
    return [
        [_conv("Conv2d_1a_3x3", 384, 3, stride, padding)],
        [_conv("Conv2d_0a_1x1", 256), _conv("Conv2d_0b_3x3", 256, 3), _conv("Conv2d_1a_3x3", 384, 3, stride, padding)],
        [_pool("max", "MaxPool_1a_3x3", stride, padding)],
    ]


def _mixed_7a(padding):
    return [
        [_conv("Conv2d_0a_1x1", 256), _conv("Conv2d_1a_3x3", 384, 3, 2, padding)],
        [_conv("Conv2d_0a_1x1", 256), _conv("Conv2d_1a_3x3", 288, 3, 2, padding)],
        [_conv("Conv2d_0a_1x1", 256), _conv("Conv2d_0b_3x3", 288, 3), _conv("Conv2d_1a_3x3", 320, 3, 2, padding)],
        [_pool("max", "MaxPool_1a_3x3", 2, padding)],
    ]


# The residual blocks' branches; their concatenation goes through the linear 1x1 'Conv2d_1x1'.
BLOCK35 = [
    [_conv("Conv2d_1x1", 32)],
    [_conv("Conv2d_0a_1x1", 32), _conv("Conv2d_0b_3x3", 32, 3)],
    [_conv("Conv2d_0a_1x1", 32), _conv("Conv2d_0b_3x3", 48, 3), _conv("Conv2d_0c_3x3", 64, 3)],
]
BLOCK17 = [
    [_conv("Conv2d_1x1", 192)],
    [_conv("Conv2d_0a_1x1", 128), _conv("Conv2d_0b_1x7", 160, [1, 7]), _conv("Conv2d_0c_7x1", 192, [7, 1])],
]
BLOCK8 = [
    [_conv("Conv2d_1x1", 192)],
    [_conv("Conv2d_0a_1x1", 192), _conv("Conv2d_0b_1x3", 224, [1, 3]), _conv("Conv2d_0c_3x1", 256, [3, 1])],
]


def _residual(net, branches, scale, activation_fn, scope, default_name, reuse):
    """net + scale * (linear 1x1 conv of the branches, back to net's depth), then activation_fn."""
    with tf.variable_scope(scope, default_name, [net], reuse=reuse):
        mixed = _module(net, branches)
        up = slim.conv2d(mixed, int(net.shape[3]), 1, normalizer_fn=None, activation_fn=None, scope="Conv2d_1x1")
        scaled_up = up * scale
        if activation_fn == tf.nn.relu6:
            # slim clips the residual too, so that the sum stays within relu6's band.
            scaled_up = tf.clip_by_value(scaled_up, -6.0, 6.0)
        net += scaled_up
        if activation_fn:
            net = activation_fn(net)
    return net


def block35(net, scale=1.0, activation_fn=tf.nn.relu, scope=None, reuse=None):
    """The 35x35 residual block: 1x1; 1x1 -> 3x3; 1x1 -> 3x3 -> 3x3 (128 channels to the 1x1)."""
    return _residual(net, BLOCK35, scale, activation_fn, scope, "Block35", reuse)


def block17(net, scale=1.0, activation_fn=tf.nn.relu, scope=None, reuse=None):
    """The 17x17 residual block: 1x1; 1x1 -> 1x7 -> 7x1 (384 channels to the 1x1)."""
    return _residual(net, BLOCK17, scale, activation_fn, scope, "Block17", reuse)


def block8(net, scale=1.0, activation_fn=tf.nn.relu, scope=None, reuse=None):
    """The 8x8 residual block: 1x1; 1x1 -> 1x3 -> 3x1 (448 channels to the 1x1)."""
    return _residual(net, BLOCK8, scale, activation_fn, scope, "Block8", reuse)


def _stages(padding, output_stride, activation_fn):
    """(end point or None, fn(net) -> net) for the base, in order."""
    for op in _stem(padding):
        yield op[1], functools.partial(_op, op=op)
    yield "Mixed_5b", functools.partial(_scoped_module, name="Mixed_5b", branches=MIXED_5B)
    yield None, lambda net: slim.repeat(net, 10, block35, scale=0.17, activation_fn=activation_fn)
    # output_stride 8 keeps the 35x35 map from here on (stride 1, block17's convs dilated by 2).
    atrous = output_stride == 8
    yield "Mixed_6a", functools.partial(_scoped_module, name="Mixed_6a",
                                        branches=_mixed_6a(1 if atrous else 2, padding))

    def blocks17(net):
        with slim.arg_scope([slim.conv2d], rate=2 if atrous else 1):
            return slim.repeat(net, 20, block17, scale=0.10, activation_fn=activation_fn)
    yield "PreAuxLogits", blocks17
    yield "Mixed_7a", functools.partial(_scoped_module, name="Mixed_7a", branches=_mixed_7a(padding))
    yield None, lambda net: slim.repeat(net, 9, block8, scale=0.20, activation_fn=activation_fn)
    yield None, lambda net: block8(net, activation_fn=None)
    yield "Conv2d_7b_1x1", functools.partial(_op, op=_conv("Conv2d_7b_1x1", 1536))


def _scoped_module(net, name, branches):
    with tf.variable_scope(name):
        return _module(net, branches)


def inception_resnet_v2_base(inputs, final_endpoint="Conv2d_7b_1x1", output_stride=16, align_feature_maps=False,
                             scope=None, activation_fn=tf.nn.relu):
    """The base from `inputs` to `final_endpoint` (one of END_POINTS) -> (net, end_points).

    output_stride 16 (slim's default) or 8 (Mixed_6a keeps the map, block17 is dilated; only up
    to 'PreAuxLogits'). align_feature_maps: 'SAME' padding for the stem's and reductions' VALID
    ops. activation_fn: of the residual blocks. ValueError, as in slim, for another
    output_stride, for output_stride 8 past 'PreAuxLogits' and for an unknown endpoint (here
    before building anything; slim builds the base that far first).
    """
    if output_stride not in (8, 16):
        raise ValueError("output_stride must be 8 or 16.")
    if final_endpoint not in END_POINTS:
        raise ValueError("final_endpoint (%s) not recognized" % final_endpoint)
    if output_stride == 8 and END_POINTS.index(final_endpoint) > END_POINTS.index("PreAuxLogits"):
        raise ValueError("output_stride==8 is only supported up to the PreAuxlogits end_point for now.")
    padding = "SAME" if align_feature_maps else "VALID"
    end_points = {}
    with tf.variable_scope(scope, "InceptionResnetV2", [inputs]):
        with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], stride=1, padding="SAME"):
            net = inputs
            for name, stage in _stages(padding, output_stride, activation_fn):
                net = stage(net)
                if name:
                    end_points[name] = net
                    if name == final_endpoint:
                        break
    return net, end_points


def inception_resnet_v2(inputs, num_classes=1001, is_training=True, dropout_keep_prob=0.8, reuse=None,
                        scope="InceptionResnetV2", create_aux_logits=True, activation_fn=tf.nn.relu, *,
                        aux_release_shapes=False):
    """The base, the auxiliary head 'AuxLogits' (if create_aux_logits and num_classes), an average
    pool over the whole map ('Logits/AvgPool_1a_8x8'; a mean 'global_pool' when the size is
    unknown), flatten, 'Dropout' and the fully connected 'Logits/Logits' -> (logits, end_points).

    logits: [B, num_classes]; with num_classes 0 or None the pooled features [B, 1, 1, 1536]
    (before dropout). end_points: the base's, 'AuxLogits', 'global_pool', 'PreLogitsFlatten' (the
    classifier's input, after dropout), 'Logits', 'Predictions'. activation_fn: of the residual
    blocks (the arg scope sets the convs').
    aux_release_shapes: tlslim's; keep the aux head's 5x5 conv at every input size (see the module).
    """
    with tf.variable_scope(scope, "InceptionResnetV2", [inputs], reuse=reuse) as sc:
        with slim.arg_scope([batch_norm, slim.dropout], is_training=is_training):
            net, end_points = inception_resnet_v2_base(inputs, scope=sc, activation_fn=activation_fn)
            if create_aux_logits and num_classes:
                with tf.variable_scope("AuxLogits"):
                    end_points["AuxLogits"] = fc_aux_logits(end_points["PreAuxLogits"], num_classes, aux_release_shapes,
                                                            "Conv2d_1a_3x3", "Conv2d_2a_5x5", "Logits")
            with tf.variable_scope("Logits"):
                net = pool_whole_map(net, end_points, "AvgPool_1a_8x8")
                if not num_classes:
                    return net, end_points
                net = slim.flatten(net)
                net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="Dropout")
                end_points["PreLogitsFlatten"] = net
                logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="Logits")
                end_points["Logits"] = logits
                end_points["Predictions"] = tf.nn.softmax(logits, name="Predictions")
    return logits, end_points


inception_resnet_v2.default_image_size = 299


def inception_resnet_v2_arg_scope(weight_decay=0.00004, batch_norm_decay=0.9997, batch_norm_epsilon=0.001,
                                  activation_fn=tf.nn.relu, batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS,
                                  batch_norm_scale=False):
    """slim's Inception-ResNet-v2 arg scope with tlslim's batch_norm: conv -> BN (no gamma unless
    batch_norm_scale) -> `activation_fn`, slim.conv2d's default initializer, L2 weight decay on
    the weights and biases of conv and fully connected layers (0 disables it)."""
    regularizer = slim.l2_regularizer(float(weight_decay))
    bn_params = {
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "updates_collections": batch_norm_updates_collections,
        "fused": None,
        "scale": batch_norm_scale,
    }
    with slim.arg_scope([slim.conv2d, slim.fully_connected], weights_regularizer=regularizer,
                        biases_regularizer=regularizer):
        with slim.arg_scope([slim.conv2d], activation_fn=activation_fn, normalizer_fn=batch_norm,
                            normalizer_params=bn_params) as sc:
            return sc


# ---- registry entry (tlslim's addition; the functions above are slim's API) ----

_S = "InceptionResnetV2"

register(NetInfo(
    name="inception_resnet_v2",
    # The aux head keeps its release shapes at every input size (see the module doc). The main
    # head pools the whole map at any size, so no global_pool switch is needed.
    builder=functools.partial(inception_resnet_v2, aux_release_shapes=True),
    arg_scope=inception_resnet_v2_arg_scope,
    scope=_S,
    head_scope=f"{_S}/Logits",
    aux_scopes=(f"{_S}/AuxLogits",),
    # From input to head, by the release's scopes: each run of residual blocks ('Repeat' for the
    # ten block35, 'Repeat_1' for the twenty block17, 'Repeat_2' for nine block8) is one block.
    # The aux head reads the block17 run, so it sits right after it: `top` reaches it after
    # Mixed_7a, and `discriminative` rates it between Mixed_7a and the block17 run.
    blocks=tuple(f"{_S}/{name}" for name in (
        "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "Mixed_5b", "Repeat",
        "Mixed_6a", "Repeat_1", "AuxLogits", "Mixed_7a", "Repeat_2", "Block8", "Conv2d_7b_1x1", "Logits")),
    default_image_size=299,
    min_image_size=32,
    num_classes=1001,
    preprocessing="inception",
    checkpoint_tarball="inception_resnet_v2_2016_08_30.tar.gz",
    checkpoint_file="inception_resnet_v2_2016_08_30.ckpt",
    manifest="inception_resnet_v2.json",
    prelogits_op="Logits/Logits/MatMul",
))
