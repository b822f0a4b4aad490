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
only the centre tap of the 7x7 kernel meets the 1x1 map. `fc_conv2d` keeps the full checkpoint
variable but convolves with just the taps that can meet the map, which gives the same outputs
and gradients for a fraction of the work.
"""
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError
from tlslim.nets.registry import PENULTIMATE, NetInfo, register

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


def spatial_size(tensor):
    """(height, width) of an NHWC tensor as ints, or None when either is unknown."""
    h, w = tensor.shape[1], tensor.shape[2]
    if h is None or w is None:
        return None
    return int(h), int(w)


def fc_padding(net, kernel, padding):
    """The padding of a VALID-in-slim 'fully connected' convolution of `kernel` over `net`.

    None picks VALID when the map is at least kernel x kernel (slim's graph) or unknown, SAME
    when it is smaller. Forcing VALID on a too-small map is a TlslimError.
    """
    size = spatial_size(net)
    if padding is None:
        return "SAME" if size is not None and min(size) < kernel else "VALID"
    padding = str(padding).upper()
    if padding not in ("SAME", "VALID"):
        raise TlslimError(f"fc_conv_padding must be 'SAME' or 'VALID', got {padding!r}.")
    if padding == "VALID" and size is not None and min(size) < kernel:
        raise TlslimError(
            f"fc_conv_padding='VALID' needs a {kernel}x{kernel} map before the first fully "
            f"connected layer, got {size[0]}x{size[1]}; use fc_conv_padding='SAME' or larger images.")
    return padding


def _live_taps(size, kernel):
    """The slice of a `kernel` axis that a stride-1 SAME convolution over `size` positions uses."""
    centre = (kernel - 1) // 2
    if kernel % 2 == 0 or 2 * size - 1 >= kernel:
        return slice(0, kernel)
    return slice(centre - (size - 1), centre + size)


@slim.add_arg_scope
def fc_conv2d(inputs, num_outputs, kernel_size, padding, scope, **kwargs):
    """slim.conv2d (stride 1, under slim.conv2d's arg scope) with the same variables, which skips
    the kernel taps that only ever meet SAME padding.

    With VALID padding, an unknown map size, or a map at least as large as the kernel this is
    exactly `slim.conv2d`. Otherwise the `weights` variable keeps its full [k, k, in, out] shape
    (so checkpoints load) and the convolution uses only its live centre taps: outputs and
    gradients equal the full SAME convolution's (the other taps' gradients are zero there too).
    """
    size = spatial_size(inputs)
    rows, cols = (slice(0, kernel_size[0]), slice(0, kernel_size[1])) if size is None else (
        _live_taps(size[0], kernel_size[0]), _live_taps(size[1], kernel_size[1]))
    if padding != "SAME" or (rows, cols) == (slice(0, kernel_size[0]), slice(0, kernel_size[1])):
        return slim.conv2d(inputs, num_outputs, kernel_size, padding=padding, scope=scope, **kwargs)
    args = {"activation_fn": tf.nn.relu, "weights_initializer": slim.xavier_initializer(),
            "weights_regularizer": None, "biases_initializer": tf.zeros_initializer(), "biases_regularizer": None,
            "trainable": True, "variables_collections": None, "outputs_collections": None, "reuse": None,
            "normalizer_fn": None}
    args.update(slim.current_arg_scope().get(slim.arg_scope_func_key(slim.conv2d), {}))
    args.update(kwargs)
    if args["normalizer_fn"] is not None or args.get("stride", 1) != 1 or args.get("rate", 1) != 1:
        raise TlslimError("fc_conv2d supports stride 1, rate 1 and no normalizer_fn.")
    collections = args["variables_collections"]
    with tf.variable_scope(scope, "Conv", [inputs], reuse=args["reuse"]) as sc:
        dtype = inputs.dtype.base_dtype
        weights = slim.model_variable(
            "weights", shape=list(kernel_size) + [int(inputs.shape[-1]), num_outputs], dtype=dtype,
            initializer=args["weights_initializer"], regularizer=args["weights_regularizer"],
            collections=slim.utils.get_variable_collections(collections, "weights"), trainable=args["trainable"])
        outputs = tf.nn.conv2d(inputs, weights[rows, cols], [1, 1, 1, 1], "SAME", name="Conv2D")
        if args["biases_initializer"] is not None:
            biases = slim.model_variable(
                "biases", shape=[num_outputs], dtype=dtype, initializer=args["biases_initializer"],
                regularizer=args["biases_regularizer"],
                collections=slim.utils.get_variable_collections(collections, "biases"), trainable=args["trainable"])
            outputs = tf.nn.bias_add(outputs, biases, name="BiasAdd")
        if args["activation_fn"] is not None:
            outputs = args["activation_fn"](outputs)
        return slim.utils.collect_named_outputs(args["outputs_collections"], sc.name, outputs)


def needs_global_pool(net, global_pool):
    """True when `net` must be averaged to 1x1: forced, or (if None) not statically 1x1."""
    if global_pool is not None:
        return bool(global_pool)
    return spatial_size(net) != (1, 1)


def _vgg(inputs, layers, num_classes, is_training, dropout_keep_prob, scope, fc_conv_padding,
         global_pool):
    with tf.variable_scope(scope, values=[inputs]) as sc:
        collection = sc.original_name_scope + "_end_points"
        with slim.arg_scope([slim.conv2d, fc_conv2d, slim.max_pool2d], outputs_collections=collection):
            net = inputs
            for i, (repeats, width) in enumerate(zip(layers, _WIDTHS), start=1):
                net = slim.repeat(net, repeats, slim.conv2d, width, [3, 3], scope=f"conv{i}")
                net = slim.max_pool2d(net, [2, 2], scope=f"pool{i}")
            padding = fc_padding(net, _FC6_KERNEL, fc_conv_padding)
            net = fc_conv2d(net, 4096, [_FC6_KERNEL, _FC6_KERNEL], padding=padding, scope="fc6")
            net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout6")
            net = slim.conv2d(net, 4096, [1, 1], scope="fc7")
            end_points = slim.utils.convert_collection_to_dict(collection)
            if needs_global_pool(net, global_pool):
                net = tf.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                end_points["global_pool"] = net
            net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout7")
            end_points[PENULTIMATE] = net
            net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                              scope="fc8")
            logits = tf.squeeze(net, [1, 2], name="fc8/squeezed")
            end_points[sc.name + "/fc8"] = logits
    return logits, end_points


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
