"""Inception v4 (Szegedy et al. 2016, arXiv:1602.07261) with research/slim's API and the variable
scopes of slim's released checkpoint (inception_v4_2016_09_09: inception_v4.ckpt, 1001 classes
with class 0 = background, Inception preprocessing, evaluated at 299x299).

    with slim.arg_scope(inception_v4.inception_v4_arg_scope()):
        logits, end_points = inception_v4.inception_v4(images, 1001, is_training=False)

The base is a stem of three convs and three two-branch modules (Mixed_3a-5a, mostly 'VALID'),
then four Inception-A modules (Mixed_5b-5e, 35x35x384 at 299), Reduction-A (Mixed_6a), seven
Inception-B (Mixed_6b-6h, 17x17x1024), Reduction-B (Mixed_7a) and three Inception-C (Mixed_7b-7d,
8x8x1536). Every conv is conv -> BN (tlslim.layers.batch_norm where slim uses slim.batch_norm; no
gamma, as released) -> ReLU via the arg scope. Two fully connected classifiers: 'Logits' (average
pool over the whole map, dropout, flatten 'PreLogitsFlatten', 'Logits/Logits') on Mixed_7d and
'AuxLogits' (5x5/3 average pool, 1x1 conv, a VALID conv 'Conv2d_2a' as large as the map left,
flatten, 'Aux_logits') on Mixed_6h.

Small inputs. slim's graph needs at least 75x75 to build (Mixed_7a's 3x3 VALID reductions) and
107x107 with the auxiliary head (its 5x5 VALID pool); and only inputs that leave the aux head a
5x5 map (299 among them) give its 'Conv2d_2a' the release's 5x5 kernel. Where slim's graph would
have no output at all (a VALID op on a map smaller than its kernel) the op runs with 'SAME'
padding and the aux pool's window is cut to the map, so every size builds; everywhere slim's
graph is valid it is built exactly. `aux_release_shapes=True` (tlslim's argument; the registry
sets it) keeps 'Conv2d_2a' at 5x5 at every size: a smaller map is zero-padded to 5x5 (the kernel
applied once, centred) and a larger result is averaged, so the variables are the release's at
32x32 as at 299. The main head averages whatever map it gets, so its logits are [B, C] at every
size (a global mean 'global_pool' when the size is unknown, as in slim).

The registry entry is at the end of this module.
"""
import functools

from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.common import valid_or_same
from tlslim.nets.inception_utils import fc_aux_logits, inception_arg_scope, pool_whole_map
from tlslim.nets.registry import NetInfo, register

__all__ = ["inception_v4_base", "inception_v4", "inception_v4_arg_scope", "block_inception_a",
           "block_reduction_a", "block_inception_b", "block_reduction_b", "block_inception_c", "END_POINTS"]


# A module is a list of branches ('Branch_0', 'Branch_1', ...), each a list of ops applied in
# turn, the branches' outputs concatenated on channels. Ops:
#   ('conv', scope, depth, (kh, kw), stride, padding)
#   ('max' | 'avg', scope, stride, padding)   a 3x3 pool
#   ('split', op, op)                         two ops on the same input, concatenated
def _conv(scope, depth, kernel=(1, 1), stride=1, padding="SAME"):
    return ("conv", scope, depth, kernel, stride, padding)


def _reduce(scope, depth):
    """A 3x3/2 VALID conv, how every module that shrinks the map does it."""
    return _conv(scope, depth, (3, 3), 2, "VALID")


def _max_reduce(scope):
    return ("max", scope, 2, "VALID")


_AVG = ("avg", "AvgPool_0a_3x3", 1, "SAME")

INCEPTION_A = [
    [_conv("Conv2d_0a_1x1", 96)],
    [_conv("Conv2d_0a_1x1", 64), _conv("Conv2d_0b_3x3", 96, (3, 3))],
    [_conv("Conv2d_0a_1x1", 64), _conv("Conv2d_0b_3x3", 96, (3, 3)), _conv("Conv2d_0c_3x3", 96, (3, 3))],
    [_AVG, _conv("Conv2d_0b_1x1", 96)],
]
REDUCTION_A = [
    [_reduce("Conv2d_1a_3x3", 384)],
    [_conv("Conv2d_0a_1x1", 192), _conv("Conv2d_0b_3x3", 224, (3, 3)), _reduce("Conv2d_1a_3x3", 256)],
    [_max_reduce("MaxPool_1a_3x3")],
]
INCEPTION_B = [
    [_conv("Conv2d_0a_1x1", 384)],
    [_conv("Conv2d_0a_1x1", 192), _conv("Conv2d_0b_1x7", 224, (1, 7)), _conv("Conv2d_0c_7x1", 256, (7, 1))],
    [_conv("Conv2d_0a_1x1", 192), _conv("Conv2d_0b_7x1", 192, (7, 1)), _conv("Conv2d_0c_1x7", 224, (1, 7)),
     _conv("Conv2d_0d_7x1", 224, (7, 1)), _conv("Conv2d_0e_1x7", 256, (1, 7))],
    [_AVG, _conv("Conv2d_0b_1x1", 128)],
]
REDUCTION_B = [
    [_conv("Conv2d_0a_1x1", 192), _reduce("Conv2d_1a_3x3", 192)],
    [_conv("Conv2d_0a_1x1", 256), _conv("Conv2d_0b_1x7", 256, (1, 7)), _conv("Conv2d_0c_7x1", 320, (7, 1)),
     _reduce("Conv2d_1a_3x3", 320)],
    [_max_reduce("MaxPool_1a_3x3")],
]
INCEPTION_C = [
    [_conv("Conv2d_0a_1x1", 256)],
    [_conv("Conv2d_0a_1x1", 384),
     ("split", _conv("Conv2d_0b_1x3", 256, (1, 3)), _conv("Conv2d_0c_3x1", 256, (3, 1)))],
    [_conv("Conv2d_0a_1x1", 384), _conv("Conv2d_0b_3x1", 448, (3, 1)), _conv("Conv2d_0c_1x3", 512, (1, 3)),
     ("split", _conv("Conv2d_0d_1x3", 256, (1, 3)), _conv("Conv2d_0e_3x1", 256, (3, 1)))],
    [_AVG, _conv("Conv2d_0b_1x1", 256)],
]

# The base in order, by end point: a stem conv is one op (scoped by its end point), a module a
# list of branches.
BASE = {
    "Conv2d_1a_3x3": _conv("Conv2d_1a_3x3", 32, (3, 3), 2, "VALID"),
    "Conv2d_2a_3x3": _conv("Conv2d_2a_3x3", 32, (3, 3), 1, "VALID"),
    "Conv2d_2b_3x3": _conv("Conv2d_2b_3x3", 64, (3, 3)),
    "Mixed_3a": [[_max_reduce("MaxPool_0a_3x3")], [_reduce("Conv2d_0a_3x3", 96)]],
    "Mixed_4a": [
        [_conv("Conv2d_0a_1x1", 64), _conv("Conv2d_1a_3x3", 96, (3, 3), 1, "VALID")],
        [_conv("Conv2d_0a_1x1", 64), _conv("Conv2d_0b_1x7", 64, (1, 7)), _conv("Conv2d_0c_7x1", 64, (7, 1)),
         _conv("Conv2d_1a_3x3", 96, (3, 3), 1, "VALID")],
    ],
    "Mixed_5a": [[_reduce("Conv2d_1a_3x3", 192)], [_max_reduce("MaxPool_1a_3x3")]],
    **{f"Mixed_5{c}": INCEPTION_A for c in "bcde"},
    "Mixed_6a": REDUCTION_A,
    **{f"Mixed_6{c}": INCEPTION_B for c in "bcdefgh"},
    "Mixed_7a": REDUCTION_B,
    **{f"Mixed_7{c}": INCEPTION_C for c in "bcd"},
}
END_POINTS = tuple(BASE)


def _fit(net, kernel, padding):
    # 'SAME' only where slim's VALID op would have no output (a map smaller than the kernel).
    return valid_or_same(net, max(kernel)) if padding == "VALID" else padding


def _op(net, op):
    kind = op[0]
    if kind == "split":
        return tf.concat([_op(net, sub) for sub in op[1:]], 3)
    if kind == "conv":
        _, scope, depth, kernel, stride, padding = op
        return slim.conv2d(net, depth, list(kernel), stride=stride, padding=_fit(net, kernel, padding), scope=scope)
    _, scope, stride, padding = op
    pool = slim.max_pool2d if kind == "max" else slim.avg_pool2d
    return pool(net, [3, 3], stride=stride, padding=_fit(net, (3, 3), padding), scope=scope)


def _module(net, branches):
    outputs = []
    for i, ops in enumerate(branches):
        with tf.variable_scope(f"Branch_{i}"):
            branch = net
            for op in ops:
                branch = _op(branch, op)
            outputs.append(branch)
    return tf.concat(outputs, 3)


def _block(inputs, branches, scope, default_name, reuse):
    """slim's block functions: the module under its own scope, stride 1 and 'SAME' by default."""
    with slim.arg_scope([slim.conv2d, slim.avg_pool2d, slim.max_pool2d], stride=1, padding="SAME"):
        with tf.variable_scope(scope, default_name, [inputs], reuse=reuse):
            return _module(inputs, branches)


def block_inception_a(inputs, scope=None, reuse=None):
    """Inception-A (Mixed_5b-5e): 1x1; 1x1 -> 3x3; 1x1 -> 3x3 -> 3x3; avg pool -> 1x1 (384 out)."""
    return _block(inputs, INCEPTION_A, scope, "BlockInceptionA", reuse)


def block_reduction_a(inputs, scope=None, reuse=None):
    """Reduction-A (Mixed_6a): 3x3/2; 1x1 -> 3x3 -> 3x3/2; 3x3/2 max pool (halves the map)."""
    return _block(inputs, REDUCTION_A, scope, "BlockReductionA", reuse)


def block_inception_b(inputs, scope=None, reuse=None):
    """Inception-B (Mixed_6b-6h): 1x1; 1x1 -> 1x7 -> 7x1; 1x1 -> (7x1 -> 1x7) x 2; avg pool -> 1x1."""
    return _block(inputs, INCEPTION_B, scope, "BlockInceptionB", reuse)


def block_reduction_b(inputs, scope=None, reuse=None):
    """Reduction-B (Mixed_7a): 1x1 -> 3x3/2; 1x1 -> 1x7 -> 7x1 -> 3x3/2; 3x3/2 max pool."""
    return _block(inputs, REDUCTION_B, scope, "BlockReductionB", reuse)


def block_inception_c(inputs, scope=None, reuse=None):
    """Inception-C (Mixed_7b-7d): 1x1; 1x1 -> (1x3 | 3x1); 1x1 -> 3x1 -> 1x3 -> (1x3 | 3x1); avg pool -> 1x1."""
    return _block(inputs, INCEPTION_C, scope, "BlockInceptionC", reuse)


def inception_v4_base(inputs, final_endpoint="Mixed_7d", scope=None):
    """The base from `inputs` to `final_endpoint` (one of END_POINTS) -> (net, end_points).

    ValueError for an unknown endpoint, as in slim (here before building anything).
    """
    if final_endpoint not in BASE:
        raise ValueError("Unknown final endpoint %s" % final_endpoint)
    end_points = {}
    with tf.variable_scope(scope, "InceptionV4", [inputs]):
        with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], stride=1, padding="SAME"):
            net = inputs
            for name, spec in BASE.items():
                if isinstance(spec, tuple):
                    net = _op(net, spec)
                else:
                    with tf.variable_scope(name):
                        net = _module(net, spec)
                end_points[name] = net
                if name == final_endpoint:
                    break
    return net, end_points


def inception_v4(inputs, num_classes=1001, is_training=True, dropout_keep_prob=0.8, reuse=None, scope="InceptionV4",
                 create_aux_logits=True, *, aux_release_shapes=False):
    """The base, the auxiliary head 'AuxLogits' (if create_aux_logits and num_classes), an average
    pool over the whole map ('Logits/AvgPool_1a'; a mean 'global_pool' when the size is unknown),
    'Dropout_1b', 'PreLogitsFlatten' and the fully connected 'Logits/Logits' -> (logits, end_points).

    logits: [B, num_classes]; with num_classes 0 or None the pooled features [B, 1, 1, 1536]
    (before dropout). end_points: the base's, 'AuxLogits', 'global_pool', 'PreLogitsFlatten' (the
    classifier's input, after dropout), 'Logits', 'Predictions'.
    aux_release_shapes: tlslim's; keep the aux head's 5x5 conv at every input size (see the module).
    """
    with tf.variable_scope(scope, "InceptionV4", [inputs], reuse=reuse) as sc:
        with slim.arg_scope([batch_norm, slim.dropout], is_training=is_training):
            net, end_points = inception_v4_base(inputs, scope=sc)
            with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], stride=1, padding="SAME"):
                if create_aux_logits and num_classes:
                    with tf.variable_scope("AuxLogits"):
                        end_points["AuxLogits"] = fc_aux_logits(end_points["Mixed_6h"], num_classes, aux_release_shapes,
                                                                "AvgPool_1a_5x5", "Conv2d_2a", "Aux_logits")
                with tf.variable_scope("Logits"):
                    net = pool_whole_map(net, end_points, "AvgPool_1a")
                    if not num_classes:
                        return net, end_points
                    net = slim.dropout(net, dropout_keep_prob, scope="Dropout_1b")
                    net = end_points["PreLogitsFlatten"] = slim.flatten(net, scope="PreLogitsFlatten")
                    logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="Logits")
                    end_points["Logits"] = logits
                    end_points["Predictions"] = tf.nn.softmax(logits, name="Predictions")
    return logits, end_points


inception_v4.default_image_size = 299

# slim's Inception arg scope: conv -> BN (no gamma unless batch_norm_scale) -> ReLU, He
# initialization, L2 weight decay on conv and fully connected weights.
inception_v4_arg_scope = inception_arg_scope


# ---- registry entry (tlslim's addition; the functions above are slim's API) ----

register(NetInfo(
    name="inception_v4",
    # The aux head keeps its release shapes at every input size (see the module doc). The main
    # head pools the whole map at any size, so no global_pool switch is needed.
    builder=functools.partial(inception_v4, aux_release_shapes=True),
    arg_scope=inception_v4_arg_scope,
    scope="InceptionV4",
    head_scope="InceptionV4/Logits",
    aux_scopes=("InceptionV4/AuxLogits",),
    # From input to head. The aux head reads Mixed_6h, so it sits right after it: `top` reaches
    # it after Mixed_7a-7d, and `discriminative` rates it between Mixed_7a and Mixed_6h.
    blocks=tuple(f"InceptionV4/{name}" for name in END_POINTS[:END_POINTS.index("Mixed_6h") + 1])
    + ("InceptionV4/AuxLogits",)
    + tuple(f"InceptionV4/{name}" for name in END_POINTS[END_POINTS.index("Mixed_6h") + 1:])
    + ("InceptionV4/Logits",),
    default_image_size=299,
    min_image_size=32,
    num_classes=1001,
    preprocessing="inception",
    checkpoint_tarball="inception_v4_2016_09_09.tar.gz",
    checkpoint_file="inception_v4.ckpt",
    manifest="inception_v4.json",
    prelogits_op="Logits/Logits/MatMul",
))
