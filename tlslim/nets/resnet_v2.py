"""ResNet v2, the pre-activation ResNet (He et al. 2016, arXiv:1603.05027), under the scopes of
slim's released checkpoints.

    with slim.arg_scope(resnet_v2.resnet_arg_scope()):
        logits, end_points = resnet_v2.resnet_v2_50(images, 1001, is_training=False)

Batch norm + ReLU come before each weight layer: every unit starts with `preact` (BN + ReLU of
its input), and `postnorm` normalizes the last block's output. The root conv, the projection
shortcut and each unit's last conv have biases and no BN. The releases (2017_04_14) classify
1001 classes (class 0 = background) and were trained with Inception preprocessing.
"""
from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets import resnet_utils
from tlslim.nets.registry import NetInfo, register
from tlslim.nets.resnet_utils import resnet_arg_scope

__all__ = ["bottleneck", "resnet_v2", "resnet_v2_50", "resnet_v2_101", "resnet_v2_152", "resnet_v2_200",
           "resnet_arg_scope"]


@slim.add_arg_scope
def bottleneck(inputs, depth, depth_bottleneck, stride, outputs_collections=None, scope=None):
    """preact BN+ReLU, then 1x1 -> 3x3 (stride here) -> 1x1 convs, plus a shortcut; no final ReLU.

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
        residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride, scope="conv2")
        residual = slim.conv2d(residual, depth, [1, 1], stride=1, normalizer_fn=None, activation_fn=None,
                               scope="conv3")
        output = shortcut + residual
        return slim.utils.collect_named_outputs(outputs_collections, sc.name, output)


def resnet_v2(inputs, blocks, num_classes=None, is_training=True, spatial_squeeze=True, reuse=None, scope=None):
    """Root conv (no BN), `blocks`, postnorm, global average pool, 1x1 `logits` conv.

    Returns (logits, end_points) as resnet_v1.resnet_v1 does; PreLogits is the pooled
    [B,1,1,2048] vector after postnorm.
    """
    with tf.variable_scope(scope, "resnet_v2", [inputs], reuse=reuse) as sc:
        collection = sc.original_name_scope + "_end_points"
        with slim.arg_scope([slim.conv2d, bottleneck, resnet_utils.stack_blocks], outputs_collections=collection):
            with slim.arg_scope([batch_norm], is_training=is_training):
                # The first unit's preact normalizes conv1's output, so conv1 has no BN or ReLU.
                with slim.arg_scope([slim.conv2d], activation_fn=None, normalizer_fn=None):
                    net = resnet_utils.conv2d_same(inputs, 64, 7, stride=2, scope="conv1")
                net = slim.max_pool2d(net, [3, 3], stride=2, scope="pool1")
                net = resnet_utils.stack_blocks(net, blocks)
                net = batch_norm(net, activation_fn=tf.nn.relu, scope="postnorm")
                end_points = slim.utils.convert_collection_to_dict(collection)
                return resnet_utils.global_pool_and_logits(net, num_classes, end_points, sc.name, spatial_squeeze)


def resnet_v2_50(inputs, num_classes=None, is_training=True, spatial_squeeze=True, reuse=None,
                 scope="resnet_v2_50"):
    """ResNet-50 v2; see resnet_v2()."""
    return resnet_v2(inputs, resnet_utils.blocks_for_depth(50, bottleneck), num_classes, is_training=is_training,
                     spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope)


def resnet_v2_101(inputs, num_classes=None, is_training=True, spatial_squeeze=True, reuse=None,
                  scope="resnet_v2_101"):
    """ResNet-101 v2; see resnet_v2()."""
    return resnet_v2(inputs, resnet_utils.blocks_for_depth(101, bottleneck), num_classes, is_training=is_training,
                     spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope)


def resnet_v2_152(inputs, num_classes=None, is_training=True, spatial_squeeze=True, reuse=None,
                  scope="resnet_v2_152"):
    """ResNet-152 v2; see resnet_v2()."""
    return resnet_v2(inputs, resnet_utils.blocks_for_depth(152, bottleneck), num_classes, is_training=is_training,
                     spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope)


def resnet_v2_200(inputs, num_classes=None, is_training=True, spatial_squeeze=True, reuse=None,
                  scope="resnet_v2_200"):
    """ResNet-200 v2; see resnet_v2(). Blocks of 3, 24, 36 and 3 bottleneck units, as slim's."""
    return resnet_v2(inputs, _blocks_200(), num_classes, is_training=is_training,
                     spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope)


def _blocks_200():
    return [resnet_utils.bottleneck_block(f"block{i + 1}", bottleneck, base, n, stride)
            for i, (base, n, stride) in enumerate(zip(resnet_utils.BASE_DEPTHS, (3, 24, 36, 3),
                                                      resnet_utils.BLOCK_STRIDES))]


resnet_utils.register_resnets((resnet_v2_50, resnet_v2_101, resnet_v2_152), num_classes=1001, preprocessing="inception",
                              release_date="2017_04_14", extra_blocks=("postnorm",),
                              release_image_size=299)  # slim's README: the v2 releases are evaluated at 299

# slim publishes no ResNet-200 v2 checkpoint (its README lists resnet_v2_200 as 'TBA'):
# registered with the family's metadata and no release tarball.
resnet_v2_200.default_image_size = 224
register(NetInfo(
    name="resnet_v2_200", builder=resnet_v2_200, arg_scope=resnet_arg_scope, scope="resnet_v2_200",
    head_scope="resnet_v2_200/logits",
    blocks=tuple(f"resnet_v2_200/{b}"
                 for b in ("conv1", "block1", "block2", "block3", "block4", "postnorm", "logits")),
    default_image_size=224, min_image_size=32, num_classes=1001, preprocessing="inception",
    manifest="resnet_v2_200.json"))
