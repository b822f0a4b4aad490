"""CifarNet, the CIFAR-10 model of research/slim's `nets/cifarnet.py`, under its variable scopes.

Two 5x5 convolutions (with LRN and 2x2 max pools), then fully connected layers fc3 (384),
fc4 (192) and logits. At the default 32x32 the graph is exactly slim's. At any other size the
pool2 map is average-pooled adaptively to slim's 8x8 (as torchvision's AdaptiveAvgPool2d does)
before the flatten, so fc3 keeps its [4096, 384] weights. LeNet shares that tail
(`tlslim.nets.common.pool_and_flatten`).
"""
from tlslim.compat import slim, tf
from tlslim.nets.common import pool_and_flatten
from tlslim.nets.registry import NetInfo, register


def _lrn(net, name):
    return tf.nn.lrn(net, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, name=name)


def cifarnet_arg_scope(weight_decay=0.004):
    """slim's CifarNet arg scope (ReLU; conv init N(0, 0.05); fc init N(0, 0.04), bias 0.1, L2)."""
    with slim.arg_scope([slim.conv2d],
                        weights_initializer=tf.truncated_normal_initializer(stddev=5e-2),
                        activation_fn=tf.nn.relu):
        with slim.arg_scope([slim.fully_connected],
                            biases_initializer=tf.constant_initializer(0.1),
                            weights_initializer=tf.truncated_normal_initializer(stddev=0.04),
                            weights_regularizer=slim.l2_regularizer(weight_decay),
                            activation_fn=tf.nn.relu) as sc:
            return sc


def cifarnet(images, num_classes=10, is_training=False, dropout_keep_prob=0.5, prediction_fn=slim.softmax,
             scope="CifarNet"):
    """CifarNet -> (logits [B, num_classes], end_points), as slim's; with num_classes 0 or None,
    fc4's output [B, 192] instead."""
    end_points = {}
    with tf.variable_scope(scope, "CifarNet", [images]):
        net = end_points["conv1"] = slim.conv2d(images, 64, [5, 5], scope="conv1")
        net = end_points["pool1"] = slim.max_pool2d(net, [2, 2], 2, scope="pool1")
        net = _lrn(net, "norm1")
        net = end_points["conv2"] = slim.conv2d(net, 64, [5, 5], scope="conv2")
        net = _lrn(net, "norm2")
        net = end_points["pool2"] = slim.max_pool2d(net, [2, 2], 2, scope="pool2")
        net = pool_and_flatten(net, (8, 8), end_points)
        net = end_points["fc3"] = slim.fully_connected(net, 384, scope="fc3")
        net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout3")
        net = end_points["fc4"] = slim.fully_connected(net, 192, scope="fc4")
        if not num_classes:
            return net, end_points
        logits = end_points["Logits"] = slim.fully_connected(
            net, num_classes, biases_initializer=tf.zeros_initializer(),
            weights_initializer=tf.truncated_normal_initializer(stddev=1 / 192.0),
            weights_regularizer=None, activation_fn=None, scope="logits")
        end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


cifarnet.default_image_size = 32

register(NetInfo(
    name="cifarnet",
    builder=cifarnet,
    arg_scope=cifarnet_arg_scope,
    scope="CifarNet",
    head_scope="CifarNet/logits",
    blocks=("CifarNet/conv1", "CifarNet/conv2", "CifarNet/fc3", "CifarNet/fc4", "CifarNet/logits"),
    default_image_size=32,
    min_image_size=4,  # two 2x2 VALID pools need a 4x4 input; the adaptive pool does the rest
    num_classes=10,
    preprocessing="cifarnet",
    manifest="cifarnet.json",
    prelogits_end_points=("fc4",),
))
