"""VGG-11 (vgg_a), VGG-16 and VGG-19 under the variable scopes of the TF-Slim releases.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition"
(arXiv:1409.1556). As in slim, the fully connected layers are convolutions: fc6 is a 7x7
convolution over the pool5 map, fc7 and fc8 are 1x1 convolutions.

At 224x224 the graph is exactly slim's (fc6 VALID, a 1x1 map after fc7). Smaller images
(down to 32x32, where pool5 is 1x1) build with the same variables: when the pool5 map is
smaller than 7x7, fc6 uses SAME padding, and whenever the map after fc7 is not 1x1 it is
average-pooled to 1x1 (slim's later `fc_conv_padding` / `global_pool` options, chosen here from
the static shape). Both can be forced with the `fc_conv_padding` and `global_pool` arguments.

A SAME fc6 over a map smaller than its kernel multiplies zeros with most of the kernel: at 32x32
only the centre tap of the 7x7 kernel meets the 1x1 map. `tlslim.nets.common.fc_conv2d` keeps
the full checkpoint variable but convolves with just the taps that can meet the map, which gives
the same outputs and gradients for a fraction of the work. The fc head is AlexNet's too
(`tlslim.nets.common.conv_fc_head`).
"""
from tlslim.compat import slim, tf
from tlslim.nets.common import conv_fc_head, fc_conv2d
from tlslim.nets.registry import NetInfo, register

# Convolutions per block; every block ends with a 2x2 max pool.
_LAYERS = {"vgg_a": (1, 1, 2, 2, 2), "vgg_16": (2, 2, 3, 3, 3), "vgg_19": (2, 2, 4, 4, 4)}
_WIDTHS = (64, 128, 256, 512, 512)
_FC6_KERNEL = 7


def vgg_arg_scope(weight_decay=0.0005):
    """slim's VGG arg scope: ReLU, L2 weight decay, zero biases, SAME convolutions."""
    with slim.arg_scope([slim.conv2d, slim.fully_connected],
                        activation_fn=tf.nn.relu,
                        weights_regularizer=slim.l2_regularizer(weight_decay),
                        biases_initializer=tf.zeros_initializer()):
        with slim.arg_scope([slim.conv2d], padding="SAME") as sc:
            return sc


def _vgg(inputs, layers, num_classes, is_training, dropout_keep_prob, scope, fc_conv_padding,
         global_pool):
    with tf.variable_scope(scope, values=[inputs]) as sc:
        collection = sc.original_name_scope + "_end_points"
        with slim.arg_scope([slim.conv2d, fc_conv2d, slim.max_pool2d], outputs_collections=collection):
            net = inputs
            for i, (repeats, width) in enumerate(zip(layers, _WIDTHS), start=1):
                net = slim.repeat(net, repeats, slim.conv2d, width, [3, 3], scope=f"conv{i}")
                net = slim.max_pool2d(net, [2, 2], scope=f"pool{i}")
            return conv_fc_head(net, num_classes, _FC6_KERNEL, is_training, dropout_keep_prob, fc_conv_padding,
                                global_pool, collection, sc.name)


def vgg_a(inputs, num_classes=1000, is_training=False, dropout_keep_prob=0.5, scope="vgg_a",
          fc_conv_padding=None, global_pool=None):
    """VGG-11 (configuration A). Returns (logits [B, num_classes], end_points)."""
    return _vgg(inputs, _LAYERS["vgg_a"], num_classes, is_training, dropout_keep_prob, scope,
                fc_conv_padding, global_pool)


def vgg_16(inputs, num_classes=1000, is_training=False, dropout_keep_prob=0.5, scope="vgg_16",
           fc_conv_padding=None, global_pool=None):
    """VGG-16 (configuration D). Returns (logits [B, num_classes], end_points)."""
    return _vgg(inputs, _LAYERS["vgg_16"], num_classes, is_training, dropout_keep_prob, scope,
                fc_conv_padding, global_pool)


def vgg_19(inputs, num_classes=1000, is_training=False, dropout_keep_prob=0.5, scope="vgg_19",
           fc_conv_padding=None, global_pool=None):
    """VGG-19 (configuration E). Returns (logits [B, num_classes], end_points)."""
    return _vgg(inputs, _LAYERS["vgg_19"], num_classes, is_training, dropout_keep_prob, scope,
                fc_conv_padding, global_pool)


vgg_a.default_image_size = vgg_16.default_image_size = vgg_19.default_image_size = 224

_RELEASES = {  # net -> (tarball, checkpoint file inside it)
    "vgg_16": ("vgg_16_2016_08_28.tar.gz", "vgg_16.ckpt"),
    "vgg_19": ("vgg_19_2016_08_28.tar.gz", "vgg_19.ckpt"),
}

for _builder in (vgg_a, vgg_16, vgg_19):
    _name = _builder.__name__
    _tarball, _ckpt = _RELEASES.get(_name, (None, None))
    register(NetInfo(
        name=_name,
        builder=_builder,
        arg_scope=vgg_arg_scope,
        scope=_name,
        head_scope=f"{_name}/fc8",
        blocks=tuple(f"{_name}/conv{i}" for i in range(1, 6)) + tuple(
            f"{_name}/fc{i}" for i in (6, 7, 8)),
        default_image_size=224,
        min_image_size=32,  # five 2x2 pools: 32 leaves a 1x1 pool5 map
        num_classes=1000,
        preprocessing="vgg",
        checkpoint_tarball=_tarball,
        checkpoint_file=_ckpt,
        manifest=f"{_name}.json",
    ))
del _builder, _name, _tarball, _ckpt
