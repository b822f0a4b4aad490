"""ResNet v2, the pre-activation ResNet (He et al. 2016, arXiv:1603.05027), with slim's API,
under the scopes of slim's released checkpoints.

    with slim.arg_scope(resnet_v2.resnet_arg_scope()):
        logits, end_points = resnet_v2.resnet_v2_50(images, 1001, is_training=False)

Batch norm + ReLU come before each weight layer: every unit starts with `preact` (BN + ReLU of
its input), and `postnorm` normalizes the last block's output. The root conv, the projection
shortcut and each unit's last conv have biases and no BN. The releases (2017_04_14) classify
1001 classes (class 0 = background) and were trained with Inception preprocessing.

Arguments and defaults follow tf_slim and research/slim as resnet_v1's do (see its module doc).
"""
from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets import resnet_utils
from tlslim.nets.resnet_utils import resnet_arg_scope

__all__ = ["bottleneck", "resnet_v2", "resnet_v2_block", "resnet_v2_50", "resnet_v2_101", "resnet_v2_152",
           "resnet_v2_200", "resnet_arg_scope"]


@slim.add_arg_scope
def bottleneck(inputs, depth, depth_bottleneck, stride, rate=1, outputs_collections=None, scope=None):
    """preact BN+ReLU, then 1x1 -> 3x3 (stride and atrous `rate` here) -> 1x1 convs, plus a
    shortcut; no final ReLU.

    The shortcut is the (subsampled) raw input when the depth is unchanged, else a strided
    1x1 conv with biases of the pre-activated input.
    """
    with tf.variable_scope(scope, "bottleneck_v2", [inputs]) as sc:
        depth_in = slim.utils.last_dimension(inputs.get_shape(), min_rank=4)
        preact = batch_norm(inputs, activation_fn=tf.nn.relu, scope="preact")
        if depth == depth_in:
            shortcut = resnet_utils.subsample(inputs, stride, "shortcut")
        else:
            shortcut = slim.conv2d(preact, depth, [1, 1], stride=stride, normalizer_fn=None, activation_fn=None,
                                   scope="shortcut")
        residual = slim.conv2d(preact, depth_bottleneck, [1, 1], stride=1, scope="conv1")
        residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride, rate=rate, scope="conv2")
        residual = slim.conv2d(residual, depth, [1, 1], stride=1, normalizer_fn=None, activation_fn=None,
                               scope="conv3")
        output = shortcut + residual
        return slim.utils.collect_named_outputs(outputs_collections, sc.name, output)


def resnet_v2(inputs, blocks, num_classes=None, is_training=True, global_pool=True, output_stride=None,
              include_root_block=True, reuse=None, scope=None, spatial_squeeze=False):
    """Root conv (no BN) and pool, `blocks`, postnorm, [global average pool], [1x1 `logits` conv].

    Arguments, the returned net and end_points as resnet_v1.resnet_v1's.
    """
    with tf.variable_scope(scope, "resnet_v2", [inputs], reuse=reuse) as sc:
        collection = sc.original_name_scope + "_end_points"
        with slim.arg_scope([slim.conv2d, bottleneck, resnet_utils.stack_blocks_dense],
                            outputs_collections=collection):
            with resnet_utils.training_scope(is_training):
                net = inputs
                if include_root_block:
                    # The first unit's preact normalizes conv1's output, so conv1 has no BN or ReLU.
                    net, output_stride = resnet_utils.root_block(net, output_stride, activation_fn=None,
                                                                 normalizer_fn=None)
                net = resnet_utils.stack_blocks_dense(net, blocks, output_stride)
                net = batch_norm(net, activation_fn=tf.nn.relu, scope="postnorm")
                end_points = slim.utils.convert_collection_to_dict(collection)
                return resnet_utils.pool_and_classify(net, num_classes, global_pool, spatial_squeeze, end_points,
                                                      sc.name)


resnet_v2.default_image_size = 224


def resnet_v2_block(scope, base_depth, num_units, stride):
    """A Block of `num_units` v2 bottleneck units (output depth 4 * base_depth); the last has `stride`."""
    return resnet_utils.bottleneck_block(scope, bottleneck, base_depth, num_units, stride)


def _resnet_v2_depth(depth, inputs, num_classes, is_training, global_pool, output_stride, reuse, scope,
                     spatial_squeeze):
    return resnet_v2(inputs, resnet_utils.blocks_for_depth(depth, resnet_v2_block), num_classes, is_training,
                     global_pool, output_stride, include_root_block=True, reuse=reuse, scope=scope,
                     spatial_squeeze=spatial_squeeze)


def resnet_v2_50(inputs, num_classes=None, is_training=True, global_pool=True, output_stride=None, reuse=None,
                 scope="resnet_v2_50", spatial_squeeze=True):
    """ResNet-50 v2: blocks of 3, 4, 6 and 3 units. See resnet_v2() (here spatial_squeeze defaults to True)."""
    return _resnet_v2_depth(50, inputs, num_classes, is_training, global_pool, output_stride, reuse, scope,
                            spatial_squeeze)


def resnet_v2_101(inputs, num_classes=None, is_training=True, global_pool=True, output_stride=None, reuse=None,
                  scope="resnet_v2_101", spatial_squeeze=True):
    """ResNet-101 v2: blocks of 3, 4, 23 and 3 units. See resnet_v2_50()."""
    return _resnet_v2_depth(101, inputs, num_classes, is_training, global_pool, output_stride, reuse, scope,
                            spatial_squeeze)


def resnet_v2_152(inputs, num_classes=None, is_training=True, global_pool=True, output_stride=None, reuse=None,
                  scope="resnet_v2_152", spatial_squeeze=True):
    """ResNet-152 v2: blocks of 3, 8, 36 and 3 units. See resnet_v2_50()."""
    return _resnet_v2_depth(152, inputs, num_classes, is_training, global_pool, output_stride, reuse, scope,
                            spatial_squeeze)


def resnet_v2_200(inputs, num_classes=None, is_training=True, global_pool=True, output_stride=None, reuse=None,
                  scope="resnet_v2_200", spatial_squeeze=True):
    """ResNet-200 v2: blocks of 3, 24, 36 and 3 units. See resnet_v2_50()."""
    return _resnet_v2_depth(200, inputs, num_classes, is_training, global_pool, output_stride, reuse, scope,
                            spatial_squeeze)


resnet_utils.register_resnets((resnet_v2_50, resnet_v2_101, resnet_v2_152), num_classes=1001, preprocessing="inception",
                              release_date="2017_04_14", extra_blocks=("postnorm",),
                              release_image_size=299)  # slim's README: the v2 releases are evaluated at 299
# slim publishes no ResNet-200 v2 checkpoint (its README lists it as 'TBA'): the family's metadata, no tarball.
resnet_utils.register_resnets((resnet_v2_200,), num_classes=1001, preprocessing="inception",
                              extra_blocks=("postnorm",))
