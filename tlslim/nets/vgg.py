"""VGG-11 (vgg_a), VGG-16 and VGG-19 with slim's API, under the variable scopes of the releases.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition"
(arXiv:1409.1556).

    with slim.arg_scope(vgg.vgg_arg_scope()):
        logits, end_points = vgg.vgg_16(images, num_classes=10, is_training=True)

The signatures, defaults and end_points are slim's: as there, the fully connected layers are
convolutions (fc6 a 7x7 convolution over the pool5 map, fc7 and fc8 1x1), `spatial_squeeze=False`
gives the dense [B, h, w, classes] map of a larger image, `fc_conv_padding='SAME'` a map
downsampled by 32, `global_pool=True` averages fc7 to 1x1, and num_classes 0 or None returns
fc7's output.

What slim cannot build at all builds here with the same variables: images smaller than 224
down to 32x32 (a 1x1 pool5 map). There fc6's VALID padding becomes SAME and fc7 is averaged to
1x1 (`tlslim.nets.common.conv_fc_head`, shared with AlexNet). A SAME fc6 over a map smaller
than its kernel multiplies zeros with most of the kernel (at 32x32 only the centre tap meets the
map): `tlslim.nets.common.fc_conv2d` keeps the full checkpoint variable but convolves with just
the taps that can meet the map, which gives the same outputs and gradients for a fraction of
the work.
"""
from tlslim.compat import slim, tf
from tlslim.nets.common import any_size_classifier, conv_fc_head, fc_conv2d
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


def _vgg(inputs, name, num_classes, is_training, dropout_keep_prob, spatial_squeeze, scope, fc_conv_padding,
         global_pool):
    with tf.variable_scope(scope, name, [inputs]) as sc:
        collection = sc.original_name_scope + "_end_points"
        with slim.arg_scope([slim.conv2d, fc_conv2d, slim.fully_connected, slim.max_pool2d],
                            outputs_collections=collection):
            net = inputs
            for i, (repeats, width) in enumerate(zip(_LAYERS[name], _WIDTHS), start=1):
                net = slim.repeat(net, repeats, slim.conv2d, width, [3, 3], scope=f"conv{i}")
                net = slim.max_pool2d(net, [2, 2], scope=f"pool{i}")
            return conv_fc_head(net, num_classes, _FC6_KERNEL, is_training, dropout_keep_prob, spatial_squeeze,
                                fc_conv_padding, global_pool, collection, sc.name)


def vgg_a(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5, spatial_squeeze=True,
          scope="vgg_a", fc_conv_padding="VALID", global_pool=False):
    """VGG-11 (configuration A) -> (logits, end_points), as slim's `vgg_a`.

    logits: [B, num_classes], or [B, h, w, num_classes] without spatial_squeeze (h = w = 1 at
    224x224); with num_classes 0 or None, fc7's output instead. end_points: every conv and pool,
    'fc6', 'fc7', 'global_pool' when pooled and '<scope>/fc8'.
    """
    return _vgg(inputs, "vgg_a", num_classes, is_training, dropout_keep_prob, spatial_squeeze, scope,
                fc_conv_padding, global_pool)


def vgg_16(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5, spatial_squeeze=True,
           scope="vgg_16", fc_conv_padding="VALID", global_pool=False):
    """VGG-16 (configuration D) -> (logits, end_points), as slim's `vgg_16`.

    logits: [B, num_classes], or [B, h, w, num_classes] without spatial_squeeze (h = w = 1 at
    224x224); with num_classes 0 or None, fc7's output instead. end_points: every conv and pool,
    'fc6', 'fc7', 'global_pool' when pooled and '<scope>/fc8'.
    """
    return _vgg(inputs, "vgg_16", num_classes, is_training, dropout_keep_prob, spatial_squeeze, scope,
                fc_conv_padding, global_pool)


def vgg_19(inputs, num_classes=1000, is_training=True, dropout_keep_prob=0.5, spatial_squeeze=True,
           scope="vgg_19", fc_conv_padding="VALID", global_pool=False):
    """VGG-19 (configuration E) -> (logits, end_points), as slim's `vgg_19`.

    logits: [B, num_classes], or [B, h, w, num_classes] without spatial_squeeze (h = w = 1 at
    224x224); with num_classes 0 or None, fc7's output instead. end_points: every conv and pool,
    'fc6', 'fc7', 'global_pool' when pooled and '<scope>/fc8'.
    """
    return _vgg(inputs, "vgg_19", num_classes, is_training, dropout_keep_prob, spatial_squeeze, scope,
                fc_conv_padding, global_pool)


vgg_a.default_image_size = vgg_16.default_image_size = vgg_19.default_image_size = 224
vgg_d, vgg_e = vgg_16, vgg_19  # slim's aliases

_RELEASES = {  # net -> (tarball, checkpoint file inside it)
    "vgg_16": ("vgg_16_2016_08_28.tar.gz", "vgg_16.ckpt"),
    "vgg_19": ("vgg_19_2016_08_28.tar.gz", "vgg_19.ckpt"),
}

for _builder in (vgg_a, vgg_16, vgg_19):
    _name = _builder.__name__
    _tarball, _ckpt = _RELEASES.get(_name, (None, None))
    register(NetInfo(
        name=_name,
        builder=any_size_classifier(_builder),
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
        prelogits_op="fc8/Conv2D",
    ))
del _builder, _name, _tarball, _ckpt
