"""What ResNet v1 and v2 share, with slim's `resnet_utils` API, under TF-Slim's variable scopes.

A ResNet is a root block (7x7/2 conv + 3x3/2 max pool), `Block`s of residual units stacked by
`stack_blocks_dense`, then, for classification, a global average pool and a 1x1 conv
classifier (`pool_and_classify`). Units are scoped `<net>/blockN/unit_M/<unit>/...` as in the
released checkpoints. As in slim, a block downsamples in its last unit, and a strided 3x3 conv
pads explicitly so that even-sized inputs align like a stride-1 conv followed by subsampling
(`conv2d_same`).

Dense prediction works as in slim: `output_stride` (8, 16, ...) stops the striding once the
features reach that stride and uses atrous convolution from there on, so the later units see
the same receptive fields over a denser map.

The public names and signatures are tf_slim's (`Block`, `subsample`, `conv2d_same`,
`stack_blocks_dense`, `resnet_arg_scope`); research/slim's later arguments
(`store_non_strided_activations`, the arg scope's `activation_fn`, `use_batch_norm` and
`batch_norm_updates_collections`) are accepted by keyword. The batch norm is tlslim's
(`tlslim.layers.batch_norm`), as everywhere in tlslim.
"""
import collections

from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.registry import NetInfo, register

__all__ = ["Block", "subsample", "conv2d_same", "stack_blocks_dense", "resnet_arg_scope"]

# (base depth, units, stride) of each block for the depths slim defines.
_BASE_DEPTHS = (64, 128, 256, 512)
_STRIDES = (2, 2, 2, 1)
_UNITS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3), 200: (3, 24, 36, 3)}


class Block(collections.namedtuple("Block", ["scope", "unit_fn", "args"])):
    """A ResNet block: `unit_fn(net, rate=..., **args[i])` for each unit i, under `scope/unit_{i+1}`.

    args holds one dict per unit (e.g. depth, depth_bottleneck, stride).
    """


def bottleneck_block(scope, unit_fn, base_depth, num_units, stride):
    """A Block of `num_units` bottleneck units of output depth 4 * base_depth (and bottleneck
    depth base_depth); the last unit has `stride`, the others 1 (slim's resnet_v*_block)."""
    unit = {"depth": base_depth * 4, "depth_bottleneck": base_depth}
    return Block(scope, unit_fn, [dict(unit, stride=1)] * (num_units - 1) + [dict(unit, stride=stride)])


def blocks_for_depth(depth, block_fn, depth_fn=lambda d: d):
    """The four blocks of slim's `depth`-layer ResNet (50, 101, 152 or 200), each made by
    `block_fn(scope, base_depth, num_units, stride)`; `depth_fn` maps the base depths (slim's
    depth_multiplier)."""
    return [block_fn(f"block{i + 1}", base_depth=depth_fn(base), num_units=n, stride=stride)
            for i, (base, n, stride) in enumerate(zip(_BASE_DEPTHS, _UNITS[depth], _STRIDES))]


def subsample(inputs, factor, scope=None):
    """Keep every `factor`-th pixel (a 1x1 max pool with that stride); `inputs` for factor 1."""
    if factor == 1:
        return inputs
    return slim.max_pool2d(inputs, [1, 1], stride=factor, scope=scope)


def conv2d_same(inputs, num_outputs, kernel_size, stride, rate=1, scope=None):
    """A conv whose output is aligned like a stride-1 'SAME' conv followed by `subsample`.

    For stride > 1 the input is zero-padded by half the (atrous) kernel's extent before and the
    rest after, then convolved 'VALID'; TF's own strided 'SAME' would pad more after than before
    on even inputs.
    """
    if stride == 1:
        return slim.conv2d(inputs, num_outputs, kernel_size, stride=1, rate=rate, padding="SAME", scope=scope)
    extent = kernel_size + (kernel_size - 1) * (rate - 1)
    before = (extent - 1) // 2
    after = extent - 1 - before
    inputs = tf.pad(inputs, [[0, 0], [before, after], [before, after], [0, 0]])
    return slim.conv2d(inputs, num_outputs, kernel_size, stride=stride, rate=rate, padding="VALID", scope=scope)


@slim.add_arg_scope
def stack_blocks_dense(net, blocks, output_stride=None, outputs_collections=None,
                       store_non_strided_activations=False):
    """Apply `blocks` in order; each block's output is collected under its scope name.

    output_stride: None computes at the blocks' own strides. Otherwise the wanted ratio of input
    to output resolution (a product of unit strides from the start): once the features reach it,
    units run with stride 1 and later units' convolutions dilate by the strides skipped. A ratio
    the units cannot reach is a ValueError.
    store_non_strided_activations: each block's last unit runs at stride 1 and the block's
    output is collected before it is subsampled, so end_points hold the denser map.
    """
    current_stride = 1  # of the features so far
    rate = 1  # of the atrous convolutions, once output_stride is reached
    for block in blocks:
        with tf.variable_scope(block.scope, "block", [net]) as sc:
            block_stride = 1
            for i, unit in enumerate(block.args):
                if store_non_strided_activations and i == len(block.args) - 1:
                    block_stride, unit = unit.get("stride", 1), dict(unit, stride=1)
                with tf.variable_scope(f"unit_{i + 1}", values=[net]):
                    if output_stride is not None and current_stride == output_stride:
                        net = block.unit_fn(net, rate=rate, **dict(unit, stride=1))
                        rate *= unit.get("stride", 1)
                    else:
                        net = block.unit_fn(net, rate=1, **unit)
                        current_stride *= unit.get("stride", 1)
                        _check_reachable(current_stride, output_stride)
            net = slim.utils.collect_named_outputs(outputs_collections, sc.name, net)
            if output_stride is not None and current_stride == output_stride:
                rate *= block_stride
            else:
                net = subsample(net, block_stride)
                current_stride *= block_stride
                _check_reachable(current_stride, output_stride)
    if output_stride is not None and current_stride != output_stride:
        raise ValueError("The target output_stride cannot be reached.")
    return net


def _check_reachable(current_stride, output_stride):
    if output_stride is not None and current_stride > output_stride:
        raise ValueError("The target output_stride cannot be reached.")


def resnet_arg_scope(weight_decay=0.0001, batch_norm_decay=0.997, batch_norm_epsilon=1e-5, batch_norm_scale=True,
                     activation_fn=tf.nn.relu, use_batch_norm=True,
                     batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS):
    """slim's ResNet arg scope: every conv is conv -> batch norm -> `activation_fn` unless a layer
    says otherwise; He initialization; L2 weight decay; pool1 'SAME' (as slim's)."""
    bn_params = {
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "scale": batch_norm_scale,
        "updates_collections": batch_norm_updates_collections,
    }
    with slim.arg_scope([slim.conv2d],
                        weights_regularizer=slim.l2_regularizer(float(weight_decay)),
                        weights_initializer=slim.variance_scaling_initializer(),
                        activation_fn=activation_fn,
                        normalizer_fn=batch_norm if use_batch_norm else None,
                        normalizer_params=bn_params):
        with slim.arg_scope([batch_norm], **bn_params):
            with slim.arg_scope([slim.max_pool2d], padding="SAME") as sc:
                return sc


def training_scope(is_training):
    """An arg scope setting every batch norm's `is_training`; None leaves the caller's setting
    (slim's builders accept is_training=None for a batch norm configured outside)."""
    if is_training is None:
        return slim.arg_scope([])
    return slim.arg_scope([batch_norm], is_training=is_training)


def root_block(net, output_stride, **conv1_args):
    """conv1 (7x7/2, `conv2d_same`; `conv1_args` set its slim.conv2d arguments) and pool1 (3x3/2)
    -> (net, the output_stride the blocks must reach: a quarter of the net's)."""
    if output_stride is not None:
        if output_stride % 4 != 0:
            raise ValueError("The output_stride needs to be a multiple of 4.")
        output_stride //= 4
    with slim.arg_scope([slim.conv2d], **conv1_args):
        net = conv2d_same(net, 64, 7, stride=2, scope="conv1")
    net = slim.max_pool2d(net, [3, 3], stride=2, scope="pool1")
    return net, output_stride


def pool_and_classify(net, num_classes, global_pool, spatial_squeeze, end_points, scope_name):
    """slim's ResNet top: the global average pool ('global_pool'), then with num_classes the 1x1
    conv 'logits' (no normalizer, no activation; '<scope>/logits'), squeezed to [B, C] when
    `spatial_squeeze` ('<scope>/spatial_squeeze'), and 'predictions'. -> (net, end_points)."""
    if global_pool:
        net = tf.reduce_mean(net, [1, 2], name="pool5", keepdims=True)
        end_points["global_pool"] = net
    if num_classes:
        net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="logits")
        end_points[scope_name + "/logits"] = net
        if spatial_squeeze:
            net = tf.squeeze(net, [1, 2], name="SpatialSqueeze")
            end_points[scope_name + "/spatial_squeeze"] = net
        end_points["predictions"] = slim.softmax(net, scope="predictions")
    return net, end_points


def register_resnets(builders, num_classes, preprocessing, release_date=None, extra_blocks=(),
                     release_image_size=224):
    """Register each `resnet_<version>_<depth>` builder (named so) with its release checkpoint
    `<name>_<release_date>.tar.gz` of `num_classes` classes (none without a date) and blocks
    conv1, block1..4, `extra_blocks` (scope names), logits; the registry's default size is the
    one the release was evaluated at (slim's builders keep their own default_image_size, 224)."""
    for fn in builders:
        name = fn.__name__
        fn.default_image_size = 224
        register(NetInfo(
            name=name, builder=fn, arg_scope=resnet_arg_scope, scope=name, head_scope=f"{name}/logits",
            blocks=tuple(f"{name}/{b}" for b in ("conv1", "block1", "block2", "block3", "block4")
                         + tuple(extra_blocks) + ("logits",)),
            default_image_size=release_image_size, min_image_size=32, num_classes=num_classes,
            preprocessing=preprocessing,
            checkpoint_tarball=f"{name}_{release_date}.tar.gz" if release_date else None,
            checkpoint_file=f"{name}.ckpt" if release_date else None,
            manifest=f"{name}.json", prelogits_op="logits/Conv2D"))
