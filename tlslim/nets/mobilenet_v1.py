"""MobileNet v1 (Howard et al. 2017, arXiv:1704.04861) with research/slim's API and the variable
scopes of its released checkpoints.

    with slim.arg_scope(mobilenet_v1.mobilenet_v1_arg_scope(is_training=False)):
        logits, end_points = mobilenet_v1.mobilenet_v1(images, 1001, is_training=False)

The body is a 3x3/2 conv (`Conv2d_0`) and 13 depthwise-separable layers: a 3x3 depthwise conv
(`Conv2d_<i>_depthwise`, variable `depthwise_weights`) and a 1x1 conv (`Conv2d_<i>_pointwise`),
each followed by batch norm (tlslim.layers.batch_norm, where slim used slim.batch_norm) and
ReLU6; 'SAME' padding throughout. Every layer's depth is max(int(depth * depth_multiplier),
min_depth). The head averages the final map with a VALID pool whose kernel is 7x7 reduced to the
map's size (so a 32x32 input, whose final map is 1x1, builds with the release shapes as in
slim), or globally with `global_pool=True`, then dropout and the 1x1 conv
`Logits/Conv2d_1c_1x1`. The releases classify 1001 classes (class 0 = background) and were
trained with Inception preprocessing.

The registry entries (mobilenet_v1, _075, _050, _025) are at the end of this module.
"""
import collections
import functools

from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.common import global_pool_above, reduced_kernel_size_for_small_input
from tlslim.nets.registry import NetInfo, register

__all__ = ["Conv", "DepthSepConv", "mobilenet_v1_base", "mobilenet_v1", "mobilenet_v1_075", "mobilenet_v1_050",
           "mobilenet_v1_025", "mobilenet_v1_arg_scope", "wrapped_partial"]

# A full convolution / a depthwise-separable layer: `kernel` [h, w], `stride`, output `depth`
# (before the depth multiplier).
Conv = collections.namedtuple("Conv", ["kernel", "stride", "depth"])
DepthSepConv = collections.namedtuple("DepthSepConv", ["kernel", "stride", "depth"])

# The body of the paper's Table 1: one stem conv, then depthwise-separable layers.
_CONV_DEFS = [Conv(kernel=[3, 3], stride=2, depth=32)] + [
    DepthSepConv(kernel=[3, 3], stride=stride, depth=depth)
    for stride, depth in ((1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
                          (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024))]
MOBILENETV1_CONV_DEFS = _CONV_DEFS


def _fixed_padding(inputs, kernel_size, rate=1):
    """Zero-pad H and W so that a VALID conv of `kernel_size` (dilated by `rate`) gives the
    output size of a SAME conv on the unpadded input, with the extra pixel at the end."""
    effective = [k + (k - 1) * (rate - 1) for k in kernel_size[:2]]
    pads = [[0, 0]] + [[(e - 1) // 2, (e - 1) - (e - 1) // 2] for e in effective] + [[0, 0]]
    return tf.pad(inputs, pads)


def mobilenet_v1_base(inputs, final_endpoint="Conv2d_13_pointwise", min_depth=8, depth_multiplier=1.0,
                      conv_defs=None, output_stride=None, use_explicit_padding=False, scope=None):
    """The body from `inputs` to `final_endpoint` -> (net, end_points).

    final_endpoint: 'Conv2d_0', 'Conv2d_<i>_depthwise' or 'Conv2d_<i>_pointwise'. output_stride
    (8, 16 or 32) turns the strides that would exceed it into atrous rates; use_explicit_padding
    pads explicitly and convolves VALID. ValueError for an unknown endpoint, a depth_multiplier
    <= 0 or another output_stride, as in slim.
    """
    if depth_multiplier <= 0:
        raise ValueError("depth_multiplier is not greater than zero.")
    if output_stride is not None and output_stride not in (8, 16, 32):
        raise ValueError("Only allowed output_stride values are 8, 16, 32.")

    def depth(d):
        return max(int(d * depth_multiplier), min_depth)

    conv_defs = _CONV_DEFS if conv_defs is None else conv_defs
    padding = "VALID" if use_explicit_padding else "SAME"
    end_points = {}
    with tf.variable_scope(scope, "MobilenetV1", [inputs]):
        with slim.arg_scope([slim.conv2d, slim.separable_conv2d], padding=padding):
            # stride_so_far: the input/output size ratio reached; once it equals output_stride,
            # later strides become dilation (rate) instead.
            stride_so_far, rate = 1, 1
            net = inputs
            for i, conv_def in enumerate(conv_defs):
                if output_stride is not None and stride_so_far == output_stride:
                    layer_stride, layer_rate = 1, rate
                    rate *= conv_def.stride
                else:
                    layer_stride, layer_rate = conv_def.stride, 1
                    stride_so_far *= conv_def.stride
                if isinstance(conv_def, Conv):
                    layers = [("Conv2d_%d" % i, "conv")]
                elif isinstance(conv_def, DepthSepConv):
                    layers = [("Conv2d_%d_depthwise" % i, "depthwise"), ("Conv2d_%d_pointwise" % i, "pointwise")]
                else:
                    raise ValueError("Unknown convolution type %s for layer %d" % (type(conv_def).__name__, i))
                for end_point, kind in layers:
                    if kind == "conv":
                        if use_explicit_padding:
                            net = _fixed_padding(net, conv_def.kernel)
                        net = slim.conv2d(net, depth(conv_def.depth), conv_def.kernel, stride=conv_def.stride,
                                          normalizer_fn=batch_norm, scope=end_point)
                    elif kind == "depthwise":
                        if use_explicit_padding:
                            net = _fixed_padding(net, conv_def.kernel, layer_rate)
                        # num_outputs=None: only the depthwise conv, one filter per input channel.
                        net = slim.separable_conv2d(net, None, conv_def.kernel, depth_multiplier=1,
                                                    stride=layer_stride, rate=layer_rate,
                                                    normalizer_fn=batch_norm, scope=end_point)
                    else:
                        net = slim.conv2d(net, depth(conv_def.depth), [1, 1], stride=1,
                                          normalizer_fn=batch_norm, scope=end_point)
                    end_points[end_point] = net
                    if end_point == final_endpoint:
                        return net, end_points
    raise ValueError("Unknown final endpoint %s" % final_endpoint)


def mobilenet_v1(inputs, num_classes=1000, dropout_keep_prob=0.999, is_training=True, min_depth=8,
                 depth_multiplier=1.0, conv_defs=None, prediction_fn=slim.softmax, spatial_squeeze=True,
                 reuse=None, scope="MobilenetV1", global_pool=False):
    """The body, an average pool ('AvgPool_1a', or 'global_pool' if global_pool), 'Dropout_1b'
    and the 1x1 conv 'Logits/Conv2d_1c_1x1' -> (logits, end_points).

    logits: [B, num_classes] ([B,1,1,num_classes] if not spatial_squeeze). With num_classes 0 or
    None the pooled features (before dropout) are returned instead. end_points: each body layer,
    the pool, 'Logits' and 'Predictions' (when prediction_fn is given).
    """
    input_shape = inputs.get_shape().as_list()
    if len(input_shape) != 4:
        raise ValueError("Invalid input tensor rank, expected 4, was: %d" % len(input_shape))
    with tf.variable_scope(scope, "MobilenetV1", [inputs], reuse=reuse) as sc:
        with slim.arg_scope([batch_norm, slim.dropout], is_training=is_training):
            net, end_points = mobilenet_v1_base(inputs, scope=sc, min_depth=min_depth,
                                                depth_multiplier=depth_multiplier, conv_defs=conv_defs)
            with tf.variable_scope("Logits"):
                if global_pool:
                    net = tf.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                    end_points["global_pool"] = net
                else:
                    kernel_size = reduced_kernel_size_for_small_input(net, [7, 7])
                    net = slim.avg_pool2d(net, kernel_size, padding="VALID", scope="AvgPool_1a")
                    end_points["AvgPool_1a"] = net
                if not num_classes:
                    return net, end_points
                net = slim.dropout(net, keep_prob=dropout_keep_prob, scope="Dropout_1b")
                logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                                     scope="Conv2d_1c_1x1")
                if spatial_squeeze:
                    logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
            end_points["Logits"] = logits
            if prediction_fn:
                end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


mobilenet_v1.default_image_size = 224


def wrapped_partial(func, *args, **kwargs):
    """functools.partial that keeps `func`'s name, docstring and attributes."""
    partial_func = functools.partial(func, *args, **kwargs)
    functools.update_wrapper(partial_func, func)
    return partial_func


mobilenet_v1_075 = wrapped_partial(mobilenet_v1, depth_multiplier=0.75)
mobilenet_v1_050 = wrapped_partial(mobilenet_v1, depth_multiplier=0.50)
mobilenet_v1_025 = wrapped_partial(mobilenet_v1, depth_multiplier=0.25)


def mobilenet_v1_arg_scope(is_training=True, weight_decay=0.00004, stddev=0.09, regularize_depthwise=False,
                           batch_norm_decay=0.9997, batch_norm_epsilon=0.001):
    """slim's MobileNet v1 arg scope with tlslim's batch_norm: conv/separable conv -> BN (center
    and scale) -> ReLU6, truncated-normal initialization, L2 weight decay on the regular convs
    (and the depthwise ones if regularize_depthwise; 0 disables it). is_training=None leaves
    batch norm's is_training to the caller."""
    bn_params = {"center": True, "scale": True, "decay": batch_norm_decay, "epsilon": batch_norm_epsilon}
    if is_training is not None:
        bn_params["is_training"] = is_training
    regularizer = slim.l2_regularizer(float(weight_decay))
    depthwise_regularizer = regularizer if regularize_depthwise else None
    with slim.arg_scope([slim.conv2d, slim.separable_conv2d],
                        weights_initializer=tf.truncated_normal_initializer(stddev=stddev),
                        activation_fn=tf.nn.relu6, normalizer_fn=batch_norm):
        with slim.arg_scope([batch_norm], **bn_params):
            with slim.arg_scope([slim.conv2d], weights_regularizer=regularizer):
                with slim.arg_scope([slim.separable_conv2d], weights_regularizer=depthwise_regularizer) as sc:
                    return sc


# ---- registry entries (tlslim's additions; the functions above are slim's API) ----

# Layer scopes from input to head: the strategies unfreeze and rate them one layer at a time.
_LAYER_SCOPES = ("Conv2d_0",) + tuple(f"Conv2d_{i}_{part}" for i in range(1, 14)
                                      for part in ("depthwise", "pointwise"))

# The release tarballs (research/slim README and nets/mobilenet_v1.md, 2018_02_22) at 224x224,
# the registry's default size: net name -> (depth multiplier, release name).
_RELEASES = {"mobilenet_v1": (1.0, "mobilenet_v1_1.0_224"), "mobilenet_v1_075": (0.75, "mobilenet_v1_0.75_224"),
             "mobilenet_v1_050": (0.5, "mobilenet_v1_0.5_224"), "mobilenet_v1_025": (0.25, "mobilenet_v1_0.25_224")}
RELEASE_DIR = "mobilenet_v1_2018_02_22"


for _name, (_multiplier, _release) in _RELEASES.items():
    register(NetInfo(
        name=_name,
        builder=global_pool_above(globals()[_name], 224),
        arg_scope=mobilenet_v1_arg_scope,
        scope="MobilenetV1",
        head_scope="MobilenetV1/Logits",
        blocks=tuple(f"MobilenetV1/{s}" for s in _LAYER_SCOPES) + ("MobilenetV1/Logits",),
        default_image_size=224,
        min_image_size=32,
        num_classes=1001,
        preprocessing="inception",
        checkpoint_tarball=f"{_release}.tgz",
        checkpoint_file=f"{_release}.ckpt",
        release_path=f"{RELEASE_DIR}/{_release}.tgz",
        manifest=f"{_name}.json",
        prelogits_op="Logits/Conv2d_1c_1x1/Conv2D",
    ))
