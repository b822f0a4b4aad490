"""AlexNet v2 with slim's API, under the variable scopes of TF-Slim's `alexnet_v2`.

Krizhevsky, "One weird trick for parallelizing convolutional neural networks"
(arXiv:1404.5997); slim's version has no LRN and turns the fully connected layers into
convolutions (fc6 a 5x5 VALID convolution over the pool5 map, fc7/fc8 1x1).

At 224x224 the graph is exactly slim's, and larger images give slim's dense map without
spatial_squeeze. Smaller images, where slim's graph cannot be built at all, build with the same
variables: a 3x3/2 max pool whose input map is smaller than 3x3 uses SAME padding instead of
VALID (so a 2x2 or 1x1 map becomes 1x1 instead of failing), fc6 uses SAME padding when the pool5
map is smaller than 5x5 (convolving with only the taps that meet the map, see
`tlslim.nets.common.fc_conv2d`), and fc7 is then average-pooled to 1x1 when it is larger (VGG's
head: `tlslim.nets.common.conv_fc_head`). conv1 stays an 11x11/4 VALID convolution, so images
need at least 11x11.
"""
from tlslim.compat import slim, tf
from tlslim.nets.common import any_size_classifier, conv_fc_head, fc_conv2d, trunc_normal, valid_or_same
from tlslim.nets.registry import NetInfo, register

_POOL = 3
_FC6_KERNEL = 5


def alexnet_v2_arg_scope(weight_decay=0.0005):
    """slim's AlexNet arg scope: ReLU, L2 weight decay, biases 0.1, SAME convs, VALID pools."""
    with slim.arg_scope([slim.conv2d, slim.fully_connected],
                        activation_fn=tf.nn.relu,
                        biases_initializer=tf.constant_initializer(0.1),
                        weights_regularizer=slim.l2_regularizer(weight_decay)):
        with slim.arg_scope([slim.conv2d], padding="SAME"):
            with slim.arg_scope([slim.max_pool2d], padding="VALID") as sc:
                return sc


def _max_pool(net, scope):
    """slim's 3x3/2 VALID max pool, or SAME when the map is smaller than the window."""
    return slim.max_pool2d(net, [_POOL, _POOL], 2, padding=valid_or_same(net, _POOL), scope=scope)


def alexnet_v2(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5, spatial_squeeze=True,
               scope="alexnet_v2", global_pool=False, fc_conv_padding="VALID"):
    """AlexNet v2 -> (logits, end_points), as slim's `alexnet_v2`.

    logits: [B, num_classes], or [B, h, w, num_classes] without spatial_squeeze (h = w = 1 at
    224x224); with num_classes 0 or None, fc7's output instead. global_pool averages fc7 to 1x1.
    end_points: every conv and pool, 'fc6', 'fc7', 'global_pool' when pooled, '<scope>/fc8'.
    fc_conv_padding (tlslim's; slim's fc6 is always VALID): 'SAME' keeps a larger image's map
    downsampled by 32, as VGG's argument of that name.
    """
    with tf.variable_scope(scope, "alexnet_v2", [inputs]) as sc:
        collection = sc.original_name_scope + "_end_points"
        with slim.arg_scope([slim.conv2d, fc_conv2d, slim.fully_connected, slim.max_pool2d],
                            outputs_collections=[collection]):
            net = slim.conv2d(inputs, 64, [11, 11], 4, padding="VALID", scope="conv1")
            net = _max_pool(net, "pool1")
            net = slim.conv2d(net, 192, [5, 5], scope="conv2")
            net = _max_pool(net, "pool2")
            net = slim.conv2d(net, 384, [3, 3], scope="conv3")
            net = slim.conv2d(net, 384, [3, 3], scope="conv4")
            net = slim.conv2d(net, 256, [3, 3], scope="conv5")
            net = _max_pool(net, "pool5")

            with slim.arg_scope([slim.conv2d],
                                weights_initializer=trunc_normal(0.005),
                                biases_initializer=tf.constant_initializer(0.1)):
                # As in slim, fc8 alone starts from zero biases.
                return conv_fc_head(net, num_classes, _FC6_KERNEL, is_training, dropout_keep_prob, spatial_squeeze,
                                    fc_conv_padding, global_pool, collection, sc.name,
                                    biases_initializer=tf.zeros_initializer())


alexnet_v2.default_image_size = 224

register(NetInfo(
    name="alexnet_v2",
    builder=any_size_classifier(alexnet_v2),
    arg_scope=alexnet_v2_arg_scope,
    scope="alexnet_v2",
    head_scope="alexnet_v2/fc8",
    blocks=tuple(f"alexnet_v2/conv{i}" for i in range(1, 6)) + tuple(
        f"alexnet_v2/fc{i}" for i in (6, 7, 8)),
    default_image_size=224,
    min_image_size=11,  # conv1 is an 11x11 VALID convolution; every later layer adapts
    num_classes=1000,
    preprocessing="inception",
    manifest="alexnet_v2.json",
    prelogits_op="fc8/Conv2D",
))
