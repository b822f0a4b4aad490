"""OverFeat (Sermanet et al. 2014, arXiv:1312.6229) with research/slim's API and variable scopes.

    with slim.arg_scope(overfeat.overfeat_arg_scope()):
        logits, end_points = overfeat.overfeat(images, 1000, is_training=False)

Five convolutions (conv1 11x11/4 and conv2 5x5 VALID, conv3-5 3x3 SAME), each of conv1, conv2
and conv5 followed by a 2x2/2 VALID max pool, then the 'fully connected' layers as
convolutions: fc6 6x6 VALID (3072), fc7 1x1 (4096), fc8 1x1 (the classes, linear), with
dropout after fc6 and fc7. At 231x231, the default size, pool5 is 6x6 and fc6 leaves 1x1; this
is slim's graph exactly.

Smaller inputs, where slim's graph cannot be built at all, keep the same variables: conv2, a
pool or fc6 whose input map is smaller than its window uses SAME padding instead of VALID (fc6
through `tlslim.nets.common.fc_conv2d`), and fc7 is then averaged to 1x1 when it is larger. conv1
stays an 11x11 VALID convolution, so images need at least 11x11. The registry's builder also
averages fc7 to 1x1 whenever it is larger.
No release checkpoint exists (research/slim's table lists none); 1000 classes, VGG
preprocessing as slim's preprocessing_factory assigns it.
"""
from tlslim.compat import slim, tf
from tlslim.nets.common import (any_size_classifier, fc_conv2d, fc_padding, needs_global_pool, spatial_size,
                                trunc_normal, valid_or_same)
from tlslim.nets.registry import NetInfo, register

__all__ = ["overfeat", "overfeat_arg_scope", "trunc_normal"]

_FC6_KERNEL = 6


def overfeat_arg_scope(weight_decay=0.0005):
    """slim's OverFeat arg scope: ReLU, L2 weight decay, zero biases, SAME convs, VALID pools."""
    with slim.arg_scope([slim.conv2d, slim.fully_connected],
                        activation_fn=tf.nn.relu,
                        weights_regularizer=slim.l2_regularizer(weight_decay),
                        biases_initializer=tf.zeros_initializer()):
        with slim.arg_scope([slim.conv2d], padding="SAME"):
            with slim.arg_scope([slim.max_pool2d], padding="VALID") as sc:
                return sc


def _pool(net, scope):
    # 2x2/2 VALID as in slim; SAME only for a 1-pixel map, where VALID has no window at all.
    return slim.max_pool2d(net, [2, 2], 2, padding=valid_or_same(net, 2), scope=scope)


def overfeat(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5, spatial_squeeze=True,
             scope="overfeat", global_pool=False):
    """OverFeat -> (logits, end_points).

    logits: [B, num_classes] ([B, h, w, num_classes] if not spatial_squeeze; h = w = 1 at
    231x231, larger on larger inputs). With num_classes 0 or None, fc7's output (after the
    global pool if any, before dropout7) is returned instead. global_pool averages fc7 to 1x1
    ('global_pool'); None does so only when fc7 is not 1x1. end_points: '<scope>/conv1' ...
    '<scope>/fc7' and '<scope>/fc8' (the logits), as slim's.
    """
    with tf.variable_scope(scope, "overfeat", [inputs]) as sc:
        collection = sc.original_name_scope + "_end_points"
        with slim.arg_scope([slim.conv2d, fc_conv2d, slim.fully_connected, slim.max_pool2d],
                            outputs_collections=collection):
            net = slim.conv2d(inputs, 64, [11, 11], 4, padding="VALID", scope="conv1")
            net = _pool(net, "pool1")
            net = slim.conv2d(net, 256, [5, 5], padding=valid_or_same(net, 5), scope="conv2")
            net = _pool(net, "pool2")
            net = slim.conv2d(net, 512, [3, 3], scope="conv3")
            net = slim.conv2d(net, 1024, [3, 3], scope="conv4")
            net = slim.conv2d(net, 1024, [3, 3], scope="conv5")
            net = _pool(net, "pool5")
            with slim.arg_scope([slim.conv2d],
                                weights_initializer=trunc_normal(0.005),
                                biases_initializer=tf.constant_initializer(0.1)):
                padding, adapted = fc_padding(net, _FC6_KERNEL, "VALID")
                net = fc_conv2d(net, 3072, [_FC6_KERNEL, _FC6_KERNEL], padding=padding, scope="fc6")
                net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout6")
                net = slim.conv2d(net, 4096, [1, 1], scope="fc7")
                end_points = slim.utils.convert_collection_to_dict(collection)
                if needs_global_pool(net, global_pool) or (adapted and spatial_size(net) != (1, 1)):
                    net = tf.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                    end_points["global_pool"] = net
                if num_classes:
                    net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout7")
                    # fc8 alone starts from zero biases, as in slim.
                    net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                                      biases_initializer=tf.zeros_initializer(), scope="fc8")
                    if spatial_squeeze:
                        net = tf.squeeze(net, [1, 2], name="fc8/squeezed")
                    end_points[sc.name + "/fc8"] = net
    return net, end_points


overfeat.default_image_size = 231


# ---- registry entry (tlslim's addition; the functions above are slim's API) ----
# fc7 is averaged to 1x1 only where it is larger (at 231x231 it is 1x1: slim's graph).

register(NetInfo(
    name="overfeat",
    builder=any_size_classifier(overfeat),
    arg_scope=overfeat_arg_scope,
    scope="overfeat",
    head_scope="overfeat/fc8",
    blocks=tuple(f"overfeat/conv{i}" for i in range(1, 6)) + tuple(f"overfeat/fc{i}" for i in (6, 7, 8)),
    default_image_size=231,
    min_image_size=11,  # conv1 is an 11x11 VALID convolution; every later layer adapts
    num_classes=1000,
    preprocessing="vgg",
    manifest="overfeat.json",
    prelogits_op="fc8/Conv2D",
))
