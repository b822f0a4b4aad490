"""LeNet, the MNIST model of research/slim's `nets/lenet.py`, under its variable scopes.

Two 5x5 convolutions with 2x2 max pools, then fully connected fc3 (1024) and fc4 (the logits).
At the default 28x28 the graph is exactly slim's; at any other size the pool2 map is
average-pooled adaptively to slim's 7x7 before the flatten, so fc3 keeps its [3136, 1024]
weights. As in slim, conv1 takes as many input channels as the images have: the manifest
records slim's MNIST net (1 channel); RGB images give conv1 weights [5, 5, 3, 32].
"""
from tlslim.compat import slim, tf
from tlslim.nets.common import pool_and_flatten
from tlslim.nets.registry import NetInfo, register


def lenet_arg_scope(weight_decay=0.0):
    """slim's LeNet arg scope: ReLU, weights N(0, 0.1) truncated, L2 weight decay."""
    with slim.arg_scope([slim.conv2d, slim.fully_connected],
                        weights_regularizer=slim.l2_regularizer(weight_decay),
                        weights_initializer=tf.truncated_normal_initializer(stddev=0.1),
                        activation_fn=tf.nn.relu) as sc:
        return sc


def lenet(images, num_classes=10, is_training=False, dropout_keep_prob=0.5, prediction_fn=slim.softmax,
          scope="LeNet"):
    """LeNet -> (logits [B, num_classes], end_points), as slim's; with num_classes 0 or None, fc3's
    output after dropout3 instead."""
    end_points = {}
    with tf.variable_scope(scope, "LeNet", [images]):
        net = end_points["conv1"] = slim.conv2d(images, 32, [5, 5], scope="conv1")
        net = end_points["pool1"] = slim.max_pool2d(net, [2, 2], 2, scope="pool1")
        net = end_points["conv2"] = slim.conv2d(net, 64, [5, 5], scope="conv2")
        net = end_points["pool2"] = slim.max_pool2d(net, [2, 2], 2, scope="pool2")
        net = pool_and_flatten(net, (7, 7), end_points)
        net = end_points["fc3"] = slim.fully_connected(net, 1024, scope="fc3")
        net = end_points["dropout3"] = slim.dropout(
            net, dropout_keep_prob, is_training=is_training, scope="dropout3")
        if not num_classes:
            return net, end_points
        logits = end_points["Logits"] = slim.fully_connected(
            net, num_classes, activation_fn=None, scope="fc4")
        end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


lenet.default_image_size = 28

register(NetInfo(
    name="lenet",
    builder=lenet,
    arg_scope=lenet_arg_scope,
    scope="LeNet",
    head_scope="LeNet/fc4",
    blocks=("LeNet/conv1", "LeNet/conv2", "LeNet/fc3", "LeNet/fc4"),
    default_image_size=28,
    min_image_size=4,  # two 2x2 VALID pools need a 4x4 input; the adaptive pool does the rest
    num_classes=10,
    preprocessing="cifarnet",
    manifest="lenet.json",
    prelogits_end_points=("dropout3",),
))
