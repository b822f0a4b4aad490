"""ResNet v1 (He et al. 2015, arXiv:1512.03385) with slim's API, under the scopes of slim's
released checkpoints.

    with slim.arg_scope(resnet_v1.resnet_arg_scope()):
        logits, end_points = resnet_v1.resnet_v1_50(images, 1000, is_training=False)
        features, _ = resnet_v1.resnet_v1_50(images, None, is_training=False, global_pool=True)

Each conv is followed by batch norm (tlslim.layers.batch_norm, through the arg scope) and a
ReLU, except the last conv of a unit and the projection shortcut, whose BN output is added
before the ReLU. The releases (2016_08_28) classify 1000 ImageNet classes (no background
class) and were trained with VGG preprocessing. Inputs of any size >= 32 work with
global_pool, and at 224 the graph is slim's.

The generic `resnet_v1` takes tf_slim's arguments in tf_slim's order and, like tf_slim's,
returns [B, 1, 1, C] logits unless spatial_squeeze=True; the named builders squeeze by default,
as research/slim's do (tf_slim 1.1.0's named builders do not squeeze). research/slim's later
arguments (spatial_squeeze, store_non_strided_activations, min_base_depth, depth_multiplier,
use_bounded_activations) are accepted by keyword.
"""
from tlslim.compat import slim, tf
from tlslim.nets import resnet_utils
from tlslim.nets.resnet_utils import resnet_arg_scope

__all__ = ["bottleneck", "resnet_v1", "resnet_v1_block", "resnet_v1_50", "resnet_v1_101", "resnet_v1_152",
           "resnet_v1_200", "resnet_arg_scope"]


@slim.add_arg_scope
def bottleneck(inputs, depth, depth_bottleneck, stride, rate=1, outputs_collections=None, scope=None,
               use_bounded_activations=False):
    """1x1 -> 3x3 (stride and atrous `rate` here) -> 1x1 convs with BN after each, plus a shortcut,
    then ReLU.

    The shortcut is the (subsampled) input when the depth is unchanged, else a strided 1x1
    conv + BN named 'shortcut'. use_bounded_activations clips the residual to [-6, 6] and ends
    with ReLU6 (slim's option for quantized inference).
    """
    with tf.variable_scope(scope, "bottleneck_v1", [inputs]) as sc:
        depth_in = slim.utils.last_dimension(inputs.get_shape(), min_rank=4)
        if depth == depth_in:
            shortcut = resnet_utils.subsample(inputs, stride, "shortcut")
        else:
            shortcut = slim.conv2d(inputs, depth, [1, 1], stride=stride,
                                   activation_fn=tf.nn.relu6 if use_bounded_activations else None, scope="shortcut")
        residual = slim.conv2d(inputs, depth_bottleneck, [1, 1], stride=1, scope="conv1")
        residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride, rate=rate, scope="conv2")
        residual = slim.conv2d(residual, depth, [1, 1], stride=1, activation_fn=None, scope="conv3")
        if use_bounded_activations:
            output = tf.nn.relu6(shortcut + tf.clip_by_value(residual, -6.0, 6.0))
        else:
            output = tf.nn.relu(shortcut + residual)
        return slim.utils.collect_named_outputs(outputs_collections, sc.name, output)


def resnet_v1(inputs, blocks, num_classes=None, is_training=True, global_pool=True, output_stride=None,
              include_root_block=True, reuse=None, scope=None, spatial_squeeze=False,
              store_non_strided_activations=False):
    """Root block, `blocks`, [global average pool], [1x1 `logits` conv] -> (net, end_points).

    net: the logits, [B, 1, 1, num_classes] ([B, num_classes] with spatial_squeeze; [B, h, w,
    num_classes] without global_pool); with num_classes None or 0, the last block's output
    (pooled with global_pool). is_training (bool, bool tensor, or None to leave the batch norms
    as the arg scope sets them) goes to every batch norm. output_stride: see
    resnet_utils.stack_blocks_dense (a multiple of 4 with the root block).
    end_points: every conv, unit and block output by scope name, 'global_pool', '<scope>/logits',
    '<scope>/spatial_squeeze' and 'predictions', as slim's.
    """
    with tf.variable_scope(scope, "resnet_v1", [inputs], reuse=reuse) as sc:
        collection = sc.original_name_scope + "_end_points"
        with slim.arg_scope([slim.conv2d, bottleneck, resnet_utils.stack_blocks_dense],
                            outputs_collections=collection):
            with resnet_utils.training_scope(is_training):
                net = inputs
                if include_root_block:
                    net, output_stride = resnet_utils.root_block(net, output_stride)
                net = resnet_utils.stack_blocks_dense(net, blocks, output_stride,
                                                      store_non_strided_activations=store_non_strided_activations)
                end_points = slim.utils.convert_collection_to_dict(collection)
                return resnet_utils.pool_and_classify(net, num_classes, global_pool, spatial_squeeze, end_points,
                                                      sc.name)


resnet_v1.default_image_size = 224


def resnet_v1_block(scope, base_depth, num_units, stride):
    """A Block of `num_units` v1 bottleneck units (output depth 4 * base_depth); the last has `stride`."""
    return resnet_utils.bottleneck_block(scope, bottleneck, base_depth, num_units, stride)


def _resnet_v1_depth(depth, inputs, num_classes, is_training, global_pool, output_stride, reuse, scope,
                     spatial_squeeze, store_non_strided_activations, min_base_depth, depth_multiplier):
    blocks = resnet_utils.blocks_for_depth(depth, resnet_v1_block,
                                           lambda d: max(int(d * depth_multiplier), min_base_depth))
    return resnet_v1(inputs, blocks, num_classes, is_training, global_pool, output_stride, include_root_block=True,
                     reuse=reuse, scope=scope, spatial_squeeze=spatial_squeeze,
                     store_non_strided_activations=store_non_strided_activations)


def resnet_v1_50(inputs, num_classes=None, is_training=True, global_pool=True, output_stride=None, reuse=None,
                 scope="resnet_v1_50", spatial_squeeze=True, store_non_strided_activations=False, min_base_depth=8,
                 depth_multiplier=1):
    """ResNet-50 v1: blocks of 3, 4, 6 and 3 units. See resnet_v1() (here spatial_squeeze defaults to True)."""
    return _resnet_v1_depth(50, inputs, num_classes, is_training, global_pool, output_stride, reuse, scope,
                            spatial_squeeze, store_non_strided_activations, min_base_depth, depth_multiplier)


def resnet_v1_101(inputs, num_classes=None, is_training=True, global_pool=True, output_stride=None, reuse=None,
                  scope="resnet_v1_101", spatial_squeeze=True, store_non_strided_activations=False, min_base_depth=8,
                  depth_multiplier=1):
    """ResNet-101 v1: blocks of 3, 4, 23 and 3 units. See resnet_v1_50()."""
    return _resnet_v1_depth(101, inputs, num_classes, is_training, global_pool, output_stride, reuse, scope,
                            spatial_squeeze, store_non_strided_activations, min_base_depth, depth_multiplier)


def resnet_v1_152(inputs, num_classes=None, is_training=True, global_pool=True, output_stride=None, reuse=None,
                  scope="resnet_v1_152", spatial_squeeze=True, store_non_strided_activations=False, min_base_depth=8,
                  depth_multiplier=1):
    """ResNet-152 v1: blocks of 3, 8, 36 and 3 units. See resnet_v1_50()."""
    return _resnet_v1_depth(152, inputs, num_classes, is_training, global_pool, output_stride, reuse, scope,
                            spatial_squeeze, store_non_strided_activations, min_base_depth, depth_multiplier)


def resnet_v1_200(inputs, num_classes=None, is_training=True, global_pool=True, output_stride=None, reuse=None,
                  scope="resnet_v1_200", spatial_squeeze=True, store_non_strided_activations=False, min_base_depth=8,
                  depth_multiplier=1):
    """ResNet-200 v1: blocks of 3, 24, 36 and 3 units. See resnet_v1_50()."""
    return _resnet_v1_depth(200, inputs, num_classes, is_training, global_pool, output_stride, reuse, scope,
                            spatial_squeeze, store_non_strided_activations, min_base_depth, depth_multiplier)


resnet_utils.register_resnets((resnet_v1_50, resnet_v1_101, resnet_v1_152), num_classes=1000, preprocessing="vgg",
                              release_date="2016_08_28")
# slim publishes no ResNet-200 v1 checkpoint (its README lists none): the family's metadata, no tarball.
resnet_utils.register_resnets((resnet_v1_200,), num_classes=1000, preprocessing="vgg")
