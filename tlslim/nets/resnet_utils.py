"""Building blocks shared by ResNet v1 and v2, under TF-Slim's variable scopes.

A ResNet is a root (7x7/2 conv + 3x3/2 max pool), four blocks of bottleneck units, global
average pooling and a 1x1 conv classifier. Blocks are scoped `<net>/blockN/unit_M/<unit>/...`
as in the released checkpoints. As in slim, a block downsamples in its last unit, and the
3x3 conv of a strided unit pads explicitly so even-sized inputs align the same way as
TF-Slim's (`conv2d_same`). `register_resnets` registers a version's 50/101/152 builders.

Dense prediction (`output_stride`, atrous rates) is not supported: tlslim builds classifiers.
"""
import collections

from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.registry import PENULTIMATE, NetInfo, register

# Units per block for each depth; slim's resnet_v{1,2}_{50,101,152}.
UNITS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
BASE_DEPTHS = (64, 128, 256, 512)
BLOCK_STRIDES = (2, 2, 2, 1)


class Block(collections.namedtuple("Block", ["scope", "unit_fn", "args"])):
    """A ResNet block: `unit_fn(net, **args[i])` for each unit, under `scope/unit_{i+1}`."""


def bottleneck_block(scope, unit_fn, base_depth, num_units, stride):
    """A block of `num_units` bottleneck units of output depth 4*base_depth; the last has `stride`."""
    unit = {"depth": base_depth * 4, "depth_bottleneck": base_depth}
    return Block(scope, unit_fn, [dict(unit, stride=1)] * (num_units - 1) + [dict(unit, stride=stride)])


def blocks_for_depth(depth, unit_fn):
    """The four Blocks of a `depth`-layer ResNet (50, 101 or 152)."""
    return [bottleneck_block(f"block{i + 1}", unit_fn, base, n, stride)
            for i, (base, n, stride) in enumerate(zip(BASE_DEPTHS, UNITS[depth], BLOCK_STRIDES))]


def subsample(inputs, factor, scope=None):
    """Keep every `factor`-th pixel (a 1x1 max pool with that stride); identity for factor 1."""
    if factor == 1:
        return inputs
    return slim.max_pool2d(inputs, [1, 1], stride=factor, scope=scope)


def conv2d_same(inputs, num_outputs, kernel_size, stride, scope=None):
    """A conv whose output is aligned like a stride-1 'SAME' conv followed by subsampling.

    For stride > 1 the input is zero-padded by (k-1)//2 before and the rest after, then
    convolved with 'VALID' padding; TF's own 'SAME' would pad asymmetrically on even inputs.
    """
    if stride == 1:
        return slim.conv2d(inputs, num_outputs, kernel_size, stride=1, padding="SAME", scope=scope)
    pad_beg = (kernel_size - 1) // 2
    pad_end = kernel_size - 1 - pad_beg
    inputs = tf.pad(inputs, [[0, 0], [pad_beg, pad_end], [pad_beg, pad_end], [0, 0]])
    return slim.conv2d(inputs, num_outputs, kernel_size, stride=stride, padding="VALID", scope=scope)


@slim.add_arg_scope
def stack_blocks(net, blocks, outputs_collections=None):
    """Apply `blocks` in order; each block's output is collected under its scope name."""
    for block in blocks:
        with tf.variable_scope(block.scope, "block", [net]) as sc:
            for i, unit in enumerate(block.args):
                with tf.variable_scope(f"unit_{i + 1}", values=[net]):
                    net = block.unit_fn(net, **unit)
            net = slim.utils.collect_named_outputs(outputs_collections, sc.name, net)
    return net


def resnet_arg_scope(weight_decay=0.0001, batch_norm_decay=0.997, batch_norm_epsilon=1e-5,
                     batch_norm_scale=True):
    """slim's ResNet arg scope with tlslim's batch_norm: every conv is conv -> BN -> ReLU unless
    a layer says otherwise; He initialization; L2 weight decay (0 disables it)."""
    bn_params = {
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "scale": batch_norm_scale,
        "updates_collections": tf.GraphKeys.UPDATE_OPS,
    }
    with slim.arg_scope([slim.conv2d],
                        weights_regularizer=slim.l2_regularizer(float(weight_decay)),
                        weights_initializer=slim.variance_scaling_initializer(),
                        activation_fn=tf.nn.relu,
                        normalizer_fn=batch_norm,
                        normalizer_params=bn_params):
        with slim.arg_scope([batch_norm], **bn_params):
            # pool1 uses 'SAME' padding, as in slim.
            with slim.arg_scope([slim.max_pool2d], padding="SAME") as sc:
                return sc


def global_pool_and_logits(net, num_classes, end_points, scope_name, spatial_squeeze=True):
    """Global average pool, then the 1x1 conv `logits` (no BN, no activation), slim's end_points.

    Adds 'global_pool' and PreLogits (the pooled [B,1,1,C] vector), '<scope>/logits',
    '<scope>/spatial_squeeze' and 'predictions'. With num_classes None or 0, returns the pooled
    features.
    """
    net = tf.reduce_mean(net, [1, 2], name="pool5", keepdims=True)
    end_points["global_pool"] = net
    end_points[PENULTIMATE] = net
    if not num_classes:
        return net, end_points
    net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="logits")
    end_points[scope_name + "/logits"] = net
    if spatial_squeeze:
        net = tf.squeeze(net, [1, 2], name="SpatialSqueeze")
        end_points[scope_name + "/spatial_squeeze"] = net
    end_points["predictions"] = slim.softmax(net, scope="predictions")
    return net, end_points


def register_resnets(builders, num_classes, preprocessing, release_date, extra_blocks=(), release_image_size=224):
    """Register each `resnet_<version>_<depth>` builder (named so) with its release checkpoint
    `<name>_<release_date>.tar.gz` of `num_classes` classes and blocks conv1, block1..4,
    `extra_blocks` (scope names), logits; the registry's default size is the one the release was
    evaluated at (slim's builders keep their own default_image_size, 224)."""
    for fn in builders:
        name = fn.__name__
        fn.default_image_size = 224
        register(NetInfo(
            name=name, builder=fn, arg_scope=resnet_arg_scope, scope=name, head_scope=f"{name}/logits",
            blocks=tuple(f"{name}/{b}" for b in ("conv1", "block1", "block2", "block3", "block4")
                         + tuple(extra_blocks) + ("logits",)),
            default_image_size=release_image_size, min_image_size=32, num_classes=num_classes,
            preprocessing=preprocessing, checkpoint_tarball=f"{name}_{release_date}.tar.gz", checkpoint_file=f"{name}.ckpt",
            manifest=f"{name}.json"))
