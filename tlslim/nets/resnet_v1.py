"""ResNet v1 (He et al. 2015, arXiv:1512.03385) under the scopes of slim's released checkpoints.

    with slim.arg_scope(resnet_v1.resnet_arg_scope()):
        logits, end_points = resnet_v1.resnet_v1_50(images, 1000, is_training=False)

Each conv is followed by batch norm (tlslim.layers.batch_norm, through the arg scope) and a
ReLU, except the last conv of a unit and the projection shortcut, whose BN output is added
before the ReLU. The releases (2016_08_28) classify 1000 ImageNet classes (no background
class) and were trained with VGG preprocessing. Inputs of any size >= 32 work: the features
are global-average-pooled before the classifier, and at 224 the graph is slim's.
"""
from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets import resnet_utils
from tlslim.nets.registry import NetInfo, register
from tlslim.nets.resnet_utils import resnet_arg_scope

__all__ = ["bottleneck", "resnet_v1", "resnet_v1_50", "resnet_v1_101", "resnet_v1_152", "resnet_v1_200",
           "resnet_arg_scope"]


@slim.add_arg_scope
def bottleneck(inputs, depth, depth_bottleneck, stride, outputs_collections=None, scope=None):
    """1x1 -> 3x3 (stride here) -> 1x1 convs with BN after each, plus a shortcut, then ReLU.

    The shortcut is the (subsampled) input when the depth is unchanged, else a strided 1x1
    conv + BN named 'shortcut'.
    """
    with tf.variable_scope(scope, "bottleneck_v1", [inputs]) as sc:
        depth_in = slim.utils.last_dimension(inputs.get_shape(), min_rank=4)
        if depth == depth_in:
            shortcut = resnet_utils.subsample(inputs, stride, "shortcut")
        else:
            shortcut = slim.conv2d(inputs, depth, [1, 1], stride=stride, activation_fn=None, scope="shortcut")
        residual = slim.conv2d(inputs, depth_bottleneck, [1, 1], stride=1, scope="conv1")
        residual = resnet_utils.conv2d_same(residual, depth_bottleneck, 3, stride, scope="conv2")
        residual = slim.conv2d(residual, depth, [1, 1], stride=1, activation_fn=None, scope="conv3")
        output = tf.nn.relu(shortcut + residual)
        return slim.utils.collect_named_outputs(outputs_collections, sc.name, output)


def resnet_v1(inputs, blocks, num_classes=None, is_training=True, spatial_squeeze=True, reuse=None, scope=None):
    """Root, `blocks`, global average pool and 1x1 `logits` conv -> (logits, end_points).

    logits: [B, num_classes] ([B,1,1,num_classes] if not spatial_squeeze; the pooled features
    if num_classes is None or 0). `is_training` (bool or bool tensor) goes to every batch norm.
    end_points has slim's keys (every conv, unit and block output by scope name, 'global_pool',
    '<scope>/logits', 'predictions') plus PreLogits, the pooled [B,1,1,2048] vector.
    """
    with tf.variable_scope(scope, "resnet_v1", [inputs], reuse=reuse) as sc:
        collection = sc.original_name_scope + "_end_points"
        with slim.arg_scope([slim.conv2d, bottleneck, resnet_utils.stack_blocks], outputs_collections=collection):
            with slim.arg_scope([batch_norm], is_training=is_training):
                net = resnet_utils.conv2d_same(inputs, 64, 7, stride=2, scope="conv1")
                net = slim.max_pool2d(net, [3, 3], stride=2, scope="pool1")
                net = resnet_utils.stack_blocks(net, blocks)
                end_points = slim.utils.convert_collection_to_dict(collection)
                return resnet_utils.global_pool_and_logits(net, num_classes, end_points, sc.name, spatial_squeeze)


def resnet_v1_50(inputs, num_classes=None, is_training=True, spatial_squeeze=True, reuse=None,
                 scope="resnet_v1_50"):
    """ResNet-50 v1; see resnet_v1()."""
    return resnet_v1(inputs, resnet_utils.blocks_for_depth(50, bottleneck), num_classes, is_training=is_training,
                     spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope or "resnet_v1_50")


def resnet_v1_101(inputs, num_classes=None, is_training=True, spatial_squeeze=True, reuse=None,
                  scope="resnet_v1_101"):
    """ResNet-101 v1; see resnet_v1()."""
    return resnet_v1(inputs, resnet_utils.blocks_for_depth(101, bottleneck), num_classes, is_training=is_training,
                     spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope or "resnet_v1_101")


def resnet_v1_152(inputs, num_classes=None, is_training=True, spatial_squeeze=True, reuse=None,
                  scope="resnet_v1_152"):
    """ResNet-152 v1; see resnet_v1()."""
    return resnet_v1(inputs, resnet_utils.blocks_for_depth(152, bottleneck), num_classes, is_training=is_training,
                     spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope or "resnet_v1_152")


def resnet_v1_200(inputs, num_classes=None, is_training=True, spatial_squeeze=True, reuse=None,
                  scope="resnet_v1_200"):
    """ResNet-200 v1; see resnet_v1(). Blocks of 3, 24, 36 and 3 bottleneck units, as slim's."""
    return resnet_v1(inputs, _blocks_200(), num_classes, is_training=is_training,
                     spatial_squeeze=spatial_squeeze, reuse=reuse, scope=scope or "resnet_v1_200")


def _blocks_200():
    return [resnet_utils.bottleneck_block(f"block{i + 1}", bottleneck, base, n, stride)
            for i, (base, n, stride) in enumerate(zip(resnet_utils.BASE_DEPTHS, (3, 24, 36, 3),
                                                      resnet_utils.BLOCK_STRIDES))]


resnet_utils.register_resnets((resnet_v1_50, resnet_v1_101, resnet_v1_152), num_classes=1000, preprocessing="vgg",
                              release_date="2016_08_28")

# slim publishes no ResNet-200 v1 checkpoint (its README lists none): registered with the
# family's metadata and no release tarball.
resnet_v1_200.default_image_size = 224
register(NetInfo(
    name="resnet_v1_200", builder=resnet_v1_200, arg_scope=resnet_arg_scope, scope="resnet_v1_200",
    head_scope="resnet_v1_200/logits",
    blocks=tuple(f"resnet_v1_200/{b}" for b in ("conv1", "block1", "block2", "block3", "block4", "logits")),
    default_image_size=224, min_image_size=32, num_classes=1000, preprocessing="vgg",
    manifest="resnet_v1_200.json"))
